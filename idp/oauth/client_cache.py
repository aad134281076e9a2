"""Client lookups on the hot paths (token, introspection, userinfo), cached per process.

A cached client is a transient copy of its row (and its agency's), built once
and shared by every request of the process: it is never added to a session and
never written to (callers only read it). The cache is
dropped whenever the clients table changes: every process compares
``max(updated_at)`` and the row count at most every ``check_seconds``
(``IDP_CLIENT_CACHE_SECONDS``, default 1), so a suspension or a new secret
takes effect on every worker and host within that time. Every change to a
client goes through the ORM, which stamps ``updated_at``.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, inspect, select

from ..db import db
from ..models import Agency, Client

_CLIENT_COLUMNS = [c.key for c in inspect(Client).column_attrs]
_AGENCY_COLUMNS = [c.key for c in inspect(Agency).column_attrs]


class ClientCache:
    def __init__(self, check_seconds: float = 1.0):
        self.check_seconds = check_seconds
        self._rows: dict[str, Client | None] = {}
        self._stamp = None
        self._checked = 0.0
        self._generation = 0  # bumped on every clear: a lookup begun before it is not kept
        self._lock = threading.Lock()

    def _fresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < self.check_seconds and self._stamp is not None:
            return
        stamp = tuple(db.session.execute(select(func.max(Client.updated_at), func.count(Client.id))).one())
        with self._lock:
            self._checked = now
            if stamp != self._stamp:
                self._rows.clear()
                self._stamp = stamp
                self._generation += 1

    def get(self, client_id: str) -> Client | None:
        """The shared read-only copy of the client, or None when there is no such client."""
        self._fresh()
        try:
            return self._rows[client_id]
        except KeyError:
            pass
        generation = self._generation
        row = db.session.execute(select(Client).where(Client.client_id == client_id)).scalar_one_or_none()
        copy = None
        if row is not None:
            copy = Client(**{k: getattr(row, k) for k in _CLIENT_COLUMNS})
            copy.agency = Agency(**{k: getattr(row.agency, k) for k in _AGENCY_COLUMNS})
        with self._lock:
            if generation == self._generation:
                if len(self._rows) > 10_000:
                    self._rows.clear()
                self._rows[client_id] = copy
        return copy
