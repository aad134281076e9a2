"""Security events: a closed set of names with structured fields.

Events record digests, never secrets: no code, no secret, no token, and the
national ID typed at a failed login only as a keyed digest.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import insert

from .db import db, insert_at_commit, run_alone, utcnow
from .models import AuditEvent
from .security import keyed_hash

SUBJECT_DIGEST = "audit-subject"
#: built once (a statement built per call costs more to build than to run)
_EVENTS = AuditEvent.__table__
_INSERT = insert(_EVENTS)


class Event(str, enum.Enum):
    LOGIN_STARTED = "login.started"
    OTP_SENT = "otp.sent"
    OTP_NOT_SENT = "otp.not_sent"  # the pair did not match the registry: nothing was sent
    OTP_SEND_FAILED = "otp.send_failed"
    OTP_FAILED = "otp.failed"
    OTP_EXHAUSTED = "otp.exhausted"
    LOGIN_SUCCEEDED = "login.succeeded"
    RATE_LIMITED = "login.rate_limited"
    LOCKED_OUT = "login.locked_out"
    LEVEL_REACHED = "login.level_reached"
    FACTOR_ENROLLED = "factor.enrolled"
    FACTOR_REMOVED = "factor.removed"
    FACTOR_FAILED = "factor.failed"
    RECOVERY_CODE_USED = "factor.recovery_code_used"
    CONSENT_GRANTED = "consent.granted"
    CONSENT_DENIED = "consent.denied"
    CODE_ISSUED = "code.issued"
    TOKEN_ISSUED = "token.issued"
    SESSION_ENDED = "session.ended"
    CLIENT_REGISTERED = "client.registered"
    KEYS_ROTATED = "keys.rotated"
    REGISTRY_IMPORTED = "registry.imported"


@dataclass(frozen=True)
class Origin:
    """Where a request came from, as the view saw it."""

    ip: str | None = None
    user_agent: str | None = None


def request_origin() -> Origin:
    """The origin of the request being served (the client's address as the proxies report it)."""
    from flask import request

    return Origin(ip=request.remote_addr, user_agent=request.headers.get("User-Agent"))


def subject_digest(national_id: str) -> str:
    return keyed_hash(SUBJECT_DIGEST, national_id)


def record(event: Event, outcome: str = "ok", *, origin: Origin | None = None,
           account_id: int | None = None, national_id: str | None = None,
           client_id: str | None = None, commit: bool = True, **details) -> None:
    origin = origin or Origin()
    # a plain INSERT (no object to track: events are never read back by the request that writes
    # them), committed with the change it reports, or on its own when it reports no change
    params = {
        "at": utcnow(),
        "event": event.value,
        "outcome": outcome,
        "account_id": account_id,
        "subject_digest": subject_digest(national_id) if national_id else None,
        "client_id": client_id,
        "ip": origin.ip,
        "user_agent": (origin.user_agent or "")[:300] or None,
        "details": details,
    }
    if commit:
        run_alone(_INSERT, params)  # in the request's transaction if one is open, committed with it
        if db.session().in_transaction():
            db.session.commit()
    else:
        insert_at_commit(_EVENTS, params)  # with the transaction's other events, in one statement
