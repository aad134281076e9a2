"""The key-value store port: short-lived state shared by every worker and host.

Interactions, one-time-code challenges, browser sessions and replay caches
live here. ``sql`` (the embedded default) keeps them in the database;
``redis`` is for production (``IDP_REDIS_URL``).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import weakref
from datetime import timedelta
from select import POLLIN, poll
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ..db import db, utcnow
from ..models import KVEntry


log = logging.getLogger(__name__)


def _after_fork(owner, method) -> None:
    """``method(owner)`` in a forked child, for as long as ``owner`` lives (a check of the process id
    at every use would cost a system call each time)."""
    ref = weakref.ref(owner)

    def forked():
        alive = ref()
        if alive is not None:
            method(alive)

    os.register_at_fork(after_in_child=forked)


class StoreUnavailable(RuntimeError):
    """The store could not be reached; callers fail closed."""


class KeyValueStore(Protocol):
    def get(self, key: str) -> dict | None: ...
    def get_many(self, keys: list[str]) -> list[dict | None]: ...
    def put(self, key: str, value: dict, ttl: int) -> None: ...
    def put_many(self, items: list[tuple[str, dict, int]]) -> None: ...
    def add(self, key: str, value: dict, ttl: int) -> bool: ...
    def delete(self, key: str) -> bool: ...
    def move(self, old_key: str, key: str, value: dict, ttl: int) -> None: ...
    def take(self, key: str) -> bool: ...
    def incr(self, key: str, ttl: int, amount: int = 1) -> int: ...
    def get_counting(self, key: str, counter: str, ttl: int) -> tuple[dict | None, int]: ...
    def count(self, key: str) -> int: ...
    def expires_at(self, key: str) -> float | None: ...


class SqlStore:
    """Rows in ``kv_entries``; expired rows read as absent and are swept lazily."""

    def get(self, key):
        row = db.session.get(KVEntry, key)
        if row is None or row.expires_at <= utcnow():
            return None
        return json.loads(row.value)

    def get_many(self, keys):
        return [self.get(key) for key in keys]

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

    def move(self, old_key, key, value, ttl):
        """``value`` under ``key`` and nothing under ``old_key`` any more, in one commit."""
        db.session.execute(delete(KVEntry).where(KVEntry.key == old_key))
        self.put(key, value, ttl)

    def delete(self, key):
        """True only when a live entry was removed (as Redis' DEL of a key that has not expired)."""
        removed = self.take(key)
        self._sweep(key)
        db.session.commit()
        return removed

    def take(self, key):
        """Remove a live entry inside the caller's transaction (the caller commits, or rolls back and
        the entry is there again); True for the one caller that removed it (the row lock decides)."""
        result = db.session.execute(delete(KVEntry).where(KVEntry.key == key, KVEntry.expires_at > utcnow()))
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

    def get_counting(self, key, counter, ttl):
        """``get(key)`` and ``incr(counter, ttl)``: the value and the count that includes this call."""
        return self.get(key), self.incr(counter, ttl)

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


class NearCache:
    """This worker's own copy of the keys under some prefixes, kept coherent by Redis.

    Redis's server-assisted client-side caching (``CLIENT TRACKING … BCAST PREFIX``, Redis
    6.0 and later) tells one connection of ours, as a Pub/Sub message, every key under those
    prefixes that anyone, on any host, changes. Before answering from the copy we apply every
    such message that has reached us (one poll of that connection's socket, a system call, when
    nothing has). Redis sends those messages in the same pass as its answer to the writer, and
    a writer of these keys makes one more round trip before it returns (RedisStore._written):
    so once a revocation has returned on one host, every worker on every host has been sent
    the message, and its next read applies it as soon as it has arrived: on the same host at
    once, across a healthy network within microseconds. When that connection is lost, the copy
    is dropped and every read goes to Redis until it is back. And since a message can be late
    (a network that loses packets and resends them), the copy is used only while it is known
    to be recent: a PING goes out every tenth of a second, and its PONG, behind every message
    Redis sent before it, proves the copy held everything up to the moment the PING left; a
    copy not so proven for a quarter of a second is not used (reads go to Redis).

    Values are shared between readers: callers must not change them."""

    CHANNEL = "__redis__:invalidate"
    PING_AFTER = 0.1  # seconds after the last proof before we ask again
    FRESH_FOR = 0.25  # the copy is used only while it is proven complete up to this recently
    GIVE_UP_AFTER = 2.0  # an unanswered PING this old: the connection is lost

    def __init__(self, pool, prefixes: tuple[str, ...], max_entries: int = 2048, max_age: float = 300.0):
        self._pool = pool  # the store's connection pool: its class and settings (address, TLS, password)
        self.prefixes = prefixes
        self._max_entries = max_entries  # about 1.5 KB each: at most ~3 MB per worker
        self._max_age = max_age
        self._entries: dict[str, tuple[float, object]] = {}  # key -> (good until, value)
        self._lock = threading.Lock()
        self._conn = None
        self._waiting = None  # a poll of the tracking connection's socket
        self._unread = False  # messages may wait in its parser (just connected)
        self.connection_id = None  # the tracking connection's id at the server (CLIENT LIST shows it)
        self._retry_at = 0.0
        self._generation = 0  # changes with every invalidation applied: a read that spans one is not kept
        self._proven = 0.0  # every message Redis sent before this moment has been applied
        self._ping_sent = None
        self.unsupported = False  # the server refused CLIENT TRACKING: every read goes to Redis
        _after_fork(self, NearCache._forked)

    def _forked(self) -> None:
        """In a forked worker: the parent's connection and copy are not ours."""
        self._lock = threading.Lock()
        self._conn = None
        self._entries.clear()

    def get(self, key: str, fetch):
        with self._lock:
            live = self._listening()
            if live:
                hit = self._entries.get(key)
                if hit is not None and hit[0] > time.monotonic():
                    return hit[1]
            generation = self._generation
        value = fetch()
        if live:
            with self._lock:
                if self._generation == generation and self._conn is not None:
                    if len(self._entries) >= self._max_entries:
                        self._entries.clear()
                    self._entries[key] = (time.monotonic() + self._max_age, value)
        return value

    def forget(self, key: str) -> None:
        """Our own write: drop the copy now (Redis's message will follow)."""
        with self._lock:
            self._entries.pop(key, None)
            self._generation += 1

    def _listening(self) -> bool:
        """Connected, with every invalidation that has reached us applied."""
        import redis

        if self._conn is None:
            if self.unsupported or time.monotonic() < self._retry_at:
                return False
            try:
                self._connect()
            except redis.ResponseError as exc:  # a server (or proxy) without client tracking: Redis < 6
                self.unsupported = True
                log.warning("Redis refused client tracking (%s): token records are read from Redis "
                            "on every request", exc)
                return False
            except (redis.RedisError, OSError):
                self._retry_at = time.monotonic() + 1.0
                return False
        try:
            if self._unread or self._waiting.poll(0):  # usually neither: one system call, no timeout changes
                self._unread = False
                while self._conn.can_read(timeout=0):  # the parser's buffer, then the socket
                    self._apply(self._conn.read_response())
            now = time.monotonic()
            if self._ping_sent is None and now - self._proven > self.PING_AFTER:
                self._conn.send_command("PING")
                self._ping_sent = now
        except (redis.RedisError, OSError, ValueError):
            self._lost()
            return False
        if self._ping_sent is not None and now - self._ping_sent > self.GIVE_UP_AFTER:
            self._lost()
            return False
        return now - self._proven <= self.FRESH_FOR

    def _connect(self) -> None:
        # RESP2, raw bytes and no health-check PINGs of its own, whatever the URL's options
        conn = self._pool.connection_class(**dict(self._pool.connection_kwargs, protocol=2, decode_responses=False,
                                                  health_check_interval=0))
        try:
            conn.connect()
            conn.send_command("CLIENT", "ID")
            own_id = self.connection_id = conn.read_response()
            prefixes = [part for prefix in self.prefixes for part in ("PREFIX", prefix)]
            conn.send_command("CLIENT", "TRACKING", "ON", "REDIRECT", own_id, "BCAST", *prefixes)
            conn.read_response()
            conn.send_command("SUBSCRIBE", self.CHANNEL)
            conn.read_response()
        except BaseException:
            conn.disconnect()
            raise
        # bytes waiting on its socket: between two checks the parser holds no whole message (each check
        # reads until it has none; ``_unread``: the subscription's reply may have come with messages),
        # so the socket tells whether anything new has come
        waiting = poll()
        waiting.register(conn._sock.fileno(), POLLIN)
        self._entries.clear()  # anything kept before now was not watched
        self._generation += 1
        self._conn, self._waiting, self._unread = conn, waiting, True
        self._proven, self._ping_sent = time.monotonic(), None  # subscribed before anything was kept

    def _apply(self, message) -> None:
        if message == [b"pong", b""]:  # everything sent before our PING has been applied
            self._proven, self._ping_sent = self._ping_sent or self._proven, None
            return
        if not (isinstance(message, list) and len(message) == 3 and message[0] == b"message"
                and message[1] == self.CHANNEL.encode()):
            raise ValueError(f"unexpected message on the tracking connection: {message!r:.100}")  # fail closed
        self._generation += 1
        keys = message[2]
        if keys is None:  # the database was flushed
            self._entries.clear()
            return
        for key in keys:
            self._entries.pop(key.decode() if isinstance(key, bytes) else key, None)

    def _lost(self) -> None:
        conn, self._conn = self._conn, None
        self._ping_sent = None
        self._entries.clear()
        self._generation += 1
        self._retry_at = time.monotonic() + 1.0
        if conn is not None:
            conn.disconnect()


class RedisStore:
    def __init__(self, url: str, prefix: str = "panjereh:", near: tuple[str, ...] = ()):
        import redis  # imported here: only production needs it

        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)  # pooled: pipelines
        self._single = None  # the process's own connection for single commands (see _command)
        self._making = threading.Lock()
        self._connection_errors = redis.ConnectionError  # not a timeout: Redis is there, and slow
        self._prefix = prefix
        self._errors = redis.RedisError
        # keys read far more often than written (token records): each worker keeps a coherent copy
        self._near = NearCache(self._redis.connection_pool, tuple(prefix + p for p in near)) if near else None
        _after_fork(self, RedisStore._forked)

    def _forked(self) -> None:
        self._single = None  # a forked child: the parent's connection is not its own
        self._making = threading.Lock()

    def _is_near(self, full_key: str) -> bool:
        return self._near is not None and full_key.startswith(self._near.prefixes)

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except self._errors as exc:
            raise StoreUnavailable(str(exc)) from exc

    def _command(self, fn, read: bool = False):
        """``fn(client)`` for one command, on the process's own connection. A command through the pool
        pays the pool's checks of the connection it lends, before every command: a read that must find
        nothing, two changes of the socket's timeout and two process-id checks (five system calls, a
        third of a sign-in's). This connection is used under a lock (redis-py's single-connection
        client) and, after an error, reconnects at the next command. It is made at the first command,
        inside the error handling (Redis down when a worker starts is a clean 503 and a later retry,
        not a worker that cannot start), and again in a forked child. ``read``: a command that changes
        nothing, sent once more on a fresh connection when the connection turns out to be gone."""
        try:
            client = self._single or self._make_single()
            with client.single_connection_lock:  # the check and the command, one thread at a time
                now = time.monotonic()
                if now - self._used_at > self.REST:
                    self._check_rested(client.connection)
                self._used_at = now
                try:
                    return fn(client)
                except self._connection_errors:
                    if not read:
                        raise  # a write may have been applied: never sent twice (``take`` decides single use)
                    client.connection.disconnect()  # Redis restarted, or a proxy closed it: once more
                    return fn(client)
        except self._errors as exc:
            raise StoreUnavailable(str(exc)) from exc

    def _make_single(self):
        with self._making:
            if self._single is None:
                self._single = type(self._redis)(connection_pool=self._redis.connection_pool,
                                                 single_connection_client=True)
            return self._single

    #: a connection unused this long is checked before its next command (Redis's own idle timeout, a
    #: proxy's, or a restart may have closed it meanwhile)
    REST = 1.0
    _used_at = 0.0

    def _check_rested(self, conn) -> None:
        """As the pool checks a connection it lends (and only for one that rested): one the server
        closed, or with data nobody asked for, is replaced before the command, not failed by it."""
        try:
            stale = conn.can_read()
        except (self._errors, OSError):
            stale = True
        if stale:
            conn.disconnect()  # the command reconnects

    def get(self, key):
        full = self._prefix + key

        def fetch():
            raw = self._command(lambda r: r.get(full), read=True)
            return None if raw is None else json.loads(raw)

        return self._near.get(full, fetch) if self._is_near(full) else fetch()

    def get_many(self, keys):
        """Several values in one round trip (``MGET``); near-cached keys are read as ``get`` reads them."""
        if any(self._is_near(self._prefix + key) for key in keys):
            return [self.get(key) for key in keys]
        raws = self._command(lambda r: r.mget([self._prefix + key for key in keys]), read=True)
        return [None if raw is None else json.loads(raw) for raw in raws]

    def _written(self, *full_keys: str, barrier: bool = True) -> None:
        """After a write to near-cached keys: drop our own copies now, and (``barrier``) make one
        more round trip. Redis writes the invalidation messages of a command in the same pass
        as its reply, possibly just after it; once a later command's reply is back, that pass
        is over and the message is on its way to every other worker, which applies it before
        its next read from the copy (see NearCache for how late it may be and what then)."""
        near = [key for key in full_keys if self._is_near(key)]
        if not near:
            return
        for key in near:
            self._near.forget(key)
        if barrier:
            self._command(lambda r: r.ping(), read=True)

    def put(self, key, value, ttl):
        full = self._prefix + key
        self._command(lambda r: r.set(full, json.dumps(value), ex=ttl))
        self._written(full)

    def put_many(self, items):
        def run():
            pipe = self._redis.pipeline(transaction=False)
            for key, value, ttl in items:
                pipe.set(self._prefix + key, json.dumps(value), ex=ttl)
            pipe.execute()
        if items:
            self._call(run)
            self._written(*(self._prefix + key for key, _value, _ttl in items))

    def add(self, key, value, ttl):
        full = self._prefix + key
        added = bool(self._command(lambda r: r.set(full, json.dumps(value), ex=ttl, nx=True)))
        # no barrier: an added key is new (a token's record written as it is issued, before anyone holds it)
        self._written(full, barrier=False)
        return added

    def delete(self, key):
        full = self._prefix + key
        deleted = self._command(lambda r: r.delete(full)) > 0
        self._written(full)
        return deleted

    def move(self, old_key, key, value, ttl):
        """``value`` under ``key`` and nothing under ``old_key`` any more: both or neither, in one
        round trip (MULTI ... EXEC)."""
        full = self._prefix + key

        def run():
            pipe = self._redis.pipeline()
            pipe.set(full, json.dumps(value), ex=ttl)
            pipe.delete(self._prefix + old_key)
            pipe.execute()
        self._call(run)
        self._written(full, self._prefix + old_key)

    def take(self, key):
        """Remove the entry; True for the one caller that removed it. (Redis has no transaction
        shared with the database: this is a plain DEL, final at once.)"""
        return self.delete(key)

    def incr(self, key, ttl, amount=1):
        def run():
            pipe = self._redis.pipeline()
            self._count(pipe, key, ttl, amount)
            return pipe.execute()[0]
        return self._call(run)

    def _count(self, pipe, key, ttl, amount=1) -> None:
        """A counter's increment on ``pipe``: its lifetime is set by the first one (EXPIRE NX)."""
        pipe.incrby(self._prefix + key, amount)
        pipe.expire(self._prefix + key, ttl, nx=True)

    def get_counting(self, key, counter, ttl):
        """A value read and a try counted in one round trip (GET, INCR, EXPIRE NX)."""
        full = self._prefix + key
        if self._is_near(full):
            return self.get(key), self.incr(counter, ttl)

        def run():
            pipe = self._redis.pipeline()
            pipe.get(full)
            self._count(pipe, counter, ttl)
            raw, count, _set = pipe.execute()
            return (None if raw is None else json.loads(raw)), count
        return self._call(run)

    def count(self, key):
        raw = self._command(lambda r: r.get(self._prefix + key), read=True)
        return int(raw) if raw is not None else 0

    def expires_at(self, key):
        ttl = self._command(lambda r: r.pttl(self._prefix + key), read=True)
        return None if ttl is None or ttl < 0 else time.time() + ttl / 1000


def create_store(redis_url: str, near: tuple[str, ...] = ()) -> KeyValueStore:
    """``near``: key prefixes each worker may keep a coherent copy of (Redis only; see NearCache)."""
    return RedisStore(redis_url, near=near) if redis_url else SqlStore()
