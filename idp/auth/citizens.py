"""Identify a citizen from what they typed, against the registry and ownership ports."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select

from ..adapters.registry import CivilRegistry, MobileOwnership
from ..db import db, utcnow
from ..models import Account


@dataclass(frozen=True)
class Identification:
    matched: bool
    live: bool  # both ports answered live at this call (loa2 needs it; a cached answer allows loa1)


def identify(registry: CivilRegistry, ownership: MobileOwnership, national_id: str, mobile: str) -> Identification:
    """Whether the mobile is the one registered to the national ID, and whether that was
    established live.

    Raises RegistryUnavailable when either port has neither a live nor a recent answer
    (fail closed)."""
    found = registry.lookup(national_id)
    # the ownership service is asked whether or not the person exists, so the time this
    # takes does not tell an observer which national IDs exist
    verdict = ownership.verify(national_id, mobile)
    return Identification(found.person is not None and verdict.owner, found.live and verdict.live)


_BY_NATIONAL_ID = select(Account).where(Account.national_id == bindparam("national_id"))  # built once


def account_for(national_id: str) -> Account:
    """The citizen's account, created at the first sign-in: flushed, not committed (the
    caller commits it with the sign-in it belongs to)."""
    account = db.session.execute(_BY_NATIONAL_ID, {"national_id": national_id}).scalar_one_or_none()
    if account is None:
        account = Account(national_id=national_id)
        db.session.add(account)
    account.last_login_at = utcnow()
    db.session.flush()
    return account
