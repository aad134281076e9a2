"""Demo agency portal: a relying party of the Panjereh OpenID Connect provider.

One codebase serves several portals (e-tax, e-health, ...); each instance is
configured through ``PORTAL_*`` environment variables (see ``config.py`` and
``clients/README.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from authlib.integrations.flask_client import OAuth
from flask import Flask

from .config import ConfigError, cookie_name_for, load_config

__all__ = ["create_app", "ConfigError"]

#: Name under which the provider is registered with Authlib (``oauth.panjereh``).
PROVIDER_NAME = "panjereh"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build a portal. ``config`` overrides environment variables key by key."""
    conf = load_config(config)

    app = Flask(__name__)
    app.config.update(conf)
    app.config.update(
        SECRET_KEY=conf["PORTAL_SECRET_KEY"],
        # Cookies are not isolated by port: give every portal its own cookie
        # so portals on 127.0.0.1:8001 and :8002 (and the provider on :5000)
        # do not overwrite each other's sessions.
        SESSION_COOKIE_NAME=cookie_name_for(conf["PORTAL_CLIENT_ID"]),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=conf["PORTAL_COOKIE_SECURE"],
        JSON_AS_ASCII=False,
    )

    client_kwargs: dict[str, Any] = {
        "scope": conf["PORTAL_SCOPE"],
        # PKCE (RFC 7636) with S256 on every authorization request.
        "code_challenge_method": "S256",
        # Never wait forever on the provider.
        "default_timeout": conf["PORTAL_HTTP_TIMEOUT"],
    }
    client_secret = conf["PORTAL_CLIENT_SECRET"] or None
    if client_secret is None:
        # Public client: no secret, the client_id goes in the token request
        # body and PKCE is what binds the code to this browser session.
        client_kwargs["token_endpoint_auth_method"] = "none"

    oauth = OAuth(app)
    client = oauth.register(
        PROVIDER_NAME,
        client_id=conf["PORTAL_CLIENT_ID"],
        client_secret=client_secret,
        # Every endpoint (authorize, token, userinfo, jwks, end_session) is
        # learnt from discovery, fetched lazily on first use.
        server_metadata_url=conf["PORTAL_ISSUER"] + "/.well-known/openid-configuration",
        client_kwargs=client_kwargs,
    )

    from . import views

    views.init_app(app, client)
    return app
