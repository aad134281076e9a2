"""What a citizen allowed each service to receive: remembered consent, read and written on the
sign-in path with statements built once."""

from __future__ import annotations

import functools

from sqlalchemy import bindparam, select, update

from ..db import execute, upsert_insert, utcnow
from ..models import Consent

_CONSENTS = Consent.__table__
_FOR = (_CONSENTS.c.account_id == bindparam("account"), _CONSENTS.c.client_id == bindparam("client"))
_SCOPE = select(_CONSENTS.c.scope).where(*_FOR)
_SCOPE_LOCKED = _SCOPE.with_for_update()  # PostgreSQL: until the commit (SQLite: writers take turns anyway)
_WIDEN = update(_CONSENTS).where(*_FOR).values(scope=bindparam("merged"), updated_at=bindparam("at"))


def consented_scope(account_id: int, client_id: str) -> str | None:
    """The scopes this citizen allowed this service, as stored; None if never asked."""
    return execute(_SCOPE, {"account": account_id, "client": client_id}).scalar()


def covers(account_id: int, client_id: str, scope: str) -> bool:
    """Whether the citizen already allowed every scope in ``scope`` to this service."""
    granted = consented_scope(account_id, client_id)
    return granted is not None and set(scope.split()) <= set(granted.split())


def remember(account_id: int, client_id: str, scope: str) -> None:
    """Record the citizen's consent in the request's transaction (the caller commits it with
    what it leads to, the code). A first consent is one insert; a consent already given grows
    to cover the new scopes, read under a row lock, so answers given at once (a double tap on
    "Allow", two tabs) are neither an error nor lost: each waits for the other and adds to it."""
    now = utcnow()
    inserted = execute(_insert_new(upsert_insert()), {
        "account_id": account_id, "client_id": client_id, "scope": scope, "created_at": now, "updated_at": now,
    }).first()
    if inserted is not None:
        return
    key = {"account": account_id, "client": client_id}
    granted = execute(_SCOPE_LOCKED, key).scalar_one()
    merged = " ".join(sorted(set(granted.split()) | set(scope.split())))
    if merged != granted:
        execute(_WIDEN, {**key, "merged": merged, "at": now})


@functools.cache
def _insert_new(insert):
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING id``: a row back only when this call created it."""
    return insert(_CONSENTS).on_conflict_do_nothing().returning(_CONSENTS.c.id)
