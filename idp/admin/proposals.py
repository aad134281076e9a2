"""The two-person rule: changes that need a second administrator wait here as proposals.

Kinds: ``activate`` (pending -> active), ``reactivate`` (suspended -> active),
``update`` (redirect URI changes, a newly granted sensitive scope).

- An administrator proposes; a *different* administrator approves, and the
  change is applied in the same transaction. The proposer cannot approve their
  own proposal, and neither decision can be taken twice.
- A proposal made by an agency itself (self-registration, RFC 7592 updates)
  has no administrator behind it: it needs two approving administrators. The
  first approval endorses it; a different administrator's approval applies it.
- A rejected proposal is kept, with who rejected it, when and why.
- Every step (created, endorsed, approved, rejected) is in the admin record.
"""

from __future__ import annotations

from sqlalchemy import select, update

from ..db import db, utcnow
from ..models import Client, Proposal
from .actors import AGENCY, Actor, require_administrator
from .errors import Conflict, Forbidden, InvalidRequest, NotFound
from .present import proposal_view
from .record import Action, record

KINDS = ("activate", "reactivate", "update")
STATUSES = ("open", "approved", "rejected")
REASON_MAX = 1000


def propose(actor: Actor, kind: str, client: Client, payload: dict | None = None) -> Proposal:
    """File a proposal (not committed: it goes with the change that made it)."""
    if kind not in KINDS:
        raise InvalidRequest(f"unknown proposal kind {kind!r}")
    if actor.kind != AGENCY:
        require_administrator(actor, "proposing a change")
    if kind in ("activate", "reactivate"):
        existing = db.session.execute(select(Proposal.id).where(
            Proposal.client_id == client.id, Proposal.kind == kind, Proposal.decision.is_(None))).first()
        if existing:
            raise Conflict(f"proposal {existing[0]} to {kind} this service is already open")
        payload = {"from_status": client.status, "service": _snapshot(client), **(payload or {})}
    proposal = Proposal(kind=kind, client=client, agency=client.agency, payload=payload or {},
                        proposed_by=actor.ref, proposed_at=utcnow())
    db.session.add(proposal)
    db.session.flush()
    record(actor, Action.PROPOSAL_CREATED, "proposal", proposal.id, after=proposal_view(proposal),
           proposal_id=proposal.id)
    return proposal


def list_proposals(status: str | None = None, kind: str | None = None, client_id: str | None = None,
                   limit: int = 50, offset: int = 0) -> list[Proposal]:
    """Newest first. ``status``: open, approved or rejected."""
    query = select(Proposal)
    if status == "open":
        query = query.where(Proposal.decision.is_(None))
    elif status:
        query = query.where(Proposal.decision == status)
    if kind:
        query = query.where(Proposal.kind == kind)
    if client_id:
        query = query.join(Client, Proposal.client_id == Client.id).where(Client.client_id == client_id)
    return list(db.session.execute(query.order_by(Proposal.id.desc()).limit(limit).offset(offset)).unique().scalars())


def get_proposal(proposal_id: int) -> Proposal:
    proposal = db.session.get(Proposal, proposal_id)
    if proposal is None:
        raise NotFound(f"no proposal {proposal_id}")
    return proposal


def approve(actor: Actor, proposal: Proposal) -> Proposal:
    """Approve as ``actor``: endorse an agency's proposal, or decide and apply an open one."""
    require_administrator(actor, "approving a proposal")
    _check_open(proposal)
    if actor.ref in (proposal.proposed_by, proposal.endorsed_by):
        raise Forbidden("two-person rule: a different administrator must approve this proposal "
                        "(you proposed or already approved it)")
    before = proposal_view(proposal)
    now = utcnow()
    if proposal.proposed_by.startswith("agency:") and proposal.endorsed_by is None:
        _claim(proposal, Proposal.endorsed_by.is_(None), endorsed_by=actor.ref, endorsed_at=now)
        record(actor, Action.PROPOSAL_ENDORSED, "proposal", proposal.id, before=before,
               after=proposal_view(proposal), proposal_id=proposal.id)
        db.session.commit()
        return proposal
    from .clients import apply_activation, apply_update

    _claim(proposal, decision="approved", decided_by=actor.ref, decided_at=now, applied_at=now)
    try:
        (apply_update if proposal.kind == "update" else apply_activation)(actor, proposal)
    except Exception:
        db.session.rollback()  # the claim goes too: the proposal stays open
        raise
    record(actor, Action.PROPOSAL_APPROVED, "proposal", proposal.id, before=before, after=proposal_view(proposal),
           proposal_id=proposal.id)
    db.session.commit()
    return proposal


def reject(actor: Actor, proposal: Proposal, reason: str | None = None) -> Proposal:
    """Reject (kept on record). Any administrator may, the proposer included (a withdrawal)."""
    require_administrator(actor, "rejecting a proposal")
    _check_open(proposal)
    if reason is not None and (not isinstance(reason, str) or len(reason) > REASON_MAX):
        raise InvalidRequest(f"reason must be a text of at most {REASON_MAX} characters")
    before = proposal_view(proposal)
    _claim(proposal, decision="rejected", decided_by=actor.ref, decided_at=utcnow(), reason=reason or None)
    record(actor, Action.PROPOSAL_REJECTED, "proposal", proposal.id, before=before, after=proposal_view(proposal),
           proposal_id=proposal.id)
    db.session.commit()
    return proposal


def _claim(proposal: Proposal, *conditions, **values) -> None:
    """Move the proposal on only if it is still where we saw it (open, and not endorsed meanwhile):
    of two administrators deciding at once, exactly one succeeds."""
    claimed = db.session.execute(
        update(Proposal).where(Proposal.id == proposal.id, Proposal.decision.is_(None), *conditions)
        .values(**values).execution_options(synchronize_session=False)).rowcount
    if not claimed:
        db.session.rollback()
        raise Conflict(f"proposal {proposal.id} was decided or endorsed meanwhile; reload it")
    db.session.refresh(proposal)


def _check_open(proposal: Proposal) -> None:
    if not proposal.is_open:
        raise Conflict(f"proposal {proposal.id} was already {proposal.decision}")


def _snapshot(client: Client) -> dict:
    """What the approvers are asked to let sign citizens in."""
    from .policy import sensitive_in

    return {"client_name": client.name_en, "client_name_fa": client.name_fa, "agency": client.agency.slug,
            "redirect_uris": list(client.redirect_uris or []), "scope": client.scope,
            "sensitive_scopes": sensitive_in(client.scope), "grant_types": list(client.grant_types or []),
            "token_endpoint_auth_method": client.token_endpoint_auth_method}


__all__ = ["KINDS", "STATUSES", "approve", "get_proposal", "list_proposals", "propose", "reject"]
