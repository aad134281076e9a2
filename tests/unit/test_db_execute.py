"""The sign-in path's statements (idp.db.execute, idp.db.run_alone): on PostgreSQL compiled once and
run on the driver's cursor, elsewhere through SQLAlchemy; the same rows, errors and transactions
either way."""

from __future__ import annotations

import os
from datetime import datetime

import pytest
from sqlalchemy import String, bindparam, cast, create_engine, delete, event, insert, select, text, update
from sqlalchemy.types import TypeDecorator
from sqlalchemy.exc import DBAPIError, IntegrityError

from idp import audit
from idp.auth import sessions as sessions_module
from idp.auth.citizens import account_for
from idp.db import _insert_rows, _numbered, _plan_for, db, execute, run_alone, utcnow
from idp.models import Account, AuditEvent, LoginSession

POSTGRES = os.environ.get("PANJEREH_TEST_POSTGRES", "")
postgres_only = pytest.mark.skipif(not POSTGRES, reason="the driver's fast path is PostgreSQL's (make test-production)")


def start_session(app, national_id="0012345679"):
    svc = app.extensions["panjereh"]
    account = account_for(national_id)
    login = svc.sessions.start(account, "loa2", ["sms", "pwd"], ip="10.0.0.1", user_agent="phone")
    db.session.commit()
    return login


@postgres_only
def test_rows_are_sqlalchemys_rows(bare_app):
    with bare_app.test_request_context("/"):
        sid = start_session(bare_app).sid
        db.session.remove()
        ours = execute(sessions_module._LOAD, {"sid": sid}).one()
        theirs = db.session.execute(sessions_module._LOAD, {"sid": sid}).one()
        assert ours._mapping == dict(theirs._mapping)
        assert tuple(ours) == tuple(theirs)
        assert ours.amr == ["sms", "pwd"] and ours.account__national_id == "0012345679"
        assert isinstance(ours.auth_time, datetime) and ours.auth_time.utcoffset().total_seconds() == 0
        assert execute(sessions_module._LOAD, {"sid": "nobody"}).first() is None


def test_a_change_reports_its_rows(bare_app):
    with bare_app.test_request_context("/"):
        sid = start_session(bare_app).sid
        ended = update(LoginSession).where(LoginSession.sid == bindparam("which"),
                                           LoginSession.ended_at.is_(None)).values(ended_at=bindparam("at"))
        assert execute(ended, {"which": sid, "at": utcnow()}).rowcount == 1
        assert execute(ended, {"which": sid, "at": utcnow()}).rowcount == 0
        db.session.commit()


def test_a_constraint_violation_is_sqlalchemys_and_changes_nothing(bare_app):
    with bare_app.test_request_context("/"):
        login = start_session(bare_app)
        values = {column.key: getattr(login, column.key) for column in LoginSession.__table__.columns}
        db.session.remove()
        with pytest.raises(IntegrityError):
            execute(sessions_module._INSERT, dict(values, user_agent="someone else"))
        db.session.rollback()
        db.session.remove()
        kept = db.session.execute(select(LoginSession.user_agent).where(LoginSession.sid == login.sid)).scalar_one()
        assert kept == "phone"


EVENT_KEYS = ("at", "event", "outcome", "account_id", "subject_digest", "client_id", "ip", "user_agent", "details")


def test_events_waiting_for_the_commit_are_written_with_it_in_one_statement(bare_app):
    """The consent and the code it leads to: two events, one INSERT, at the commit; nothing before it."""
    seen = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    with bare_app.test_request_context("/"):
        engine = db.engine
        audit.record(audit.Event.CONSENT_GRANTED, client_id="tax", scope="openid", commit=False)
        audit.record(audit.Event.CODE_ISSUED, client_id="tax", commit=False)
        event.listen(engine, "before_cursor_execute", listener)
        try:
            db.session.commit()
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        assert [s.split()[0] for s in seen] == ["INSERT"]
        assert events_of("consent.granted") == 1 and events_of("code.issued") == 1
        kept = db.session.execute(select(AuditEvent.details).where(AuditEvent.event == "consent.granted")).scalar()
        assert kept == {"scope": "openid"}


