"""Identify a citizen from what they typed, against the registry and ownership ports."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from flask import g
from sqlalchemy import bindparam

from ..adapters.registry import CivilRegistry, MobileOwnership
from ..db import attach, execute, upsert_insert, utcnow
from ..models import Account
from ..models.accounts import new_public_sub


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


def account_for(national_id: str) -> Account:
    """The citizen's account, created at the first sign-in, its last sign-in set to now: one
    statement (an upsert), in the caller's transaction (the caller commits it with the
    sign-in it belongs to). An account this call created is noted for the request
    (``created_in_request``): it has no consent to look up yet."""
    sub = new_public_sub()
    row = execute(_upsert(upsert_insert()), {"nid": national_id, "sub": sub, "now": utcnow()}).one()
    account = attach(Account, row._mapping)
    if account.public_sub == sub:  # inserted now: an existing account keeps its own (random) subject
        g.account_created = account.id
    return account


def created_in_request(account_id: int) -> bool:
    """Whether this request's sign-in created the account (its first sign-in)."""
    return g.get("account_created") == account_id


@functools.cache
def _upsert(insert):
    """``INSERT ... ON CONFLICT (national_id) DO UPDATE SET last_login_at ... RETURNING`` the
    account's columns, built once per database."""
    table = Account.__table__
    statement = insert(table).values(national_id=bindparam("nid"), public_sub=bindparam("sub"),
                                     created_at=bindparam("now"), last_login_at=bindparam("now"), is_admin=False)
    return statement.on_conflict_do_update(
        index_elements=[table.c.national_id], set_={"last_login_at": statement.excluded.last_login_at},
    ).returning(*table.columns)
