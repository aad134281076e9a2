"""``idp setup`` and ``idp serve``."""

from __future__ import annotations

import contextlib
import time

import click
from flask_migrate import upgrade
from sqlalchemy import text

from ..db import db

from ..services import services
from ._app import app_context

LOCK_KEY = 0x70616E6A  # "panj": one advisory lock for schema migrations


def run_setup() -> list:
    """Upgrade the schema to the newest migration and create missing signing keys.

    Safe when several hosts start at once: on PostgreSQL the migration runs under an
    advisory lock (the others wait, then find nothing to do); keys are created under
    a lock file in the keys directory."""
    with migration_lock():
        upgrade()
    return services().keys.ensure()


@contextlib.contextmanager
def migration_lock(poll: float = 0.2):
    """The migration's advisory lock, held by a connection in autocommit, and waited for by asking
    again (``pg_try_advisory_lock``) rather than in a blocked statement: neither the holder nor a
    host waiting its turn keeps a transaction open, so a migration that builds an index
    concurrently (it waits for every transaction older than itself) does not wait for them."""
    if db.engine.dialect.name != "postgresql":
        yield  # SQLite serialises writers itself
        return
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        while not conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}).scalar():
            time.sleep(poll)
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})


@click.command(help="Create or upgrade the database schema and create signing keys if none exist.")
def setup():
    with app_context():
        created = run_setup()
    click.echo("Database schema is up to date.")
    for key in created:
        click.echo(f"Created {key.alg} signing key {key.kid}.")
    if not created:
        click.echo("Signing keys present.")


@click.command(help="Run the provider: Werkzeug's development server, or with --production the "
                     "Granian server with one worker per core (see idp/serving.py).")
@click.option("--host", default=None, help="Address to bind [default: 127.0.0.1; with --production "
              "from PANJEREH_BIND, else 0.0.0.0].")
@click.option("--port", default=None, type=int, help="Port [default: 5000; with --production 8000].")
@click.option("--production", is_flag=True, help="Serve with Granian, the production WSGI server.")
@click.option("--workers", default=None, type=click.IntRange(min=1),
              help="Worker processes with --production [default: WEB_CONCURRENCY or the number of cores].")
def serve(host, port, production, workers):
    if production:
        from ..serving import serve_production

        serve_production(host=host, port=port, workers=workers)
        return
    from ..app import create_app

    create_app().run(host=host or "127.0.0.1", port=port or 5000, threaded=True, use_reloader=False)