def test_events_waiting_for_a_commit_that_never_comes_are_dropped(bare_app):
    with bare_app.test_request_context("/"):
        audit.record(audit.Event.CONSENT_GRANTED, client_id="tax", commit=False)
        db.session.rollback()
        db.session.commit()
        audit.record(audit.Event.CODE_ISSUED, client_id="tax", commit=False)
        db.session.remove()  # the request ends without a commit
        db.session.commit()
        assert events_of("consent.granted") == 0 and events_of("code.issued") == 0


@postgres_only
def test_an_event_in_a_savepoint_is_undone_with_it(bare_app):
    with bare_app.test_request_context("/"):
        audit.record(audit.Event.CODE_ISSUED, client_id="tax", commit=False)
        savepoint = db.session.begin_nested()
        audit.record(audit.Event.CONSENT_GRANTED, client_id="tax", commit=False)
        savepoint.rollback()
        db.session.commit()
        assert events_of("consent.granted") == 0 and events_of("code.issued") == 1


def test_an_event_waiting_for_the_commit_keeps_a_later_statement_in_its_transaction(bare_app):
    """An event reports the change it goes with: a statement after it is not committed on its own."""
    with bare_app.test_request_context("/"):
        audit.record(audit.Event.CONSENT_GRANTED, client_id="tax", commit=False)
        run_alone(audit._INSERT, dict(dict.fromkeys(EVENT_KEYS), at=utcnow(), event="login.started",
                                      outcome="ok", details={}))
        db.session.rollback()
        assert events_of("login.started") == 0 and events_of("consent.granted") == 0


def events_of(kind: str) -> int:
    return db.session.execute(select(db.func.count()).select_from(AuditEvent).where(AuditEvent.event == kind)).scalar()


def test_a_statement_alone_leaves_its_connection_as_it_found_it(bare_app):
    """After an event written alone (autocommit), the same pooled connection is transactional again:
    a change rolled back is gone."""
    with bare_app.test_request_context("/"):
        for _ in range(3):
            audit.record(audit.Event.LOGIN_STARTED, client_id="tax")
            assert not db.session().in_transaction()
            execute(audit._INSERT, {"at": utcnow(), "event": "session.ended", "outcome": "ok", "account_id": None,
                                    "subject_digest": None, "client_id": None, "ip": None, "user_agent": None,
                                    "details": {}})
            db.session.rollback()
        db.session.remove()
        assert events_of("login.started") == 3
        assert events_of("session.ended") == 0


@postgres_only
def test_while_anything_listens_to_the_cursor_every_statement_is_seen(bare_app):
    seen = []
    with bare_app.test_request_context("/"):
        engine = db.engine
        listener = lambda conn, cursor, statement, *rest: seen.append(statement)  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            assert _plan_for(sessions_module._LOAD, {"sid": "x"}) is None
            execute(sessions_module._LOAD, {"sid": "x"})
            run_alone(audit._INSERT, {"at": utcnow(), "event": "login.started", "outcome": "ok", "account_id": None,
                                      "subject_digest": None, "client_id": None, "ip": None, "user_agent": None,
                                      "details": {}})
        finally:
            event.remove(engine, "before_cursor_execute", listener)
    assert any("FROM login_sessions" in s for s in seen) and any("INSERT INTO audit_events" in s for s in seen)


