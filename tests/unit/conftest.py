"""Unit-test fixtures: a provider on a fresh copy of a migrated database, nothing else."""

import pytest


@pytest.fixture(scope="module")
def template_db(tmp_path_factory):
    from tests.support import build_template_sqlite

    return build_template_sqlite(tmp_path_factory.mktemp("template-db"))


@pytest.fixture
def bare_app(settings, template_db):
    """A provider on a fresh copy of the migrated database; no keys or registry needed here."""
    from idp.app import create_app
    from idp.db import db
    from tests.support import lay_templates

    lay_templates(settings, db_template=template_db)
    app = create_app(settings)
    if not settings.database_url.startswith("sqlite"):
        from flask_migrate import upgrade

        with app.app_context():
            upgrade()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
