"""Validating the access tokens we issued, for our own resource endpoints."""

from __future__ import annotations

import time

from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import current_app
from joserfc import jwt
from joserfc.errors import JoseError
from sqlalchemy import select, update

from ..db import db, utcnow
from ..models import Token
from .claims import claims_for_scope


ACCESS = "access-token:"


def _ttl(exp: float) -> int:
    """Keep a token's shared state a minute past the token itself."""
    return max(int(exp - time.time()) + 60, 60)


class AccessToken:
    """A citizen's access token, judged by its signature and its shared record.

    Every citizen's access token has a record in the shared store, written when it is
    issued and kept until it expires: what userinfo releases for it, or, once revoked,
    only that. Userinfo and introspection read that record (one key lookup, on every
    host at once) instead of the database; the database stays the source of truth, and
    a record that is missing (a store that lost its keys) is rebuilt from it."""

    def __init__(self, claims: dict, userinfo: dict, find_client):
        self.claims = claims
        self.userinfo = userinfo
        self._find_client = find_client

    def check_client(self, client):
        return self.claims.get("client_id") == client.client_id

    def get_scope(self):
        return self.claims.get("scope", "")

    scope = property(get_scope)

    @property
    def subject(self) -> str:
        return self.claims["sub"]

    def is_expired(self):
        return self.claims["exp"] <= time.time()

    def is_revoked(self):
        return False  # a revoked token is never loaded

    def get_user(self):
        return self.subject

    def get_client(self):
        """The token's client while it is active (the server's cached lookup), else None."""
        return self._find_client(self.claims["client_id"])


def remember_access_token(store, claims: dict, userinfo: dict) -> None:
    # add, not put: a revocation that got there first stays
    store.add(ACCESS + claims["jti"], {"userinfo": userinfo}, _ttl(claims["exp"]))


def load_access_token(server, claims: dict) -> AccessToken | None:
    """The live citizen's token these verified claims belong to, else None (revoked or unknown)."""
    record = server.store.get(ACCESS + claims["jti"])
    if record is not None:
        return None if "revoked" in record else AccessToken(claims, record["userinfo"], server.find_client)
    row = db.session.execute(select(Token).where(Token.jti == claims["jti"])).scalar_one_or_none()
    if row is None or row.revoked_at is not None or row.account is None:
        return None
    userinfo = released_claims(server, row.account.national_id, row.scope)
    remember_access_token(server.store, claims, userinfo)
    return AccessToken(claims, userinfo, server.find_client)


def released_claims(server, national_id: str, scope: str) -> dict:
    """What userinfo answers for a token of this scope (``sub`` aside)."""
    return claims_for_scope(server.registry.find(national_id), scope)


def revoke_tokens(*criteria) -> int:
    """Revoke the citizens' tokens that match: their access tokens are marked revoked in the
    shared store first (every host sees it at once), then the rows (the caller commits).
    Returns the number of rows revoked."""
    store = current_app.extensions["panjereh"].store
    now = utcnow()
    live = db.session.execute(select(Token.jti, Token.expires_at).where(
        *criteria, Token.revoked_at.is_(None), Token.expires_at > now)).all()
    revoked_at = int(time.time())
    store.put_many([(ACCESS + jti, {"revoked": revoked_at}, _ttl(expires.timestamp())) for jti, expires in live])
    result = db.session.execute(update(Token).where(*criteria, Token.revoked_at.is_(None)).values(revoked_at=now))
    return result.rowcount


REVOKED = "revoked-jti:"
#: read on every userinfo and introspection call, written once or twice in a token's life:
#: each worker keeps a copy that Redis keeps coherent (adapters.store.NearCache)
NEAR_CACHED = (ACCESS, REVOKED)


class ServiceToken:
    """A self-contained token of no citizen (client_credentials): nothing is stored when it is
    issued; revoking it puts its ``jti`` on the revocation list until it would have expired."""

    def __init__(self, claims: dict, store):
        self.claims = claims
        self.store = store

    def check_client(self, client):
        return self.claims.get("client_id") == client.client_id

    def get_scope(self):
        return self.claims.get("scope", "")

    scope = property(get_scope)

    def is_expired(self):
        return self.claims["exp"] <= time.time()

    def is_revoked(self):
        return self.store.get(REVOKED + self.claims["jti"]) is not None

    def revoke(self):
        ttl = max(int(self.claims["exp"] - time.time()) + 60, 60)
        self.store.put(REVOKED + self.claims["jti"], {"at": int(time.time())}, ttl)

    def get_user(self):
        return None

    def get_client(self):
        return None


def is_service_token(claims: dict) -> bool:
    return claims.get("gty") == "client_credentials"


_VERIFIED: dict[str, tuple] = {}  # token string -> (the key set it verified with, its claims)
_VERIFIED_MAX = 2048  # about 1.7 KB each: at most ~3.5 MB per worker


def verify_access_token(token_string: str, keys, issuer: str) -> dict | None:
    """The claims of a valid RFC 9068 access token of ours, else None.

    A token that verified once is remembered per process (bounded), so a resource server
    asking about the same token again costs no signature check; the expiry is checked
    every time, and a change of the published keys forgets them all."""
    keyset = keys.public_keyset()
    seen = _VERIFIED.get(token_string)
    if seen is not None and seen[0] is keyset:
        claims = seen[1]
        return claims if claims["exp"] > time.time() else None
    try:
        token = jwt.decode(token_string, keyset, algorithms=["ES256", "RS256"])
    except (JoseError, ValueError):
        return None
    if token.header.get("typ") != "at+jwt":
        return None
    claims = token.claims
    try:
        jwt.JWTClaimsRegistry(iss={"essential": True, "value": issuer},
                              exp={"essential": True}, jti={"essential": True}).validate(claims)
    except JoseError:
        return None
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.clear()
    _VERIFIED[token_string] = (keyset, claims)
    return claims


class AccessTokenValidator(BearerTokenValidator):
    def __init__(self, server):
        super().__init__()
        self.server = server

    def authenticate_token(self, token_string):
        claims = verify_access_token(token_string, self.server.keys, self.server.settings.issuer)
        if claims is None:
            return None
        if is_service_token(claims):
            return ServiceToken(claims, self.server.store)
        return load_access_token(self.server, claims)


def verify_id_token_hint(token_string: str, keys, issuer: str, client_id: str) -> dict | None:
    """The claims of an ID token we issued to this client (expired is fine: it is only a hint)."""
    try:
        token = jwt.decode(token_string, keys.public_keyset(), algorithms=["RS256", "ES256"])
    except (JoseError, ValueError):
        return None
    claims = token.claims
    audiences = claims.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else (audiences or [])
    if claims.get("iss") != issuer or client_id not in audiences or "sub" not in claims:
        return None
    return claims
