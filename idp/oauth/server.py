"""The authorization server: Authlib's Flask server wired to our storage and keys."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

from authlib.common.urls import add_params_to_uri
from flask import Response, request as flask_request
from werkzeug.datastructures import EnvironHeaders
from authlib.integrations.flask_oauth2 import AuthorizationServer as _FlaskServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.requests import OAuth2Payload
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from authlib.oauth2.rfc9207 import IssuerParameter

from sqlalchemy import insert

from ..db import db, execute, insert_ignoring_duplicates, utcnow
from ..models import SessionClient, Token
from .claims import EndUser, subject_for
from ..security import keyed_hash, random_token
from .client_auth import ClientKeys, PrivateKeyJWT
from .client_cache import ClientCache
from .tokens import released_claims, remember_access_token
from .endpoints import IntrospectionEndpoint, RevocationEndpoint
from .requests import PushedRequests, RequestObjects
from .grants import (REFRESH, TOKEN_AUTH_METHODS, AuthorizationCodeGrant, ClientCredentialsGrant, OpenIDCode, OpenIDRefresh,
                     RefreshTokenGrant, S256CodeChallenge)


class StoredPayload(OAuth2Payload):
    """Authorization request parameters kept across the login interaction."""

    def __init__(self, datalist: dict[str, list[str]]):
        self._datalist = {k: list(v) for k, v in datalist.items()}
        self._data = {k: v[0] for k, v in datalist.items() if v}

    @property
    def data(self):
        return self._data

    @property
    def datalist(self):
        return self._datalist


class ParamsRequest(OAuth2Request):
    def __init__(self, uri: str, datalist: dict[str, list[str]]):
        super().__init__("GET", uri, headers={})
        self.payload = StoredPayload(datalist)

    @property
    def args(self):
        return self.payload.data

    @property
    def form(self):
        return {}


class _Headers(EnvironHeaders):
    __slots__ = ()

    def __bool__(self):  # Authlib writes ``headers or {}``: no need to count every header to know
        return True


class EndpointRequest(FlaskOAuth2Request):
    """Authlib's Flask request for our endpoints, without the work nothing reads: the URI is the
    scheme, host and path as they came (no query, no IRI round trip), and the headers are not
    counted. The attributes are those OAuth2Request.__init__ sets (a test compares them), without
    its per-request URL parse. Its transport check is the app's, made once for every request
    before anything reads it (idp.views.errors.refuse_plain_http)."""

    def __init__(self, request):
        self.uri = f"{request.scheme}://{request.host}{request.path}"
        self.method = request.method
        self.headers = _Headers(request.environ)
        self._body = None
        self.payload = FlaskOAuth2Payload(request)
        self.client = self.auth_method = self.user = self.authorization_code = None
        self.refresh_token = self.credential = self._scope = None
        self._request = request


class AccessTokenGenerator(JWTBearerTokenGenerator):
    """RFC 9068 access tokens (``typ: at+jwt``), ES256 by default."""

    def __init__(self, server, ttl: int):
        super().__init__(issuer=server.settings.issuer, alg="ES256",
                         refresh_token_generator=lambda *args, **kwargs: random_token(32),
                         expires_generator=lambda client, grant_type: ttl)
        self.server = server

    def get_jwks(self):
        return self.server.keys.signing_keyset(self.alg)

    def get_jti(self, client, grant_type, user, scope):
        return random_token(16)  # 128 bits from the OS, in one call (not a character at a time)

    def get_extra_claims(self, client, grant_type, user, scope):
        if isinstance(user, EndUser):
            return {"sub": user.subject or subject_for(user.account, client)}
        return {"gty": grant_type}  # a token of no citizen: self-contained, see tokens.ServiceToken

    def get_auth_time(self, user):
        return user.auth_time if isinstance(user, EndUser) else None

    def get_acr(self, user):
        return user.acr if isinstance(user, EndUser) else None

    def get_amr(self, user):
        return list(user.amr) if isinstance(user, EndUser) else None


class Issuer(IssuerParameter):
    def __init__(self, issuer: str):
        self.issuer = issuer

    def get_issuer(self):
        return self.issuer


def jwt_claims_unverified(token: str) -> dict:
    """The payload of a JWT we just signed ourselves (no verification needed)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


_INSERT_TOKEN = insert(Token.__table__)  # built once: building a statement costs more than running it
# built once, as json.dumps would build them on every call with these options
_COMPACT_UTF8 = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_COMPACT_ASCII = json.JSONEncoder(separators=(",", ":"))


