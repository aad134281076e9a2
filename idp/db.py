"""The database handle. Schema changes go through Alembic (``migrations/``) only."""

import collections
import functools
import logging
import time
from datetime import datetime, timezone

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Delete, Insert, MetaData, Select, Update, bindparam, event, insert, inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DisconnectionError, MultipleResultsFound, NoResultFound
from sqlalchemy.orm import Session, make_transient_to_detached
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


def execute(statement, params: dict, session=None):
    """``db.session.execute(statement, params)`` for a statement built once (at module level) on
    the sign-in and token paths: in the request's transaction, after the same autoflush.

    On PostgreSQL the statement is compiled once and run on the driver's own cursor: SQLAlchemy's
    execution machinery costs about as much CPU again as the driver (about 60 µs a statement),
    and a sign-in runs seventeen. The answer offers what these callers use of SQLAlchemy's result
    (``first``, ``one``, ``scalar``, ``scalar_one``, ``all``, ``rowcount``; rows by position, by
    name and as ``_mapping``). Elsewhere (SQLite), for a statement the fast path cannot run as
    SQLAlchemy would (see ``_Plan``), and while anything listens to the engine's cursor events
    (instrumentation, statement counts) or its statements are logged, it is ``db.session.execute``.
    ``session``: another session than the request's."""
    session = db.session() if session is None else session
    plan = _plan_for(statement, params)
    if plan is None:
        return session.execute(statement, params)
    if session.autoflush:
        session.flush()  # what session.execute does first: pending objects are written before the statement
    connection = session.connection()
    return plan.run(connection.connection.driver_connection, params, connection)


_AT_COMMIT = "panjereh.insert_at_commit"


def insert_at_commit(table, params: dict) -> None:
    """A row of ``table`` (``params``: its columns by name) written when the request's transaction
    commits, in one statement with the other rows of its table waiting for the same commit (the
    sign-in's consent and code events: one INSERT where there were two). A rollback, or a session
    closed without a commit, drops it with everything else of the transaction; until then, a
    statement run alone (``run_alone``) runs in that transaction, as it would after the INSERT."""
    session = db.session()
    if session.in_nested_transaction():  # a savepoint's rows go (or are undone) with it: written now
        _write_rows(session, table, [params])
        return
    if not session.in_transaction():
        session.begin()  # a transaction (no connection yet) that its commit or rollback ends
    session.info.setdefault(_AT_COMMIT, {}).setdefault(table, []).append(params)


@event.listens_for(Session, "before_commit")
def _insert_waiting_rows(session):
    if session.in_nested_transaction():  # a savepoint's commit: the rows wait for the transaction's
        return
    session.flush()  # what the flush adds (its own hooks) waits with the rest
    waiting = session.info.pop(_AT_COMMIT, None)
    for table, rows in (waiting or {}).items():
        _write_rows(session, table, rows)


@event.listens_for(Session, "after_transaction_end")
def _drop_waiting_rows(session, transaction):
    if transaction.parent is None:
        session.info.pop(_AT_COMMIT, None)


def _write_rows(session, table, rows: list[dict]) -> None:
    """One INSERT for the rows of each shape (the same columns given)."""
    shapes: dict[tuple[str, ...], list[dict]] = {}
    for row in rows:
        shapes.setdefault(tuple(row), []).append(row)
    for keys, same in shapes.items():
        execute(_insert_rows(table, keys, len(same)), _numbered(same), session)


@functools.lru_cache(maxsize=64)
def _insert_rows(table, keys: tuple[str, ...], count: int):
    """``INSERT INTO table (keys) VALUES (...), (...)``: ``count`` rows, values named ``<key>_<n>``."""
    return insert(table).values([{key: bindparam(f"{key}_{n}", type_=table.c[key].type) for key in keys}
                                 for n in range(count)])


def _numbered(rows: list[dict]) -> dict:
    return {f"{key}_{n}": value for n, row in enumerate(rows) for key, value in row.items()}


