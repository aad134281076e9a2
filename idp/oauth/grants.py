"""Authlib's grants, subclassed for storage, and tightened where we promise more.

- PKCE: S256 only; required at /authorize for public clients.
- Authorization codes: stored as keyed hashes, single use (claimed atomically),
  and a replayed code revokes every token issued from it.
- The OpenID extension: prompt handling lives in the interaction policy, not here.
"""

from __future__ import annotations

import time
from datetime import timedelta

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import grants as oidc_grants
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import make_transient_to_detached

from ..audit import Event, record, request_origin
from ..db import attach, db, execute, utcnow
from ..models import Account, AuthorizationCode, LoginSession, Token
from ..security import keyed_hash, random_token
from .claims import IDENTITY_SCOPES, EndUser, claims_for_scope, scope_of, subject_for
from .requests import parse_claims_request
from .tokens import revoke_tokens

RESPONSE_MODES = ("query", "form_post")
PROMPTS = ("none", "login", "consent", "select_account")

CODE = "authorization-code"
_CODES = AuthorizationCode.__table__
# the statements of the token endpoint's hot path, built once (building one costs more than running it)
_INSERT_CODE = insert(_CODES)
_CLAIM_CODE = (update(_CODES)
               .where(_CODES.c.code_hash == bindparam("hash"), _CODES.c.client_id == bindparam("client"),
                      _CODES.c.used_at.is_(None), _CODES.c.expires_at > bindparam("now"))
               .values(used_at=bindparam("now"))
               .returning(*_CODES.c))


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


