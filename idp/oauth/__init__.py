"""The OpenID Connect / OAuth 2.0 protocol layer: the only package that imports Authlib."""

from authlib.oauth2.rfc6749.errors import InvalidRequestError

from .server import AuthorizationServer, OAuth2Error, create_server

__all__ = ["AuthorizationServer", "InvalidRequestError", "OAuth2Error", "create_server"]
