"""What the administrators' web console (``idp.views.admin_console``) needs beyond the
other modules: the counts on its dashboard.

The registry's list functions return pages of rows, never totals; a dashboard
wants the totals only, so they are counted here (read-only)."""

from __future__ import annotations

from sqlalchemy import func, select

from ..db import db
from ..models import Agency, Client, Proposal
from .policy import AGENCY_STATUSES, SERVICE_STATUSES


def counts() -> dict:
    """Agencies by status, services by status and open proposals:
    ``{"agencies": {"active": n, "suspended": n}, "services": {"pending": n, ...}, "open_proposals": n}``."""
    agencies = dict(db.session.execute(select(Agency.status, func.count()).group_by(Agency.status)).all())
    services = dict(db.session.execute(select(Client.status, func.count()).group_by(Client.status)).all())
    return {"agencies": {status: agencies.get(status, 0) for status in AGENCY_STATUSES},
            "services": {status: services.get(status, 0) for status in SERVICE_STATUSES},
            "open_proposals": open_proposals()}


def open_proposals() -> int:
    """How many proposals wait for an administrator (the console shows it in its menu)."""
    return db.session.scalar(select(func.count()).select_from(Proposal).where(Proposal.decision.is_(None))) or 0


__all__ = ["counts", "open_proposals"]
