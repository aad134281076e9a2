"""The database handle. Schema changes go through Alembic (``migrations/``) only."""

import functools
import time
from datetime import datetime, timezone

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.types import DateTime, TypeDecorator

# Stable constraint names, so migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Objects keep their loaded state after a commit: a request that commits and reads on would
# otherwise reload every row it touches (one SELECT each); requests are short, and every
# request starts with a fresh session, so nothing stale outlives one.
db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING), session_options={"expire_on_commit": False})


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """SQLite: write-ahead log (readers never wait for the writer) and enforced foreign keys."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


#: a pooled connection that rested longer than this is checked (one round trip) before use
PING_AFTER_IDLE = 1.0


def ping_when_idle(engine, idle_seconds: float = PING_AFTER_IDLE) -> None:
    """Check a pooled connection before use only when it has rested, not at every checkout.

    ``pool_pre_ping`` costs a round trip for every transaction, and a sign-in has a dozen
    of them. A connection that was used a moment ago was alive a moment ago; one that rested
    (after a quiet spell, or an outage) is pinged, and a dead one is replaced before the
    request sees it (SQLAlchemy's checkout event, raising DisconnectionError). A server that
    dies in the middle of a busy second fails that request cleanly (503) and SQLAlchemy
    discards the pool's connections, so the next request reconnects."""
    dbapi_error = engine.dialect.loaded_dbapi.Error

    @event.listens_for(engine, "connect")
    def _fresh(dbapi_connection, record):
        record.info["rested_since"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _rested(dbapi_connection, record):
        record.info["rested_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection, record, proxy):
        if time.monotonic() - record.info.get("rested_since", 0.0) < idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except dbapi_error as exc:
            raise DisconnectionError("the database connection is gone") from exc


def upsert_insert():
    """The ``insert()`` of the database in use, the one with ``on_conflict_do_...`` (PostgreSQL
    and SQLite spell ``INSERT ... ON CONFLICT`` alike)."""
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def insert_ignoring_duplicates(table):
    """``INSERT ... ON CONFLICT DO NOTHING``: one statement where a look-up and an insert would
    be two. Built once per table and database; pass the values as parameters."""
    return _insert_ignoring(table, upsert_insert())


@functools.cache
def _insert_ignoring(table, insert):
    return insert(table).on_conflict_do_nothing()


def run_alone(statement, params: dict, *, rows: bool = False):
    """Run one statement as a transaction of its own (autocommit) when the request's session
    has nothing in progress (no transaction, no pending change); else in the session's
    transaction, as any statement. ``rows``: return its rows (a read).

    One statement needs no BEGIN and no COMMIT around it: on its own it is one round trip
    where a transaction of one statement is three (for a single event's write, or a read
    before anything is written)."""
    session = db.session()
    if session.in_transaction() or session.new or session.dirty or session.deleted:
        result = session.execute(statement, params)
        return result.all() if rows else None
    with _autocommit(db.engine).connect() as connection:
        result = connection.execute(statement, params)
        return result.all() if rows else None


@functools.cache
def _autocommit(engine):
    """The engine's pool, its connections in autocommit while they are lent out (reset on return)."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def attach(model, values):
    """The request session's object for a row that a built-once statement has just read or
    written (``values``: its columns by name), with no query to load it and no change to flush.

    An ORM query or flush of one row costs several times the statement itself; this is the row
    as the database answered, placed in the session's identity map (as a query would): later
    lookups by primary key find it there, and a change made to it is flushed at commit. When
    the session already holds an object for the row, that object is refreshed with the row and
    returned, unless it has changes not yet written (they are kept, as a query keeps them)."""
    session = db.session()
    mapper = inspect(model)
    key = mapper.identity_key_from_primary_key([values[column.key] for column in mapper.primary_key])
    present = session.identity_map.get(key)
    if present is not None:
        if not inspect(present).modified:
            for name, value in values.items():
                set_committed_value(present, name, value)
        return present
    obj = model(**values)
    make_transient_to_detached(obj)  # as loaded: no history, never inserted again
    session.add(obj)
    return obj


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Timestamps are stored in UTC and always come back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(timezone.utc) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value
