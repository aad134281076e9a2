"""The append-only record of administrative actions (table ``admin_actions``).

Every change to agencies, services, proposals, administrators and initial
access tokens adds one row here, in the same transaction as the change: who
(the :class:`~idp.admin.actors.Actor`), what (an :class:`Action`, a closed set),
on what, the state before and after, when, and from where. Rows are never
changed or deleted: the ORM refuses it (``idp.models.admin``) and so does the
database (triggers of migration 0005). Secrets never appear: a rotated client
secret is recorded as ``"rotated"``.
"""

from __future__ import annotations

import enum

from sqlalchemy import func, select

from ..db import db
from ..models import AdminAction
from .actors import Actor


class Action(str, enum.Enum):
    AGENCY_CREATED = "agency.created"
    AGENCY_UPDATED = "agency.updated"
    AGENCY_SUSPENDED = "agency.suspended"
    AGENCY_REACTIVATED = "agency.reactivated"
    INITIAL_TOKEN_ISSUED = "initial_token.issued"
    SERVICE_CREATED = "service.created"  # by an administrator (pending) or the operator (active)
    SERVICE_REGISTERED = "service.registered"  # by an agency, RFC 7591 (pending)
    SERVICE_UPDATED = "service.updated"
    SERVICE_SECRET_ROTATED = "service.secret_rotated"
    SERVICE_KEYS_SET = "service.keys_set"
    SERVICE_SUSPENDED = "service.suspended"
    SERVICE_ACTIVATED = "service.activated"
    SERVICE_REACTIVATED = "service.reactivated"
    SERVICE_RETIRED = "service.retired"
    PROPOSAL_CREATED = "proposal.created"
    PROPOSAL_ENDORSED = "proposal.endorsed"  # first of two approvals of an agency's own proposal
    PROPOSAL_APPROVED = "proposal.approved"
    PROPOSAL_REJECTED = "proposal.rejected"
    ADMIN_GRANTED = "admin.granted"
    ADMIN_REVOKED = "admin.revoked"


ACTIONS = tuple(a.value for a in Action)
TARGET_TYPES = ("agency", "service", "proposal", "account", "initial_token")


def record(actor: Actor, action: Action, target_type: str, target_id, *, before: dict | None = None,
           after: dict | None = None, proposal_id: int | None = None) -> AdminAction:
    """Add the row to the session; the caller commits it together with the change it describes."""
    assert target_type in TARGET_TYPES, target_type
    row = AdminAction(actor_type=actor.kind, actor_id=actor.id, via=actor.via, action=action.value,
                      target_type=target_type, target_id=str(target_id), before=before, after=after,
                      proposal_id=proposal_id, ip=actor.ip, user_agent=actor.user_agent)
    db.session.add(row)
    return row


def list_actions(*, target_type: str | None = None, target_id: str | None = None, actor: str | None = None,
                 action: str | None = None, limit: int = 50, offset: int = 0) -> tuple[list[AdminAction], int]:
    """Newest first, with the total that matches (for paging). ``actor`` is ``kind:id``."""
    query = select(AdminAction)
    if target_type:
        query = query.where(AdminAction.target_type == target_type)
    if target_id:
        query = query.where(AdminAction.target_id == target_id)
    if action:
        query = query.where(AdminAction.action == action)
    if actor:
        kind, _, ident = actor.partition(":")
        query = query.where(AdminAction.actor_type == kind, AdminAction.actor_id == ident)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.execute(query.order_by(AdminAction.id.desc()).limit(limit).offset(offset)).scalars().all()
    return list(rows), total


def get_action(action_id: int) -> AdminAction | None:
    return db.session.get(AdminAction, action_id)


__all__ = ["ACTIONS", "Action", "TARGET_TYPES", "get_action", "list_actions", "record"]
