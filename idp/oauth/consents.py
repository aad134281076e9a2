"""What a citizen allowed each service to receive: remembered consent, read and written on the
sign-in path with statements built once."""

from __future__ import annotations

import functools

from sqlalchemy import bindparam, select

from ..db import db, upsert_insert, utcnow
from ..models import Consent

_CONSENTS = Consent.__table__
_FOR = (_CONSENTS.c.account_id == bindparam("account"), _CONSENTS.c.client_id == bindparam("client"))
_SCOPE = select(_CONSENTS.c.scope).where(*_FOR)


def consented_scope(account_id: int, client_id: str) -> str | None:
    """The scopes this citizen allowed this service, as stored; None if never asked."""
    return db.session.execute(_SCOPE, {"account": account_id, "client": client_id}).scalar()


def covers(account_id: int, client_id: str, scope: str) -> bool:
    """Whether the citizen already allowed every scope in ``scope`` to this service."""
    granted = consented_scope(account_id, client_id)
    return granted is not None and set(scope.split()) <= set(granted.split())


def remember(account_id: int, client_id: str, scope: str) -> None:
    """Record the citizen's consent in the request's transaction (the caller commits it with
    what it leads to, the code); a consent already given grows to cover the new scopes. One
    upsert: the same answer submitted twice at once (a double tap on "Allow") is not an error."""
    granted = consented_scope(account_id, client_id)
    if granted is not None:
        scope = " ".join(sorted(set(granted.split()) | set(scope.split())))
    now = utcnow()
    db.session.execute(_upsert(upsert_insert()), {"account_id": account_id, "client_id": client_id,
                                                  "scope": scope, "created_at": now, "updated_at": now})


@functools.cache
def _upsert(insert):
    statement = insert(_CONSENTS)
    return statement.on_conflict_do_update(
        index_elements=[_CONSENTS.c.account_id, _CONSENTS.c.client_id],
        set_={"scope": statement.excluded.scope, "updated_at": statement.excluded.updated_at})
