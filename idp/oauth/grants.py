"""Authlib's grants, subclassed for storage, and tightened where we promise more.

- PKCE: S256 only; required at /authorize for public clients.
- Authorization codes: stored as keyed hashes, single use (claimed atomically),
  and a replayed code revokes every token issued from it.
- The OpenID extension: prompt handling lives in the interaction policy, not here.
"""

from __future__ import annotations

import time
from datetime import timedelta

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import grants as oidc_grants
from sqlalchemy import update

from ..db import db, utcnow
from ..models import AuthorizationCode, Token
from ..security import keyed_hash
from .claims import EndUser, subject_for

CODE = "authorization-code"


class S256CodeChallenge(CodeChallenge):
    """RFC 7636 with ``plain`` refused; public clients must send a challenge."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        payload = grant.request.payload.data
        challenge = payload.get("code_challenge")
        method = payload.get("code_challenge_method")
        if not challenge and grant.request.client.is_public:
            raise InvalidRequestError("A public client must send 'code_challenge' (PKCE, S256).")
        if challenge and method != "S256":
            raise InvalidRequestError("'code_challenge_method' must be 'S256'.")
        super().validate_code_challenge(grant, redirect_uri)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def save_authorization_code(self, code, request):
        user: EndUser = request.user
        data = request.payload.data
        db.session.add(AuthorizationCode(
            code_hash=keyed_hash(CODE, code),
            client_id=request.client.client_id,
            account_id=user.account.id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            sid=user.sid,
            auth_time=user.auth_time,
            acr=user.acr,
            amr=list(user.amr),
            expires_at=utcnow() + timedelta(seconds=self.server.settings.authorization_code_ttl),
        ))
        db.session.commit()

    def query_authorization_code(self, code, client):
        code_hash = keyed_hash(CODE, code)
        now = utcnow()
        # claim the code: exactly one request can move used_at from NULL
        claimed = db.session.execute(
            update(AuthorizationCode)
            .where(AuthorizationCode.code_hash == code_hash,
                   AuthorizationCode.client_id == client.client_id,
                   AuthorizationCode.used_at.is_(None),
                   AuthorizationCode.expires_at > now)
            .values(used_at=now)
        ).rowcount
        db.session.commit()
        if claimed:
            return db.session.get(AuthorizationCode, code_hash)
        revoke_tokens_of_code(code_hash)  # a replayed code: RFC 6749 section 4.1.2
        return None

    def delete_authorization_code(self, authorization_code):
        """Used codes are kept (``used_at`` is set) so a replay is recognised."""

    def authenticate_user(self, authorization_code):
        account = authorization_code.account
        return EndUser(account, authorization_code.sid, authorization_code.auth_time,
                       authorization_code.acr or "", tuple(authorization_code.amr or ()),
                       subject=subject_for(account, self.request.client))


class OpenIDCode(oidc_grants.OpenIDCode):
    def __init__(self, server):
        super().__init__(require_nonce=False)
        self.server = server

    def __call__(self, grant):
        # prompt, max_age and friends are decided by the interaction policy
        grant.register_hook("after_create_token_response", self.process_token)
        grant.register_hook("after_validate_authorization_request_payload",
                            self.validate_openid_authorization_request)

    def exists_nonce(self, nonce, request):
        return False  # nonces are the relying party's to check; we echo them

    def resolve_client_private_key(self, client):
        return self.server.keys.signing_keyset(self.get_client_algorithm(client))

    def get_client_algorithm(self, client):
        return client.id_token_signed_response_alg or "RS256"

    def get_client_claims(self, client):
        now = int(time.time())
        return {"iss": self.server.settings.issuer, "aud": [client.client_id],
                "iat": now, "exp": now + self.server.settings.id_token_ttl}

    def get_encode_header(self, client):
        return {"alg": self.get_client_algorithm(client), "typ": "JWT"}

    def generate_user_info(self, user: EndUser, scope):
        claims = {"sub": user.subject}
        if user.sid:
            claims["sid"] = user.sid
        return claims


def revoke_tokens_of_code(code_hash: str) -> int:
    result = db.session.execute(
        update(Token).where(Token.code_hash == code_hash, Token.revoked_at.is_(None))
        .values(revoked_at=utcnow()))
    db.session.commit()
    return result.rowcount


__all__ = ["AuthorizationCodeGrant", "OpenIDCode", "S256CodeChallenge", "revoke_tokens_of_code"]
