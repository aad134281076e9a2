"""Building the app for a command, with settings from the environment."""

from __future__ import annotations

import contextlib

from ..app import create_app
from ..config import Settings


@contextlib.contextmanager
def app_context(**overrides):
    app = create_app(Settings.from_env(**overrides))
    with app.app_context():
        try:
            yield app
        finally:
            from ..db import db

            db.session.remove()
            db.engine.dispose()  # a command closes what it opened
