"""The key-value store contract, run against the SQL store and against a real Redis server."""

from __future__ import annotations

import os
import time
import uuid
from datetime import timedelta
from typing import Callable

import pytest

from idp.adapters.store import NearCache, RedisStore, SqlStore, StoreUnavailable

REDIS_URL = "redis://127.0.0.1:6379/15"


def check_store_contract(store, advance: Callable[[float], None]) -> None:
    """What every KeyValueStore promises. ``advance(seconds)`` lets that much time pass for the store."""
    value = {"national_id": "0012345679", "name": "زهرا", "nested": {"n": [1, 2, 3]}, "flag": True, "none": None}

    # get / put
    assert store.get("missing") is None
    store.put("a", value, 60)
    assert store.get("a") == value
    store.put("a", {"v": 2}, 60)  # put overwrites
    assert store.get("a") == {"v": 2}
    assert store.get("b") is None  # keys are independent
    assert store.get_many(["a", "missing", "a"]) == [{"v": 2}, None, {"v": 2}]  # in order, None where absent

    # add: only when absent
    assert store.add("b", {"v": "first"}, 60) is True
    assert store.add("b", {"v": "second"}, 60) is False
    assert store.get("b") == {"v": "first"}
    assert store.add("a", {"v": "x"}, 60) is False  # present through put, too

    # delete: True only when something was deleted
    assert store.delete("b") is True
    assert store.delete("b") is False
    assert store.get("b") is None
    assert store.delete("never-there") is False
    assert store.add("b", {"v": "again"}, 60) is True  # absent again after delete

    # move: the value under the new key, nothing under the old one (a session's new id at sign-in)
    store.put("old-id", {"v": "before"}, 60)
    store.move("old-id", "new-id", {"v": "after"}, 60)
    assert store.get("old-id") is None and store.get("new-id") == {"v": "after"}
    store.move("never-there", "new-id", {"v": "again"}, 60)  # nothing to remove: a put
    assert store.get("new-id") == {"v": "again"}
    assert store.delete("new-id") is True

    # incr: a counter from 1
    assert store.incr("c", 60) == 1
    assert store.incr("c", 60) == 2
    assert store.incr("c", 60) == 3
    assert store.incr("other-counter", 60) == 1
    assert store.delete("c") is True
    assert store.incr("c", 60) == 1

    # expiry: one timeline for every kind of entry (nothing here depends on how fast the calls run)
    store.put("short", {"v": 1}, 1)
    assert store.add("short-add", {"v": 1}, 1) is True
    assert store.incr("short-counter", 1) == 1
    assert store.incr("short-counter", 1) == 2
    store.put("short-delete", {"v": 1}, 1)
    store.put("long", {"v": 1}, 60)
    advance(1.2)
    assert store.get("short") is None
    assert store.get("short-add") is None
    assert store.add("short-add", {"v": 2}, 60) is True  # an expired entry counts as absent
    assert store.get("short-add") == {"v": 2}
    assert store.incr("short-counter", 60) == 1  # an expired counter starts again
    assert store.delete("short-delete") is False  # an expired entry is absent for delete too
    assert store.get("long") == {"v": 1}
    assert store.get_many(["short", "long"]) == [None, {"v": 1}]
    store.put("short", {"v": 3}, 60)  # put revives an expired key with the new lifetime
    assert store.get("short") == {"v": 3}
    assert store.delete("short") is True
    # a value read and a try counted together: the count includes this try, absent or not
    assert store.get_counting("long", "long-tries", 1) == ({"v": 1}, 1)
    assert store.get_counting("long", "long-tries", 60) == ({"v": 1}, 2)
    assert store.get_counting("nothing", "nothing-tries", 60) == (None, 1)
    advance(1.2)
    assert store.get_counting("long", "long-tries", 60) == ({"v": 1}, 1)  # the first try set the lifetime


def check_optional_counters(store) -> None:
    """``incr`` by an amount, ``count`` and ``expires_at``, where the store has them."""
    if not all(hasattr(store, name) for name in ("count", "expires_at")):
        pytest.skip("this store version has no count/expires_at")
    assert store.count("n") == 0
    assert store.incr("n", 60, 5) == 5
    assert store.incr("n", 60) == 6
    assert store.count("n") == 6
    assert store.expires_at("missing") is None
    deadline = store.expires_at("n")
    assert deadline is not None and time.time() + 50 < deadline <= time.time() + 61
    # a counter's lifetime is set by its first increment; later ones do not extend it
    store.incr("n", 3600)
    assert store.expires_at("n") == pytest.approx(deadline, abs=2)


