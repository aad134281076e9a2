"""The WSGI entry point for production servers: ``gunicorn wsgi:app``."""

from idp.app import create_app

app = create_app(migrations=False)  # a server serves; `idp setup` migrates the schema first