@postgres_only
def test_the_sign_in_statements_take_the_fast_path(bare_app):
    from idp.adapters.registry import _CITIZEN
    from idp.auth.citizens import _upsert
    from idp.db import insert_ignoring_duplicates, upsert_insert
    from idp.models import SessionClient
    from idp.oauth import consents, grants, server

    now = utcnow()
    with bare_app.test_request_context("/"):
        statements = [
            (sessions_module._LOAD, {"sid": "x"}),
            (sessions_module._INSERT, dict.fromkeys(c.key for c in LoginSession.__table__.columns)),
            (_upsert(upsert_insert()), {"nid": "1", "sub": "s", "now": now}),
            (audit._INSERT, dict.fromkeys(("at", "event", "outcome", "account_id", "subject_digest", "client_id",
                                           "ip", "user_agent", "details"))),
            (_CITIZEN, {"national_id": "1"}),
            (consents._SCOPE, {"account": 1, "client": "c"}),
            (consents._SCOPE_LOCKED, {"account": 1, "client": "c"}),
            (consents._WIDEN, {"account": 1, "client": "c", "merged": "openid", "at": now}),
            (consents._insert_new(upsert_insert()), dict.fromkeys(("account_id", "client_id", "scope", "created_at",
                                                                   "updated_at"))),
            (grants._INSERT_CODE, dict.fromkeys(("code_hash", "client_id", "account_id", "redirect_uri", "scope",
                                                 "nonce", "code_challenge", "code_challenge_method", "sid",
                                                 "claims_request", "auth_time", "acr", "amr", "created_at",
                                                 "expires_at"))),
            (grants._CLAIM_CODE, {"hash": "h", "client": "c", "now": now}),
            (grants._ACCOUNT, {"account_id": 1}),
            (grants._ACCOUNT_SIGNED_IN, {"account_id": 1, "sid": "x", "now": now}),
            (grants._SESSION_ALIVE, {"sid": "x", "now": now}),
            (server._INSERT_TOKEN, dict.fromkeys(("jti", "family_id", "grant_type", "client_id", "account_id", "scope",
                                                  "sid", "code_hash", "auth_time", "acr", "amr",
                                                  "refresh_token_hash", "refresh_scope", "refresh_expires_at",
                                                  "refresh_used_at", "issued_at", "expires_at", "revoked_at"))),
            (insert_ignoring_duplicates(SessionClient.__table__), {"sid": "x", "client_id": "c", "first_at": now}),
            (_insert_rows(audit._EVENTS, EVENT_KEYS, 2), _numbered([dict.fromkeys(EVENT_KEYS)] * 2)),
        ]
        assert [str(s).split()[0] for s, p in statements if _plan_for(s, p) is None] == []


@postgres_only
def test_statements_of_orm_entities_and_text_run_through_sqlalchemy(bare_app):
    """Rows of an entity are objects, and an entity's changes go through the session's hooks (the admin
    record refuses bulk changes): SQLAlchemy runs them, as it runs text."""
    from idp.models import AdminAction
    from idp.models.admin import AppendOnlyError

    with bare_app.test_request_context("/"):
        sid = start_session(bare_app).sid
        entity_rows = select(LoginSession).where(LoginSession.sid == bindparam("sid"))
        assert _plan_for(entity_rows, {"sid": sid}) is None
        assert execute(entity_rows, {"sid": sid}).scalar_one().sid == sid  # an object, as SQLAlchemy gives it
        for bulk, params in ((update(AdminAction).values(action=bindparam("a")), {"a": "x"}),
                             (delete(AdminAction).where(AdminAction.id == bindparam("i")), {"i": 1})):
            assert _plan_for(bulk, params) is None
            with pytest.raises(AppendOnlyError):
                execute(bulk, params)
            db.session.rollback()
        assert _plan_for(text("SELECT 1"), {}) is None
        assert execute(text("SELECT :n"), {"n": 7}).scalar() == 7


