"""Token revocation (RFC 7009) and introspection (RFC 7662)."""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import OAuth2Error, UnsupportedTokenTypeError
from authlib.oauth2.rfc7009 import RevocationEndpoint as _Revocation
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _Introspection
from sqlalchemy import select

from ..db import db, utcnow
from ..models import Token
from ..security import keyed_hash
from .claims import subject_for
from .grants import REFRESH, TOKEN_AUTH_METHODS, revoke_family
from .tokens import AccessToken, ServiceToken, is_service_token, load_access_token, revoke_tokens, verify_access_token

#: a client registered for this scope may introspect tokens issued to any client
INTROSPECTION_SCOPE = "introspection"


class RefreshView:
    """A refresh token as the endpoints see it: its row, judged by the refresh's own state."""

    def __init__(self, row: Token):
        self.row = row

    def check_client(self, client):
        return self.row.check_client(client)

    def is_expired(self):
        return self.row.refresh_expires_at is not None and self.row.refresh_expires_at <= utcnow()

    def is_revoked(self):
        return self.row.revoked_at is not None or self.row.refresh_used_at is not None


class UnsupportedTokenType(OAuth2Error):
    """A ``token_type_hint`` of a kind we do not issue: a 400, as every error of RFC 6749 section
    5.2 that is not about the client's credentials (Authlib answers 401, which tells the service
    its authentication failed when it did not)."""

    error = "unsupported_token_type"
    status_code = 400


class TokenLookup:
    """Find a token we issued from its string: a JWT access token or a refresh token."""

    def __init__(self, server):
        self.server = server

    def check_params(self, request, client):
        try:
            return super().check_params(request, client)
        except UnsupportedTokenTypeError as error:
            raise UnsupportedTokenType(description=error.description) from None

    def query_token(self, token_string, token_type_hint):
        if token_string.count(".") == 2:
            claims = verify_access_token(token_string, self.server.keys, self.server.settings.issuer)
            if claims is None:
                return None
            if is_service_token(claims):
                return ServiceToken(claims, self.server.store)
            return load_access_token(self.server, claims)  # None once revoked
        row = db.session.execute(
            select(Token).where(Token.refresh_token_hash == keyed_hash(REFRESH, token_string))
        ).scalar_one_or_none()
        return RefreshView(row) if row is not None else None


class RevocationEndpoint(TokenLookup, _Revocation):
    CLIENT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def __init__(self, server):
        _Revocation.__init__(self, server)
        TokenLookup.__init__(self, server)

    def revoke_token(self, token, request):
        if isinstance(token, ServiceToken):
            token.revoke()
            return
        if isinstance(token, RefreshView):
            revoke_family(token.row.family_id)  # RFC 7009 section 2.1: and the grant's access tokens
        else:
            revoke_tokens(Token.jti == token.claims["jti"])
            db.session.commit()


class IntrospectionEndpoint(TokenLookup, _Introspection):
    CLIENT_AUTH_METHODS = [m for m in TOKEN_AUTH_METHODS if m != "none"]

    def __init__(self, server):
        _Introspection.__init__(self, server)
        TokenLookup.__init__(self, server)

    def check_permission(self, token, client, request):
        return token.check_client(client) or INTROSPECTION_SCOPE in client.scopes

    def introspect_token(self, token):
        if isinstance(token, (ServiceToken, AccessToken)):  # self-contained: the JWT says it all
            claims = token.claims
            if self.server.find_client(claims["client_id"]) is None:  # suspended or retired
                return {"active": False}
            payload = {"active": True, "scope": claims.get("scope", ""), "client_id": claims["client_id"],
                       "token_type": "Bearer", "iat": claims["iat"], "exp": claims["exp"], "iss": claims["iss"],
                       "aud": claims["aud"], "sub": claims["sub"], "jti": claims["jti"]}
            for name in ("auth_time", "acr"):
                if claims.get(name):
                    payload[name] = claims[name]
            return payload
        row = token.row
        owner = self.server.find_client(row.client_id)  # cached; None once suspended or retired
        payload = {
            "active": owner is not None and owner.is_active,
            "scope": row.scope,
            "client_id": row.client_id,
            "token_type": "refresh_token",
            "iat": int(row.issued_at.timestamp()),
            "exp": int(row.refresh_expires_at.timestamp()),
            "iss": self.server.settings.issuer,
            "aud": row.client_id,
        }
        if row.account is not None and owner is not None:
            payload["sub"] = subject_for(row.account, owner)
            payload["auth_time"] = row.auth_time
            if row.acr:
                payload["acr"] = row.acr
        else:
            payload["sub"] = row.client_id
        if not payload["active"]:
            return {"active": False}
        return payload