# --- the SQL store ---

@pytest.fixture
def app(bare_app):
    return bare_app



@pytest.fixture
def sql_store(app, monkeypatch):
    """The SQL store, with the clock it reads moved by ``advance``."""
    import idp.adapters.store as module

    offset = [0.0]
    real = module.utcnow
    monkeypatch.setattr(module, "utcnow", lambda: real() + timedelta(seconds=offset[0]))

    def advance(seconds):
        offset[0] += seconds

    with app.app_context():
        yield SqlStore(), advance


def test_sql_store_contract(sql_store):
    store, advance = sql_store
    check_store_contract(store, advance)


def test_sql_store_counters(sql_store):
    check_optional_counters(sql_store[0])


def test_sql_store_keeps_values_as_json_rows(sql_store):
    from idp.db import db
    from idp.models import KVEntry

    store, _advance = sql_store
    store.put("row", {"v": 1}, 60)
    row = db.session.get(KVEntry, "row")
    assert row.value == b'{"v": 1}'


def test_sql_store_sweeps_expired_rows_on_write(sql_store):
    from idp.db import db
    from idp.models import KVEntry

    store, advance = sql_store
    store.add("gone", {"v": 1}, 1)
    advance(2)
    assert store.add("gone", {"v": 2}, 60) is True
    assert db.session.get(KVEntry, "gone") is not None
    assert db.session.execute(db.select(db.func.count()).select_from(KVEntry)).scalar() == 1


# --- the Redis store, on a real server ---

@pytest.fixture
def redis_store():
    pytest.importorskip("redis")
    prefix = f"panjereh-test-{uuid.uuid4().hex}:"
    store = RedisStore(REDIS_URL, prefix=prefix)
    try:
        store._redis.ping()
    except Exception as exc:  # noqa: BLE001 - no server here: nothing to test against
        pytest.skip(f"no Redis server at {REDIS_URL}: {exc}")
    yield store
    keys = list(store._redis.scan_iter(match=prefix + "*"))
    if keys:
        store._redis.delete(*keys)
    store._redis.close()


def test_redis_store_contract(redis_store):
    check_store_contract(redis_store, time.sleep)
    assert list(redis_store._redis.scan_iter(match=redis_store._prefix + "*"))  # it really wrote there


def test_redis_store_counters(redis_store):
    check_optional_counters(redis_store)


def test_redis_store_prefix_isolates_deployments(redis_store):
    other = RedisStore(REDIS_URL, prefix=redis_store._prefix + "other:")
    redis_store.put("k", {"v": 1}, 60)
    assert other.get("k") is None
    other.put("k", {"v": 2}, 60)
    assert redis_store.get("k") == {"v": 1}
    other._redis.close()


def test_redis_store_sets_a_ttl_on_everything(redis_store):
    redis_store.put("p", {"v": 1}, 30)
    redis_store.add("a", {"v": 1}, 30)
    redis_store.incr("i", 30)
    for key in ("p", "a", "i"):
        ttl = redis_store._redis.ttl(redis_store._prefix + key)
        assert 0 < ttl <= 30, key


def test_a_connection_closed_while_it_rested_is_replaced_before_the_next_command(redis_store):
    """Redis's idle timeout, a proxy's, or a restart closes a worker's connection between citizens:
    the next citizen is served, not failed."""
    import redis

    redis_store.put("k", {"v": 1}, 60)
    before = redis_store._command(lambda r: r.client_id())
    with redis.Redis.from_url(REDIS_URL) as admin:
        assert admin.client_kill_filter(_id=before) == 1
    redis_store._used_at -= RedisStore.REST + 1  # it rested
    assert redis_store.get("k") == {"v": 1}
    assert redis_store._command(lambda r: r.client_id()) != before


