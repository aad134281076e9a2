"""Identify a citizen from what they typed, against the registry and ownership ports."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from ..adapters.registry import CivilRegistry, MobileOwnership
from ..db import db, utcnow
from ..models import Account


@dataclass(frozen=True)
class Identification:
    matched: bool


def identify(registry: CivilRegistry, ownership: MobileOwnership, national_id: str, mobile: str) -> Identification:
    """Whether the mobile is the one registered to the national ID.

    Raises RegistryUnavailable when either port cannot answer (fail closed)."""
    person = registry.find(national_id)
    if person is None:
        return Identification(False)
    return Identification(ownership.owns(national_id, mobile))


def account_for(national_id: str) -> Account:
    """The citizen's account, created at the first sign-in."""
    account = db.session.execute(select(Account).where(Account.national_id == national_id)).scalar_one_or_none()
    if account is None:
        account = Account(national_id=national_id)
        db.session.add(account)
    account.last_login_at = utcnow()
    db.session.commit()
    return account