class Marked(TypeDecorator):
    """A value that gains a mark each time it is converted for the database."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return value + "!"


@postgres_only
def test_a_parameter_named_twice_is_converted_once(bare_app):
    twice = select(cast(bindparam("v", type_=Marked), String).label("a"),
                   cast(bindparam("v", type_=Marked), String).label("b"))
    with bare_app.test_request_context("/"):
        assert _plan_for(twice, {"v": "x"}) is not None
        assert tuple(execute(twice, {"v": "x"}).one()) == ("x!", "x!")


@postgres_only
def test_an_unreachable_database_is_sqlalchemys_error_for_a_statement_alone_too(settings, template_db):
    """The pool's connect fails: the views answer SQLAlchemy's DBAPIError with a 503."""
    from dataclasses import replace

    from idp.app import create_app

    app = create_app(replace(settings, database_url="postgresql+psycopg://postgres@127.0.0.1:1/test"))
    try:
        with app.test_request_context("/"):
            with pytest.raises(DBAPIError):
                run_alone(audit._INSERT, {"at": utcnow(), "event": "login.started", "outcome": "ok",
                                          "account_id": None, "subject_digest": None, "client_id": None, "ip": None,
                                          "user_agent": None, "details": {}})
            with pytest.raises(DBAPIError):
                execute(sessions_module._LOAD, {"sid": "x"})
    finally:
        with app.app_context():
            db.engine.dispose()


def terminate(pid: int) -> None:
    admin = create_engine(POSTGRES)
    try:
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    finally:
        admin.dispose()


@postgres_only
def test_a_connection_lost_in_a_transaction_is_a_clean_error_and_the_next_request_reconnects(bare_app):
    with bare_app.test_request_context("/"):
        sid = start_session(bare_app).sid
        pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar()  # the transaction's connection
        terminate(pid)
        with pytest.raises(DBAPIError) as lost:
            execute(sessions_module._LOAD, {"sid": sid})
        assert lost.value.connection_invalidated
        db.session.rollback()
        assert execute(sessions_module._LOAD, {"sid": sid}).one().sid == sid
        db.session.commit()


@postgres_only
def test_a_connection_lost_between_statements_alone_is_a_clean_error_and_the_next_one_reconnects(bare_app):
    with bare_app.test_request_context("/"):
        params = {"at": utcnow(), "event": "login.started", "outcome": "ok", "account_id": None,
                  "subject_digest": None, "client_id": None, "ip": None, "user_agent": None, "details": {}}
        run_alone(audit._INSERT, params)
        with db.engine.connect() as conn:  # the pool's connection, just used (not pinged again before use)
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        terminate(pid)
        with pytest.raises(DBAPIError) as lost:
            run_alone(audit._INSERT, params)
        assert lost.value.connection_invalidated
        run_alone(audit._INSERT, params)
        assert events_of("login.started") == 2


_ACCOUNT_ID = select(Account.__table__.c.id).where(Account.__table__.c.national_id == bindparam("nid"))


def test_objects_waiting_to_be_written_are_written_first(bare_app):
    """As session.execute: pending objects are flushed before the statement, which sees them."""
    with bare_app.test_request_context("/"):
        db.session.add(Account(national_id="0098765432"))
        assert execute(_ACCOUNT_ID, {"nid": "0098765432"}).scalar() is not None
        db.session.rollback()
        assert execute(_ACCOUNT_ID, {"nid": "0098765432"}).scalar() is None


def test_a_statement_whose_values_sqlalchemy_computes_runs_through_sqlalchemy(bare_app):
    """An insert that leaves a column to its Python-side default (the account's random subject) has no
    fast plan; it still gets the default."""
    partial = insert(Account.__table__)
    with bare_app.test_request_context("/"):
        assert _plan_for(partial, {"national_id": "0098765432"}) is None
        execute(partial, {"national_id": "0098765432"})
        db.session.commit()
        sub = db.session.execute(select(Account.public_sub).where(Account.national_id == "0098765432")).scalar_one()
        assert len(sub) == 36


@postgres_only
def test_while_statements_are_logged_every_statement_goes_through_sqlalchemy(bare_app, caplog):
    import logging

    with bare_app.test_request_context("/"):
        assert _plan_for(sessions_module._LOAD, {"sid": "x"}) is not None
        with caplog.at_level(logging.INFO, logger="sqlalchemy.engine.Engine"):
            assert _plan_for(sessions_module._LOAD, {"sid": "x"}) is None
            execute(sessions_module._LOAD, {"sid": "x"})
    assert any("FROM login_sessions" in record.getMessage() for record in caplog.records)
