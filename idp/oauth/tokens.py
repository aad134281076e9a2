"""Validating the access tokens we issued, for our own resource endpoints."""

from __future__ import annotations

import time

from authlib.oauth2.rfc6750 import BearerTokenValidator
from joserfc import jwt
from joserfc.errors import JoseError
from sqlalchemy import select

from ..db import db, utcnow
from ..models import Client, Token


class IssuedToken:
    """An access token that verified, joined with its record (for revocation)."""

    def __init__(self, claims: dict, record: Token, find_client=None):
        self.claims = claims
        self.record = record
        self._find_client = find_client

    def get_scope(self):
        return self.record.scope

    def is_expired(self):
        return self.record.expires_at <= utcnow()

    def is_revoked(self):
        return self.record.revoked_at is not None

    def get_user(self):
        return self.record.account

    def get_client(self):
        if self._find_client is not None:  # the server's cached lookup: active clients only
            return self._find_client(self.record.client_id)
        return db.session.execute(
            select(Client).where(Client.client_id == self.record.client_id)).scalar_one_or_none()

    @property
    def scope(self):
        return self.record.scope


REVOKED = "revoked-jti:"


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


def verify_access_token(token_string: str, keys, issuer: str) -> dict | None:
    """The claims of a valid RFC 9068 access token of ours, else None."""
    try:
        token = jwt.decode(token_string, keys.public_keyset(), algorithms=["ES256", "RS256"])
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
    return claims


class AccessTokenValidator(BearerTokenValidator):
    def __init__(self, keys, issuer, store, find_client=None):
        super().__init__()
        self.keys = keys
        self.issuer = issuer
        self.store = store
        self.find_client = find_client

    def authenticate_token(self, token_string):
        claims = verify_access_token(token_string, self.keys, self.issuer)
        if claims is None:
            return None
        if is_service_token(claims):
            return ServiceToken(claims, self.store)
        record = db.session.execute(select(Token).where(Token.jti == claims["jti"])).scalar_one_or_none()
        return IssuedToken(claims, record, self.find_client) if record is not None else None


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