def test_a_read_on_a_connection_lost_a_moment_ago_is_sent_again_and_a_write_is_not(redis_store):
    """Redis restarted (or a proxy closed the connection) under load: a read is sent again on a fresh
    connection; a write fails cleanly, since it may have been applied (a DEL decides single use)."""
    import redis

    redis_store.put("k", {"v": 1}, 60)
    with redis.Redis.from_url(REDIS_URL) as admin:
        admin.client_kill_filter(_id=redis_store._command(lambda r: r.client_id()))
        assert redis_store.get("k") == {"v": 1}  # used a moment ago: not checked first, sent again
        admin.client_kill_filter(_id=redis_store._command(lambda r: r.client_id()))
    with pytest.raises(StoreUnavailable):
        redis_store.put("k", {"v": 2}, 60)
    assert redis_store.get("k") == {"v": 1}


def test_a_forked_worker_uses_a_connection_of_its_own(redis_store):
    """Workers forked from a master that loaded the app (gunicorn's preload): a connection shared with
    the parent would mix their answers."""
    redis_store.put("k", {"v": 1}, 60)
    parent = redis_store._command(lambda r: r.client_id())
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        ok = False
        try:
            ok = redis_store.get("k") == {"v": 1} and redis_store._command(lambda r: r.client_id()) != parent
        finally:
            os.write(write, b"1" if ok else b"0")
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1" and status == 0
    assert redis_store._command(lambda r: r.client_id()) == parent  # the parent's own is untouched


def test_unreachable_redis_fails_closed():
    pytest.importorskip("redis")
    from idp.adapters.store import StoreUnavailable

    store = RedisStore("redis://127.0.0.1:1/0")
    for call in (lambda: store.get("k"), lambda: store.get_many(["k", "j"]), lambda: store.put("k", {}, 1),
                 lambda: store.add("k", {}, 1), lambda: store.delete("k"), lambda: store.incr("k", 1)):
        with pytest.raises(StoreUnavailable):
            call()


# --- the near cache: a worker's coherent copy of read-mostly keys (token records) ---

@pytest.fixture
def near_pair(redis_store):
    """Two hosts on one Redis, both keeping near copies of ``tok:`` keys: ``here`` reads, ``elsewhere`` writes."""
    redis_store._near = NearCache(redis_store._redis.connection_pool, (redis_store._prefix + "tok:",))
    here = RedisStore(REDIS_URL, prefix=redis_store._prefix, near=("tok:",))
    here._near.FRESH_FOR = 30.0  # these tests are about coherence; a slow machine must not make them about time
    reads = []
    client = here._command(lambda r: r)  # the store's own connection, that single commands use
    real_get = client.get
    client.get = lambda key: (reads.append(key), real_get(key))[1]
    yield here, redis_store, reads
    if here._near._conn is not None:
        here._near._conn.disconnect()
    here._redis.close()


def test_near_cache_answers_repeated_reads_from_memory(near_pair):
    here, elsewhere, reads = near_pair
    elsewhere.put("tok:1", {"userinfo": {"name": "زهرا"}}, 60)
    elsewhere.put("other", {"v": 1}, 60)
    for _ in range(5):
        assert here.get("tok:1") == {"userinfo": {"name": "زهرا"}}
        assert here.get("tok:absent") is None  # an absence is remembered too
        assert here.get("other") == {"v": 1}
    full = here._prefix
    assert reads.count(full + "tok:1") == 1 and reads.count(full + "tok:absent") == 1
    assert reads.count(full + "other") == 5  # keys outside the prefixes always go to Redis


def test_near_cache_sees_every_change_made_elsewhere_at_once(near_pair):
    here, elsewhere, _reads = near_pair
    for i in range(200):  # no sleeps: each change is visible on the very next read
        key = f"tok:{i % 7}"
        here.get(key)
        elsewhere.put(key, {"n": i}, 60)
        assert here.get(key) == {"n": i}
        elsewhere.put_many([(key, {"revoked": i}, 60)])
        assert here.get(key) == {"revoked": i}
        if i % 3 == 0:
            assert elsewhere.delete(key)
            assert here.get(key) is None
        elif i % 3 == 1:
            elsewhere._redis.flushdb()  # a flush drops every copy
            elsewhere._redis.ping()  # (the barrier a store write makes by itself)
            assert here.get(key) is None


def test_near_cache_sees_its_own_writes(near_pair):
    here, _elsewhere, _reads = near_pair
    assert here.get("tok:own") is None
    assert here.add("tok:own", {"v": 1}, 60)
    assert here.get("tok:own") == {"v": 1}
    here.put("tok:own", {"v": 2}, 60)
    assert here.get("tok:own") == {"v": 2}


