"""Client lookups on the hot paths (token, introspection, userinfo), cached per process.

A cached client is a transient copy of its row (and its agency's), rebuilt for
each request, so nothing is shared between requests or threads. The cache is
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
        self._rows: dict[str, tuple[dict, dict] | None] = {}
        self._stamp = None
        self._checked = 0.0
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

    def get(self, client_id: str) -> Client | None:
        """A transient copy of the client, or None when there is no such client."""
        self._fresh()
        if client_id not in self._rows:
            row = db.session.execute(select(Client).where(Client.client_id == client_id)).scalar_one_or_none()
            entry = None
            if row is not None:
                entry = ({k: getattr(row, k) for k in _CLIENT_COLUMNS},
                         {k: getattr(row.agency, k) for k in _AGENCY_COLUMNS})
            with self._lock:
                if len(self._rows) > 10_000:
                    self._rows.clear()
                self._rows[client_id] = entry
        entry = self._rows.get(client_id)
        if entry is None:
            return None
        client_data, agency_data = entry
        client = Client(**client_data)
        client.agency = Agency(**agency_data)
        return client
