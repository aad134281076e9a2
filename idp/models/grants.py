"""What a citizen granted: authorization codes, tokens and remembered consent."""

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import UTCDateTime, db, utcnow
from .accounts import Account


class AuthorizationCode(db.Model):
    """Kept after use (``used_at``) so a replayed code can be recognised."""

    __tablename__ = "authorization_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))  # codes are found by their hash only
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(Text)
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(10))
    sid: Mapped[str | None] = mapped_column(String(64))
    auth_time: Mapped[int] = mapped_column()
    acr: Mapped[str | None] = mapped_column(String(100))
    amr: Mapped[list] = mapped_column(JSON, default=list)
    claims_request: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    account: Mapped[Account] = relationship(lazy="joined")

    # --- Authlib's AuthorizationCodeMixin ---
    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return self.auth_time

    def get_acr(self):
        return self.acr

    def get_amr(self):
        return self.amr or None


class Token(db.Model):
    """One token response: its access token (a JWT, known here by its ``jti``) and
    its refresh token, if any. Refreshing makes a new row in the same ``family``;
    the used refresh token is marked, so its reuse revokes the whole family."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    jti: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[str | None] = mapped_column(String(64), index=True)
    grant_type: Mapped[str | None] = mapped_column(String(40))
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    scope: Mapped[str] = mapped_column(Text)
    sid: Mapped[str | None] = mapped_column(String(64), index=True)
    code_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    auth_time: Mapped[int | None] = mapped_column()
    acr: Mapped[str | None] = mapped_column(String(100))
    amr: Mapped[list | None] = mapped_column(JSON)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    refresh_scope: Mapped[str | None] = mapped_column(Text)  # the grant's scope: a refresh never narrows it
    refresh_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refresh_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # the sweep finds ended ones by it
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    account: Mapped[Account | None] = relationship(lazy="joined")

    # --- Authlib's TokenMixin ---
    def check_client(self, client):
        return self.client_id == client.client_id

    def get_scope(self):
        """The scope a refresh may ask for: the one originally granted (RFC 6749 section 6)."""
        return self.refresh_scope or self.scope

    def get_expires_in(self):
        return int((self.expires_at - self.issued_at).total_seconds())

    def is_expired(self):
        return self.expires_at <= utcnow()

    def is_revoked(self):
        return self.revoked_at is not None

    def get_user(self):
        return self.account


class Consent(db.Model):
    """The scopes a citizen allowed a service to receive, remembered until they grow."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("account_id", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    client_id: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # read and written through idp.oauth.consents