def run_alone(statement, params: dict, *, rows: bool = False):
    """Run one statement as a transaction of its own (autocommit) when the request's session
    has nothing in progress (no transaction, no pending change); else in the session's
    transaction, as any statement. ``rows``: return its rows (a read).

    One statement needs no BEGIN and no COMMIT around it: on its own it is one round trip
    where a transaction of one statement is three (for a single event's write, or a read
    before anything is written)."""
    session = db.session()
    if session.in_transaction() or session.new or session.dirty or session.deleted:
        result = execute(statement, params)
        return result.all() if rows else None
    plan = _plan_for(statement, params)
    if plan is not None:  # a pooled connection lent in autocommit, the statement on its cursor
        engine = db.engine
        try:
            raw = engine.raw_connection()  # the pool's checkout (and its liveness check, ping_when_idle)
        except engine.dialect.loaded_dbapi.Error as exc:  # as SQLAlchemy reports a failed connect
            Connection._handle_dbapi_exception_noconnection(exc, engine.dialect, engine)
        try:
            driver = raw.driver_connection
            driver.autocommit = True
            try:
                result = plan.run(driver, params, raw)
            finally:
                if raw.is_valid and not driver.closed:
                    driver.autocommit = False
        finally:
            raw.close()  # back to the pool
        return result.all() if rows else None
    with _autocommit(db.engine).connect() as connection:
        result = connection.execute(statement, params)
        return result.all() if rows else None


class _Result:
    """The answer of a statement run by ``_Plan``: its rows, read at once, and its row count."""

    __slots__ = ("rows", "rowcount")

    def __init__(self, rows: list, rowcount: int):
        self.rows = rows
        self.rowcount = rowcount

    def first(self):
        return self.rows[0] if self.rows else None

    def one(self):
        if not self.rows:
            raise NoResultFound("No row was found when one was required")
        if len(self.rows) > 1:
            raise MultipleResultsFound("Multiple rows were found when exactly one was required")
        return self.rows[0]

    def scalar(self):
        return self.rows[0][0] if self.rows else None

    def scalar_one(self):
        return self.one()[0]

    def all(self) -> list:
        return list(self.rows)


