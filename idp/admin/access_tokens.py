"""Initial access tokens (RFC 7591 section 3): how an agency is let into self-registration.

An administrator issues one to an agency; it is shown once, and only its keyed
hash is kept. It expires, may be single use, and registers services for its
agency only, and only while the agency is active."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, select, update

from ..db import db, utcnow
from ..models import Agency, InitialAccessToken
from ..security import keyed_hash, random_token
from .actors import Actor
from .errors import Conflict, InvalidRequest
from .present import initial_token_view
from .record import Action, record

PURPOSE = "initial-access-token"
DEFAULT_TTL = 7 * 24 * 3600
MAX_TTL = 90 * 24 * 3600


def issue(actor: Actor, agency: Agency, expires_in: int = DEFAULT_TTL,
          single_use: bool = False) -> tuple[InitialAccessToken, str]:
    """A new token for ``agency``; returns the row and the token (shown once)."""
    if not agency.is_active:
        raise Conflict(f"agency {agency.slug!r} is suspended")
    if not isinstance(expires_in, int) or isinstance(expires_in, bool) or not 60 <= expires_in <= MAX_TTL:
        raise InvalidRequest(f"expires_in must be between 60 and {MAX_TTL} seconds")
    token = random_token(32)
    row = InitialAccessToken(token_hash=keyed_hash(PURPOSE, token), agency=agency, issued_by=actor.ref,
                             issued_at=utcnow(), expires_at=utcnow() + timedelta(seconds=expires_in),
                             single_use=bool(single_use))
    db.session.add(row)
    db.session.flush()
    record(actor, Action.INITIAL_TOKEN_ISSUED, "initial_token", row.id, after=initial_token_view(row))
    db.session.commit()
    return row, token


def list_for(agency: Agency) -> list[InitialAccessToken]:
    return list(db.session.execute(select(InitialAccessToken).where(InitialAccessToken.agency_id == agency.id)
                                   .order_by(InitialAccessToken.id.desc())).scalars())


def find_usable(token: str | None) -> InitialAccessToken | None:
    """The token's row if it can register a service now (known, unexpired, unused if single use, agency active)."""
    if not token or len(token) > 200:
        return None
    row = db.session.execute(select(InitialAccessToken).where(
        InitialAccessToken.token_hash == keyed_hash(PURPOSE, token))).scalar_one_or_none()
    return row if row is not None and row.usable() else None


def consume(row: InitialAccessToken) -> bool:
    """Count one registration against the token, atomically: a single-use token is claimed by one request only."""
    now = utcnow()
    query = update(InitialAccessToken).where(InitialAccessToken.id == row.id, InitialAccessToken.expires_at > now)
    if row.single_use:
        query = query.where(or_(InitialAccessToken.uses == 0, InitialAccessToken.uses.is_(None)))
    claimed = db.session.execute(query.values(uses=InitialAccessToken.uses + 1, used_at=now)).rowcount
    return bool(claimed)


__all__ = ["DEFAULT_TTL", "MAX_TTL", "consume", "find_usable", "issue", "list_for"]