def test_near_cache_lost_connection_drops_the_copy_and_reads_redis(near_pair):
    here, elsewhere, reads = near_pair
    elsewhere.put("tok:k", {"v": 1}, 60)
    assert here.get("tok:k") == {"v": 1}
    # the server drops the tracking connection (a restart, a failover, a proxy's idle timeout)
    assert elsewhere._redis.client_kill_filter(_id=here._near.connection_id) == 1
    elsewhere.put("tok:k", {"v": 2}, 60)  # no message can reach the killed connection
    time.sleep(0.05)
    before = len(reads)
    assert here.get("tok:k") == {"v": 2}
    assert len(reads) == before + 1  # from Redis, not from a copy that can no longer be trusted


def test_near_cache_is_not_used_while_redis_is_silent(near_pair, monkeypatch):
    import idp.adapters.store as module

    here, elsewhere, reads = near_pair
    here._near.FRESH_FOR = 1.0
    elsewhere.put("tok:s", {"v": 1}, 60)
    here.get("tok:s")
    here.get("tok:s")
    assert len(reads) == 1
    real = time.monotonic
    monkeypatch.setattr(module.time, "monotonic", lambda: real() + 1.5)  # 1.5 s with no word from Redis
    assert here.get("tok:s") == {"v": 1}
    assert len(reads) == 2  # not answered from memory: the copy might have missed a change


def test_near_cache_steps_aside_on_a_server_without_client_tracking(near_pair, monkeypatch):
    here, elsewhere, reads = near_pair
    near = here._near
    real = near._pool.connection_class

    class NoTracking(real):  # as a proxy or a Redis older than 6 answers CLIENT TRACKING
        def send_command(self, *args, **kwargs):
            if args[:2] == ("CLIENT", "TRACKING"):
                args = ("CLIENT", "NO-SUCH-SUBCOMMAND")
            return super().send_command(*args, **kwargs)

    monkeypatch.setattr(near._pool, "connection_class", NoTracking)
    elsewhere.put("tok:x", {"v": 1}, 60)
    for _ in range(3):
        assert here.get("tok:x") == {"v": 1}
    assert near.unsupported and len(reads) == 3  # every read from Redis, and correct
    elsewhere.put("tok:x", {"v": 2}, 60)
    assert here.get("tok:x") == {"v": 2}


def test_near_cache_is_used_only_while_a_pong_proves_it_complete(near_pair, monkeypatch):
    """A message can be late (a lost packet, resent): the copy counts only up to the last PING
    whose PONG came back, and not at all once that proof is older than FRESH_FOR."""
    import idp.adapters.store as module

    here, elsewhere, reads = near_pair
    near = here._near
    near.FRESH_FOR = 0.25
    elsewhere.put("tok:p", {"v": 1}, 60)
    here.get("tok:p")
    real = time.monotonic
    late = {"by": 0.0}
    monkeypatch.setattr(module.time, "monotonic", lambda: real() + late["by"])
    monkeypatch.setattr(near._conn, "can_read", lambda timeout=0: False)  # nothing arrives: all is late
    late["by"] = 0.3
    assert here.get("tok:p") == {"v": 1}
    assert len(reads) == 2  # not from memory: nothing has proven the copy recent
    monkeypatch.undo()
    for _ in range(50):  # the PING sent meanwhile is answered: the copy is proven again
        if near._ping_sent is None:
            break
        here.get("tok:p")
        time.sleep(0.01)
    before = len(reads)
    here.get("tok:p")
    assert len(reads) == before


def test_near_cache_works_whatever_the_url_says_about_decoding(redis_store):
    here = RedisStore(REDIS_URL + "?decode_responses=True", prefix=redis_store._prefix, near=("tok:",))
    elsewhere = RedisStore(REDIS_URL, prefix=redis_store._prefix, near=("tok:",))
    try:
        for i in range(50):
            assert here.get("tok:d") == (None if i == 0 else {"n": i - 1})
            elsewhere.put("tok:d", {"n": i}, 60)
            assert here.get("tok:d") == {"n": i}
    finally:
        for store in (here, elsewhere):
            if store._near._conn is not None:
                store._near._conn.disconnect()
            store._redis.close()