class _Plan:
    """A Core statement compiled once for PostgreSQL (psycopg), with its parameters' and columns'
    type conversions, run on a driver connection.

    Only what runs exactly as SQLAlchemy would run it gets a plan: a Core query or change of
    tables (not an ORM entity's: its rows would be objects, its changes go through the session's
    hooks), with no parameter that SQLAlchemy computes itself (a Python-side column default),
    expands (``IN``) or renders inline, and no name that needs escaping. Errors go through
    SQLAlchemy's own handling: they come out as its exceptions (``IntegrityError``,
    ``OperationalError``: the views' handlers are the same), its ``handle_error`` hooks see them,
    and a lost connection is discarded with every other of its pool's generation."""

    def __init__(self, statement, dialect, keys):
        if not isinstance(statement, (Select, Insert, Update, Delete)):
            raise _NoPlan
        if isinstance(statement, Select):
            if any(d.get("aliased") or (d.get("entity") is not None and d.get("expr") is d.get("entity"))
                   for d in statement.column_descriptions):
                raise _NoPlan  # an entity's rows are objects
        elif statement.entity_description.get("entity") is not None:
            raise _NoPlan  # an entity's change goes through the session's hooks
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        if (compiled.positional or compiled.insert_prefetch or compiled.update_prefetch
                or compiled.escaped_bind_names
                or any(b.expanding or b.literal_execute for b in compiled.bind_names)):
            raise _NoPlan
        self.compiled = compiled
        self.sql = str(compiled)
        converters = {}  # by name: a name used twice (``now``) is one value, converted once
        for bind, name in compiled.bind_names.items():
            if name not in converters:
                converters[name] = bind.type.dialect_impl(dialect).bind_processor(dialect)
        self.converters = tuple((name, convert) for name, convert in converters.items() if convert)
        self.dialect = dialect
        # a query's columns, or a change's RETURNING columns (none without RETURNING)
        columns = list(statement.selected_columns if isinstance(statement, Select) else statement.exported_columns)
        self.columns = columns
        self.row = _row_class(tuple(c.key for c in columns)) if columns else None
        self.readers = None  # the columns' result conversions, known at the first answer

    def run(self, driver, params: dict, owner):
        """``owner``: the SQLAlchemy connection, or the pool's connection, holding ``driver``."""
        values = self.compiled.construct_params(params)
        for name, convert in self.converters:
            values[name] = convert(values[name])
        try:
            cursor = _cursor_of(driver, owner)
            cursor.execute(self.sql, values)
            rows = cursor.fetchall() if self.row is not None else []  # a query, or a change's RETURNING
            rowcount = cursor.rowcount
            if rows and self.readers is None:
                self.readers = tuple(
                    column.type.dialect_impl(self.dialect).result_processor(self.dialect, described.type_code)
                    for column, described in zip(self.columns, cursor.description))
        except Exception as exc:  # noqa: BLE001 - handed to SQLAlchemy, which raises it as it would have
            if isinstance(owner, Connection):
                owner._handle_dbapi_exception(exc, self.sql, values, None, None)
            dbapi_error = isinstance(exc, self.dialect.loaded_dbapi.Error)
            lost = dbapi_error and self.dialect.is_disconnect(exc, driver, None)
            if lost:
                db.engine.pool._invalidate(owner, exc)  # this connection, and every other of its generation
            if not dbapi_error:
                raise
            Connection._handle_dbapi_exception_noconnection(exc, self.dialect, db.engine, is_disconnect=lost)
        if rows:
            make, readers = self.row._make, self.readers
            if any(readers):
                rows = [make(v if read is None else read(v) for read, v in zip(readers, row)) for row in rows]
            else:
                rows = [make(row) for row in rows]
        return _Result(rows, rowcount)


def _cursor_of(driver, owner):
    """The driver connection's own cursor, made once and kept with the pooled connection (its
    ``info`` lives as long as the driver connection): a cursor is cheap to run again and costs a
    little to make, every statement. A replaced or closed connection gets a new one."""
    info = owner.info
    cursor = info.get(_CURSOR)
    if cursor is None or cursor.connection is not driver or cursor.closed:
        cursor = info[_CURSOR] = driver.cursor()
    return cursor


_CURSOR = "panjereh.cursor"


class _NoPlan(Exception):
    """The statement runs through SQLAlchemy (see ``_Plan``)."""


#: SQLAlchemy's statement log (``echo``, or this logger at INFO): it sees only what SQLAlchemy runs
_STATEMENT_LOG = logging.getLogger("sqlalchemy.engine.Engine")


def _plan_for(statement, params: dict) -> _Plan | None:
    engine = db.engine
    if engine.dialect.driver != "psycopg" or engine.dispatch.before_cursor_execute \
            or engine.dispatch.after_cursor_execute or engine.echo or _STATEMENT_LOG.isEnabledFor(logging.INFO):
        return None
    return _planned(statement, engine.dialect, frozenset(params))


@functools.lru_cache(maxsize=512)
def _planned(statement, dialect, keys: frozenset) -> _Plan | None:
    try:
        return _Plan(statement, dialect, sorted(keys))
    except (_NoPlan, ValueError):
        return None


@functools.cache
def _row_class(names: tuple[str, ...]):
    """Rows by position, by attribute and, as ``_mapping``, by name (as SQLAlchemy's rows)."""
    base = collections.namedtuple("Row", names)
    return type("Row", (base,), {"__slots__": (), "_mapping": property(lambda row: dict(zip(row._fields, row)))})


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
