"""``idp setup`` and ``idp serve``."""

from __future__ import annotations

import click
from flask_migrate import upgrade

from ..services import services
from ._app import app_context


def run_setup() -> list:
    """Upgrade the schema to the newest migration and create missing signing keys."""
    upgrade()
    return services().keys.ensure()


@click.command(help="Create or upgrade the database schema and create signing keys if none exist.")
def setup():
    with app_context():
        created = run_setup()
    click.echo("Database schema is up to date.")
    for key in created:
        click.echo(f"Created {key.alg} signing key {key.kid}.")
    if not created:
        click.echo("Signing keys present.")


@click.command(help="Run the provider (development server; production runs `gunicorn wsgi:app`).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve(host, port):
    from ..app import create_app

    create_app().run(host=host, port=port, threaded=True, use_reloader=False)
