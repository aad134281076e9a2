"""Single sign-on sessions: one per signed-in browser; ``sid`` in every ID token."""

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import UTCDateTime, db, utcnow
from .accounts import Account


class LoginSession(db.Model):
    __tablename__ = "login_sessions"

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime)
    acr: Mapped[str] = mapped_column(String(100))
    amr: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(300))

    account: Mapped[Account] = relationship(lazy="joined")


class SessionClient(db.Model):
    """A service that received tokens within a session (for logout notifications)."""

    __tablename__ = "session_clients"

    sid: Mapped[str] = mapped_column(ForeignKey("login_sessions.sid"), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LogoutNotice(db.Model):
    """A back-channel logout token waiting to be delivered to a service (an outbox)."""

    __tablename__ = "logout_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    uri: Mapped[str] = mapped_column(String(500))
    logout_token: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