class AuthorizationServer(_FlaskServer):
    def __init__(self, app, settings, keys, store):
        self.settings = settings
        self.keys = keys
        super().__init__()
        self.init_app(app, query_client=self.find_client, save_token=self.store_token)
        self.registry = None  # the civil registry, attached by the app factory (claims in ID tokens)
        self.store = store
        self.clients = ClientCache(settings.client_cache_seconds)
        client_keys = ClientKeys(allow_private=not settings.secure_cookies)  # local services in development
        self.pushed = PushedRequests(store)
        self.request_objects = RequestObjects(self, client_keys)
        self.register_token_generator("default", AccessTokenGenerator(self, settings.access_token_ttl))
        self.register_client_auth_method("private_key_jwt", PrivateKeyJWT(settings.issuer, store, client_keys))
        self.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True), OpenIDCode(self)])
        self.register_grant(RefreshTokenGrant, [OpenIDRefresh(self)])
        self.register_grant(ClientCredentialsGrant)
        self.register_extension(Issuer(settings.issuer))
        self.register_endpoint(RevocationEndpoint(self))
        self.register_endpoint(IntrospectionEndpoint(self))

    def create_oauth2_request(self, request):
        if isinstance(request, dict):  # parameters stored on an interaction
            return ParamsRequest(self.settings.issuer + "/authorize", request)
        return EndpointRequest(flask_request._get_current_object())

    def find_client(self, client_id):
        """The active client with this id (a cached, read-only copy), else None."""
        if not client_id or not isinstance(client_id, str) or len(client_id) > 64:
            return None
        client = self.clients.get(client_id)
        return client if client is not None and client.is_active else None

    def store_token(self, token, request):
        if request.payload.grant_type == "client_credentials":
            return  # self-contained: revocation goes to the revocation list, nothing else to keep
        claims = jwt_claims_unverified(token["access_token"])
        user = request.user if isinstance(request.user, EndUser) else None
        code = request.authorization_code
        previous = request.refresh_token  # set when refreshing: the new row joins its family
        issued_at = datetime.fromtimestamp(claims["iat"], timezone.utc)
        refresh = token.get("refresh_token")
        refresh_expires_at = None
        if refresh:  # a rotated refresh token keeps the family's original deadline
            refresh_expires_at = (previous.refresh_expires_at if previous is not None
                                  else issued_at + timedelta(seconds=self.settings.refresh_token_ttl))
        execute(_INSERT_TOKEN, {
            "jti": claims["jti"],
            "family_id": previous.family_id if previous is not None else random_token(16),
            "grant_type": request.payload.grant_type,
            "client_id": request.client.client_id,
            "account_id": user.account.id if user else None,
            "scope": token.get("scope", ""),
            "sid": user.sid if user else None,
            "code_hash": code.code_hash if code is not None else None,
            "auth_time": user.auth_time if user else None,
            "acr": user.acr if user else None,
            "amr": list(user.amr) if user else None,
            "refresh_token_hash": keyed_hash(REFRESH, refresh) if refresh else None,
            "refresh_scope": (previous.get_scope() if previous is not None else token.get("scope", "")) if refresh else None,
            "refresh_expires_at": refresh_expires_at,
            "refresh_used_at": None,
            "issued_at": issued_at,
            "expires_at": datetime.fromtimestamp(claims["exp"], timezone.utc),
            "revoked_at": None,
        })
        if user and user.sid:  # the service joins the session's list (for logout), once
            execute(insert_ignoring_duplicates(SessionClient.__table__),
                               {"sid": user.sid, "client_id": request.client.client_id, "first_at": utcnow()})
        userinfo = released_claims(self, user.account.national_id, token.get("scope", "")) if user else None
        db.session.commit()
        if user:  # the shared record userinfo and introspection read (see tokens.AccessToken)
            remember_access_token(self.store, claims, userinfo)

    def handle_response(self, status_code, payload, headers):
        """Every JSON answer of the protocol endpoints: compact UTF-8 (RFC 8259 section 8.1), so a
        citizen's Persian name is two bytes a letter rather than a six-byte escape."""
        if isinstance(payload, dict):
            try:
                payload = _COMPACT_UTF8.encode(payload).encode()
            except UnicodeEncodeError:  # a lone surrogate (from JSON someone sent us): escaped instead
                payload = _COMPACT_ASCII.encode(payload)
        return Response(payload, status=status_code, headers=headers)

    def authenticate_endpoint_client(self, endpoint: str):
        """Client authentication at our own endpoints (PAR), with the token endpoint's methods."""
        return self.authenticate_client(self.create_oauth2_request(None), TOKEN_AUTH_METHODS, endpoint)

    def error_location(self, error: OAuth2Error) -> str:
        """Where to send an authorization error: the verified redirect URI, with ``iss`` (RFC 9207)."""
        _status, _body, headers = error()
        return add_params_to_uri(dict(headers)["Location"], [("iss", self.settings.issuer)],
                                 error.redirect_fragment)


def create_server(app, settings, keys, store) -> AuthorizationServer:
    return AuthorizationServer(app, settings, keys, store)


__all__ = ["AuthorizationServer", "OAuth2Error", "create_server"]
