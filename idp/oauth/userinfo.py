"""The UserInfo endpoint: the claims the token's scopes release, with the client's ``sub``."""

from authlib.oauth2 import OAuth2Error, ResourceProtector
from authlib.oauth2.rfc6749.errors import MissingAuthorizationError
from authlib.oauth2.rfc6750 import InsufficientScopeError, InvalidTokenError
from authlib.oidc.core import UserInfoEndpoint as _UserInfoEndpoint
from flask import request as flask_request

from .tokens import AccessTokenValidator


class BearerChallenge(OAuth2Error):
    error = "invalid_token"
    status_code = 401

    def get_headers(self):
        return [*super().get_headers(), ("WWW-Authenticate", 'Bearer realm="userinfo"')]


class ScopeChallenge(OAuth2Error):
    error = "insufficient_scope"
    status_code = 403

    def get_headers(self):
        return [*super().get_headers(),
                ("WWW-Authenticate", 'Bearer realm="userinfo", error="insufficient_scope", scope="openid"')]


class BearerRequest:
    """All that bearer-token validation reads of a request: its headers. (Authlib's Flask request
    wrapper would also build the full URL and copy the headers: a sixth of a userinfo call.)"""

    __slots__ = ("headers",)

    def __init__(self, headers):
        self.headers = headers


class UserInfoEndpoint(_UserInfoEndpoint):
    def __init__(self, server):
        protector = ResourceProtector()
        protector.register_token_validator(AccessTokenValidator(server))
        super().__init__(resource_protector=protector)
        self._server = server

    def create_endpoint_request(self, request):
        return request  # the bearer token is all that is read, by the resource protector, from Flask's request

    def __call__(self, request):
        try:
            token = self.resource_protector.validate_request(["openid"], BearerRequest(flask_request.headers))
        except MissingAuthorizationError:
            raise BearerChallenge() from None  # RFC 6750 section 3.1: no error code when no credentials
        except InsufficientScopeError as error:
            raise ScopeChallenge(error.description) from None
        userinfo = getattr(token, "userinfo", None)  # None: a service's token, of no citizen
        if userinfo is None or token.get_client() is None:
            raise InvalidTokenError()
        claims = dict(userinfo, sub=token.subject)  # the token's sub: the client's pairwise subject
        return 200, claims, [("Content-Type", "application/json"), ("Cache-Control", "no-store")]

    def get_issuer(self):
        return self._server.settings.issuer