TOKEN_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
REFRESH = "refresh-token"


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def generate_authorization_code(self):
        """288 bits from the OS in one call (48 characters): Authlib draws its 48 characters one at a
        time, a system call each."""
        return random_token(36)

    def save_authorization_code(self, code, request):
        user: EndUser = request.user
        data = request.payload.data
        now = utcnow()
        execute(_INSERT_CODE, {
            "code_hash": keyed_hash(CODE, code),
            "client_id": request.client.client_id,
            "account_id": user.account.id,
            "redirect_uri": request.payload.redirect_uri,
            "scope": request.scope,
            "nonce": data.get("nonce"),
            "code_challenge": data.get("code_challenge"),
            "code_challenge_method": data.get("code_challenge_method"),
            "sid": user.sid,
            "claims_request": parse_claims_request(data.get("claims")),
            "auth_time": user.auth_time,
            "acr": user.acr,
            "amr": list(user.amr),
            "created_at": now,
            "expires_at": now + timedelta(seconds=self.server.settings.authorization_code_ttl),
        })
        # the event, and whatever the request decided on the way (a consent), with the code: one commit
        record(Event.CODE_ISSUED, origin=request_origin(), account_id=user.account.id,
               client_id=request.client.client_id, commit=False)
        db.session.commit()

    def query_authorization_code(self, code, client):
        code_hash = keyed_hash(CODE, code)
        now = utcnow()
        # claim the code: exactly one request can move used_at from NULL. The claim is committed
        # with the token it leads to (store_token), or on its own when the request is refused
        # (below): either way the code is used up; a concurrent replay waits for that commit.
        # A failure of ours in between (a 503 while a dependency is down) rolls the claim back
        # with everything else: nothing was issued, and the service may retry the same code.
        claimed = execute(_CLAIM_CODE, {"hash": code_hash, "client": client.client_id,
                                                   "now": now}).first()
        if claimed is not None:
            code = AuthorizationCode(**claimed._mapping)
            make_transient_to_detached(code)  # the row as read: no pending change, never inserted again
            return code
        revoke_family_of_code(code_hash)  # a replayed code: RFC 6749 section 4.1.2
        return None

    def validate_token_request(self):
        try:
            super().validate_token_request()
        except OAuth2Error:
            db.session.commit()  # a code refused for its redirect URI or PKCE verifier stays used up
            raise

    def create_token_response(self):
        try:
            return super().create_token_response()
        except OAuth2Error:
            db.session.commit()  # ... as does one whose sign-in has ended
            raise

    def delete_authorization_code(self, authorization_code):
        """Used codes are kept (``used_at`` is set) so a replay is recognised."""

    def authenticate_user(self, authorization_code):
        account = account_while_signed_in(authorization_code.account_id, authorization_code.sid)
        if account is None:
            return None  # the citizen signed out after the code was issued: invalid_grant
        return EndUser(account, authorization_code.sid, authorization_code.auth_time,
                       authorization_code.acr or "", tuple(authorization_code.amr or ()),
                       subject=subject_for(account, self.request.client))


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """Refresh tokens rotate on every use; a reused one revokes its whole family."""

    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):
        row = db.session.execute(
            select(Token).where(Token.refresh_token_hash == keyed_hash(REFRESH, refresh_token))
        ).scalar_one_or_none()
        if row is None:
            return None
        if row.refresh_used_at is not None:
            revoke_family(row.family_id)  # reuse of a rotated token: RFC 9700 section 4.14.2
            return None
        if row.revoked_at is not None or (row.refresh_expires_at and row.refresh_expires_at <= utcnow()):
            return None
        if not session_alive(row.sid):
            return None  # the sign-in it came from has ended: the grant ends with it
        return row

    def authenticate_user(self, refresh_token):
        account = refresh_token.account
        if account is None:
            return None
        return EndUser(account, refresh_token.sid, refresh_token.auth_time or 0, refresh_token.acr or "",
                       tuple(refresh_token.amr or ()), subject=subject_for(account, self.request.client))

    def revoke_old_credential(self, refresh_token):
        # claim the used token atomically: of two concurrent uses only one wins
        claimed = db.session.execute(
            update(Token).where(Token.id == refresh_token.id, Token.refresh_used_at.is_(None))
            .values(refresh_used_at=utcnow())).rowcount
        db.session.commit()
        if not claimed:
            revoke_family(refresh_token.family_id)
            raise InvalidGrantError("The refresh token was already used.")


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """Agency-to-agency API access: only API scopes the client was granted."""

    TOKEN_ENDPOINT_AUTH_METHODS = [m for m in TOKEN_AUTH_METHODS if m != "none"]

    def validate_token_request(self):
        super().validate_token_request()
        client = self.request.client
        granted = [s for s in client.scopes if s not in IDENTITY_SCOPES]
        requested = (self.request.payload.scope or "").split()
        if any(s not in granted for s in requested):
            raise InvalidScopeError("The client was not granted every requested scope.")
        self.request.scope = " ".join(requested or granted)

    def create_token_response(self):
        token = self.generate_token(scope=self.request.scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class OpenIDCode(oidc_grants.OpenIDCode):
    def __init__(self, server):
        super().__init__(require_nonce=False)
        self.server = server

    def __call__(self, grant):
        # prompt, max_age and friends are decided by the interaction policy
        grant.register_hook("after_create_token_response", self.process_token)
        grant.register_hook("after_validate_authorization_request_payload",
                            self.validate_openid_authorization_request)

    def validate_openid_authorization_request(self, grant, redirect_uri):
        super().validate_openid_authorization_request(grant, redirect_uri)
        data = grant.request.payload.data
        if data.get("response_mode", "query") not in RESPONSE_MODES:
            raise InvalidRequestError("Unsupported 'response_mode'.")
        prompts = data.get("prompt", "").split()
        if "none" in prompts and len(prompts) > 1:
            raise InvalidRequestError("'prompt=none' cannot be combined with other values.")
        if any(p not in PROMPTS for p in prompts):
            raise InvalidRequestError("Unsupported 'prompt' value.")
        if "max_age" in data and not data["max_age"].isdigit():
            raise InvalidRequestError("'max_age' must be a whole number of seconds.")
        claims = parse_claims_request(data.get("claims"))
        if claims:
            # claims asked for by name are released under the scope that carries them
            implied = {scope_of(name) for member in claims.values() for name in member} - {None}
            allowed = set(grant.request.client.scopes)
            grant.request.scope = " ".join(dict.fromkeys(
                grant.request.scope.split() + sorted(s for s in implied if s in allowed)))

    def get_authorization_code_claims(self, authorization_code):
        claims = super().get_authorization_code_claims(authorization_code)
        wanted = (authorization_code.claims_request or {}).get("id_token", {})
        if wanted and self.server.registry is not None:
            account = db.session.get(Account, authorization_code.account_id)  # loaded by authenticate_user
            person = self.server.registry.find(account.national_id)
            released = claims_for_scope(person, authorization_code.scope)
            claims.update({name: released[name] for name in wanted if name in released})
        return claims

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
        # the original authentication, also in an ID token refreshed later (OIDC Core 12.2)
        claims = {"sub": user.subject, "auth_time": user.auth_time}
        if user.acr:
            claims["acr"] = user.acr
        if user.amr:
            claims["amr"] = list(user.amr)
        if user.sid:
            claims["sid"] = user.sid
        return claims


class OpenIDRefresh(OpenIDCode):
    """A refreshed token response carries a new ID token when the scope has ``openid``."""

    def __call__(self, grant):
        grant.register_hook("after_create_token_response", self.process_token)


# "the single sign-on session is still on: not ended, not expired", built once with its parameters
_SIGNED_IN = (LoginSession.sid == bindparam("sid"), LoginSession.ended_at.is_(None),
              LoginSession.expires_at > bindparam("now"))
_SESSION_ALIVE = select(LoginSession.sid).where(*_SIGNED_IN)
# the account's columns (its row becomes the session's object: idp.db.attach), not the ORM entity
_ACCOUNT = select(*Account.__table__.columns).where(Account.id == bindparam("account_id"))
_ACCOUNT_SIGNED_IN = _ACCOUNT.join(LoginSession, LoginSession.account_id == Account.id).where(*_SIGNED_IN)


def session_alive(sid: str | None) -> bool:
    """Whether the single sign-on session a grant came from is still on (no session: a service grant)."""
    if not sid:
        return True
    return execute(_SESSION_ALIVE, {"sid": sid, "now": utcnow()}).first() is not None


def account_while_signed_in(account_id: int, sid: str | None) -> Account | None:
    """The grant's account while the sign-in it came from is still on (one query), else None."""
    if not sid:
        row = execute(_ACCOUNT, {"account_id": account_id}).first()
    else:
        row = execute(_ACCOUNT_SIGNED_IN, {"account_id": account_id, "sid": sid, "now": utcnow()}).first()
    return None if row is None else attach(Account, row._mapping)


def revoke_family(family_id: str | None) -> int:
    if not family_id:
        return 0
    revoked = revoke_tokens(Token.family_id == family_id)
    db.session.commit()
    return revoked


def revoke_family_of_code(code_hash: str) -> int:
    family = db.session.execute(select(Token.family_id).where(Token.code_hash == code_hash)).scalars().first()
    return revoke_family(family)


__all__ = ["AuthorizationCodeGrant", "ClientCredentialsGrant", "OpenIDCode", "OpenIDRefresh",
           "RefreshTokenGrant", "S256CodeChallenge", "revoke_family"]
