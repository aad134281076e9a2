"""The agency registry's own records: proposals (the two-person rule), the
append-only record of administrative actions, and initial access tokens.

``admin_actions`` is append-only. The ORM refuses to UPDATE or DELETE a row
(mapper events below, and a session hook for bulk statements), and migration
0005 adds database triggers that refuse the same, so neither the application
nor a stray script can rewrite what administrators did.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text, event, false
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from ..db import UTCDateTime, db, utcnow
from .clients import Agency, Client


class AppendOnlyError(RuntimeError):
    """An attempt to change or delete a row of the append-only administrative record."""


class Proposal(db.Model):
    """A change that needs two administrators: proposed by one, approved by another.

    ``kind`` is one of ``activate`` (pending -> active), ``reactivate``
    (suspended -> active) and ``update`` (redirect URIs or a sensitive scope).
    A proposal made by an agency (self-service) has no administrator behind it
    yet: the first approving administrator endorses it (``endorsed_by``) and a
    second, different one approves it. ``decision`` stays NULL while open, then
    ``approved`` or ``rejected``; nothing is ever deleted."""

    __tablename__ = "proposals"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id"), index=True)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    proposed_by: Mapped[str] = mapped_column(String(100))  # "account:12", "client:abc", "agency:tax"
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    endorsed_by: Mapped[str | None] = mapped_column(String(100))
    endorsed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision: Mapped[str | None] = mapped_column(String(16), index=True)  # approved | rejected
    reason: Mapped[str | None] = mapped_column(Text)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    client: Mapped[Client | None] = relationship(lazy="joined")
    agency: Mapped[Agency | None] = relationship(lazy="joined")

    @property
    def is_open(self) -> bool:
        return self.decision is None


class AdminAction(db.Model):
    """One administrative change, as it happened: who, what, on what, before and after, from where.

    Append-only (see the module docstring). ``before``/``after`` never hold a
    secret: a new client secret is recorded as ``"rotated"``."""

    __tablename__ = "admin_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_type: Mapped[str] = mapped_column(String(16))  # account | client | agency | operator
    actor_id: Mapped[str] = mapped_column(String(64), index=True)
    via: Mapped[str] = mapped_column(String(16))  # api | cli | self-service
    action: Mapped[str] = mapped_column(String(48), index=True)
    target_type: Mapped[str] = mapped_column(String(16))  # agency | service | proposal | account | initial_token
    target_id: Mapped[str] = mapped_column(String(64), index=True)
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    proposal_id: Mapped[int | None] = mapped_column(ForeignKey("proposals.id"))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(300))


@event.listens_for(AdminAction, "before_update")
def _refuse_update(mapper, connection, target):
    raise AppendOnlyError("admin_actions is append-only: a recorded action cannot be changed")


@event.listens_for(AdminAction, "before_delete")
def _refuse_delete(mapper, connection, target):
    raise AppendOnlyError("admin_actions is append-only: a recorded action cannot be deleted")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_changes(state):
    """``update(AdminAction)`` / ``delete(AdminAction)`` statements skip the mapper events: refuse them here."""
    if (state.is_update or state.is_delete) and state.bind_mapper is not None \
            and state.bind_mapper.class_ is AdminAction:
        raise AppendOnlyError("admin_actions is append-only: bulk UPDATE/DELETE refused")


class InitialAccessToken(db.Model):
    """An RFC 7591 initial access token an administrator issued to an agency.

    Only its keyed hash is kept; it expires, may be single use, and registers
    services for its agency only."""

    __tablename__ = "initial_access_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    issued_by: Mapped[str] = mapped_column(String(100))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    single_use: Mapped[bool] = mapped_column(default=False, server_default=false())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the last registration made with it
    uses: Mapped[int] = mapped_column(default=0, server_default="0")

    agency: Mapped[Agency] = relationship(lazy="joined")

    def usable(self) -> bool:
        if self.expires_at <= utcnow():
            return False
        if self.single_use and self.uses > 0:
            return False
        return self.agency.is_active
