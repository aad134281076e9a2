"""The key-value store port: short-lived state shared by every worker and host.

Interactions, one-time-code challenges, browser sessions and replay caches
live here. ``sql`` (the embedded default) keeps them in the database;
``redis`` is for production (``IDP_REDIS_URL``).
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ..db import db, utcnow
from ..models import KVEntry


class StoreUnavailable(RuntimeError):
    """The store could not be reached; callers fail closed."""


class KeyValueStore(Protocol):
    def get(self, key: str) -> dict | None: ...
    def put(self, key: str, value: dict, ttl: int) -> None: ...
    def put_many(self, items: list[tuple[str, dict, int]]) -> None: ...
    def add(self, key: str, value: dict, ttl: int) -> bool: ...
    def delete(self, key: str) -> bool: ...
    def incr(self, key: str, ttl: int, amount: int = 1) -> int: ...
    def count(self, key: str) -> int: ...
    def expires_at(self, key: str) -> float | None: ...


class SqlStore:
    """Rows in ``kv_entries``; expired rows read as absent and are swept lazily."""

    def get(self, key):
        row = db.session.get(KVEntry, key)
        if row is None or row.expires_at <= utcnow():
            return None
        return json.loads(row.value)

    def put(self, key, value, ttl):
        self.put_many([(key, value, ttl)])

    def put_many(self, items):
        """Several (key, value, ttl) at once, in one commit."""
        for key, value, ttl in items:
            row = db.session.get(KVEntry, key)
            expires = utcnow() + timedelta(seconds=ttl)
            data = json.dumps(value).encode()
            if row is None:
                db.session.add(KVEntry(key=key, value=data, expires_at=expires))
            else:
                row.value, row.expires_at = data, expires
        db.session.commit()

    def add(self, key, value, ttl):
        """Insert only if absent (or expired); True when this call created it."""
        self._sweep(key)
        db.session.add(KVEntry(key=key, value=json.dumps(value).encode(),
                               expires_at=utcnow() + timedelta(seconds=ttl)))
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            return False
        return True

    def delete(self, key):
        """True only when a live entry was removed (as Redis' DEL of a key that has not expired)."""
        result = db.session.execute(delete(KVEntry).where(KVEntry.key == key, KVEntry.expires_at > utcnow()))
        self._sweep(key)
        db.session.commit()
        return result.rowcount > 0

    def incr(self, key, ttl, amount=1):
        self._sweep(key)
        for _ in range(3):
            row = db.session.execute(
                select(KVEntry).where(KVEntry.key == key).with_for_update()
            ).scalar_one_or_none()
            if row is None:
                if self.add(key, {"n": amount}, ttl):
                    return amount
                continue
            count = json.loads(row.value)["n"] + amount
            row.value = json.dumps({"n": count}).encode()
            db.session.commit()
            return count
        raise StoreUnavailable("counter contention")

    def count(self, key):
        value = self.get(key)
        return value["n"] if value else 0

    def expires_at(self, key):
        row = db.session.get(KVEntry, key)
        if row is None or row.expires_at <= utcnow():
            return None
        return row.expires_at.timestamp()

    def _sweep(self, key):
        db.session.execute(delete(KVEntry).where(KVEntry.key == key, KVEntry.expires_at <= utcnow()))


class RedisStore:
    def __init__(self, url: str, prefix: str = "panjereh:"):
        import redis  # imported here: only production needs it

        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._prefix = prefix
        self._errors = redis.RedisError

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except self._errors as exc:
            raise StoreUnavailable(str(exc)) from exc

    def get(self, key):
        raw = self._call(self._redis.get, self._prefix + key)
        return None if raw is None else json.loads(raw)

    def put(self, key, value, ttl):
        self._call(lambda: self._redis.set(self._prefix + key, json.dumps(value), ex=ttl))

    def put_many(self, items):
        def run():
            pipe = self._redis.pipeline(transaction=False)
            for key, value, ttl in items:
                pipe.set(self._prefix + key, json.dumps(value), ex=ttl)
            pipe.execute()
        if items:
            self._call(run)

    def add(self, key, value, ttl):
        return bool(self._call(lambda: self._redis.set(self._prefix + key, json.dumps(value), ex=ttl, nx=True)))

    def delete(self, key):
        return self._call(self._redis.delete, self._prefix + key) > 0

    def incr(self, key, ttl, amount=1):
        def run():
            pipe = self._redis.pipeline()
            pipe.incrby(self._prefix + key, amount)
            pipe.expire(self._prefix + key, ttl, nx=True)
            return pipe.execute()[0]
        return self._call(run)

    def count(self, key):
        raw = self._call(self._redis.get, self._prefix + key)
        return int(raw) if raw is not None else 0

    def expires_at(self, key):
        ttl = self._call(self._redis.pttl, self._prefix + key)
        return None if ttl is None or ttl < 0 else time.time() + ttl / 1000


def create_store(redis_url: str) -> KeyValueStore:
    return RedisStore(redis_url) if redis_url else SqlStore()
