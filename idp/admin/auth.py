"""Who is calling the admin API: bearer access tokens issued by Panjereh itself.

Accepted:
- a ``client_credentials`` token of an active client entitled to the ``admin``
  scope, whose token carries ``admin`` (the actor is ``client:<client_id>``);
- a citizen's access token carrying ``admin``, issued to an active client
  entitled to ``admin``, for an account with ``is_admin`` (``account:<id>``).

The token must verify (signature, issuer, expiry: ``idp.oauth.tokens``) and its
record must be neither expired nor revoked, as at the userinfo endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from ..db import db, utcnow
from ..models import Client, Token
from ..oauth.tokens import ServiceToken, is_service_token, verify_access_token
from ..interaction.levels import LOA3, rank
from .actors import Actor, account_actor, client_actor
from .policy import ADMIN_SCOPE


@dataclass(frozen=True)
class Refusal:
    """Why a request is not let in: 401 (no or bad token) or 403 (a good token without the right)."""

    status: int
    error: str | None  # None: no credentials were sent (RFC 6750 section 3.1)
    description: str


NO_TOKEN = Refusal(401, None, "an administrator's bearer access token is required")
BAD_TOKEN = Refusal(401, "invalid_token", "the access token is malformed, expired, revoked or not ours")
NOT_ADMIN = Refusal(403, "insufficient_scope",
                    "the access token does not carry the admin scope of an administrator or an admin API client")


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def authenticate(authorization: str | None, keys, issuer: str) -> Actor | Refusal:
    """The actor behind an ``Authorization`` header, or why not."""
    token = bearer_token(authorization)
    if token is None:
        return BAD_TOKEN if authorization else NO_TOKEN
    claims = verify_access_token(token, keys, issuer)
    if claims is None:
        return BAD_TOKEN
    if is_service_token(claims):  # client_credentials: self-contained, revocation on the list
        service = ServiceToken(claims, current_app.extensions["panjereh"].store)
        client = db.session.execute(select(Client).where(Client.client_id == claims["client_id"])).scalar_one_or_none()
        if service.is_revoked() or service.is_expired() or client is None or not client.is_active:
            return BAD_TOKEN
        if ADMIN_SCOPE not in service.get_scope().split() or ADMIN_SCOPE not in client.scopes:
            return NOT_ADMIN
        return client_actor(client.client_id)
    row = db.session.execute(select(Token).where(Token.jti == claims["jti"])).scalar_one_or_none()
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        return BAD_TOKEN
    client = db.session.execute(select(Client).where(Client.client_id == row.client_id)).scalar_one_or_none()
    if client is None or not client.is_active:
        return BAD_TOKEN
    if ADMIN_SCOPE not in row.scope.split() or ADMIN_SCOPE not in client.scopes:
        return NOT_ADMIN
    if row.account is None:
        return client_actor(client.client_id) if row.grant_type == "client_credentials" else NOT_ADMIN
    if rank(row.acr) < rank(LOA3):  # as at the console: an administrator acts at the highest level only
        return NOT_ADMIN
    return account_actor(row.account) if row.account.is_admin else NOT_ADMIN


__all__ = ["BAD_TOKEN", "NOT_ADMIN", "NO_TOKEN", "Refusal", "authenticate", "bearer_token"]
