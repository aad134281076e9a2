"""Administrators: citizens' accounts with ``is_admin`` (``idp admins grant|revoke``).

An account is created at a citizen's first sign-in; granting the role to a
national ID that has not signed in yet creates its account, so the role is
waiting when they do."""

from __future__ import annotations

from sqlalchemy import select

from ..db import db
from ..models import Account
from ..text import normalize_national_id
from .actors import Actor, find_account
from .record import Action, record


def grant_admin(actor: Actor, national_id: str) -> Account:
    account = find_account(national_id)  # validates the national ID
    if account is None:
        account = Account(national_id=normalize_national_id(national_id))
        db.session.add(account)
        db.session.flush()
    if not account.is_admin:
        account.is_admin = True
        record(actor, Action.ADMIN_GRANTED, "account", account.id, before={"is_admin": False},
               after={"is_admin": True})
    db.session.commit()
    return account


def revoke_admin(actor: Actor, national_id: str) -> Account | None:
    account = find_account(national_id)
    if account is None or not account.is_admin:
        return account
    account.is_admin = False
    record(actor, Action.ADMIN_REVOKED, "account", account.id, before={"is_admin": True}, after={"is_admin": False})
    db.session.commit()
    return account


def administrators() -> list[Account]:
    return list(db.session.execute(select(Account).where(Account.is_admin.is_(True)).order_by(Account.id)).scalars())


__all__ = ["administrators", "grant_admin", "revoke_admin"]
