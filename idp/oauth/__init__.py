"""The OpenID Connect / OAuth 2.0 protocol layer: the only package that imports Authlib."""

from .server import AuthorizationServer, OAuth2Error, create_server

__all__ = ["AuthorizationServer", "OAuth2Error", "create_server"]
