"""Pooled PostgreSQL connections: checked after they rest, replaced when dead, never at every use."""

from __future__ import annotations

import os
import time

import pytest
from sqlalchemy import create_engine, text

from idp.db import ping_when_idle

POSTGRES = os.environ.get("PANJEREH_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def engine():
    engine = create_engine(POSTGRES, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - no server here: nothing to test against
        engine.dispose()
        pytest.skip(f"no PostgreSQL at {POSTGRES}: {exc}")
    engine.dispose()
    ping_when_idle(engine, idle_seconds=0.3)
    pings = []
    real = engine.dialect.do_ping
    engine.dialect.do_ping = lambda dbapi_connection: (pings.append(1), real(dbapi_connection))[1]
    engine.pings = pings
    yield engine
    engine.dispose()


def backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar()


def test_a_busy_connection_is_not_pinged(engine):
    first = backend_pid(engine)
    for _ in range(20):
        assert backend_pid(engine) == first  # the same pooled connection, used back to back
    assert engine.pings == []  # twenty transactions, not one extra round trip


def test_a_rested_connection_is_pinged_and_a_dead_one_replaced_before_use(engine):
    victim = backend_pid(engine)
    admin_engine = create_engine(POSTGRES)
    try:
        with admin_engine.connect() as admin:  # the server drops it (a restart, a failover)
            assert admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": victim}).scalar()
    finally:
        admin_engine.dispose()
    time.sleep(0.4)  # it rests past the threshold
    assert backend_pid(engine) != victim  # the request never saw the dead connection
    assert len(engine.pings) == 1
