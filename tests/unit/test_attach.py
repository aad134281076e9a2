"""Rows of built-once statements made objects of the request's session (idp.db.attach), and the
sign-in sessions read through it: what a query would give, on SQLite and on PostgreSQL."""

from __future__ import annotations

from idp.auth.citizens import account_for
from idp.db import db


def test_an_attached_row_is_found_again_without_a_query_and_its_changes_are_written(bare_app):
    with bare_app.app_context():
        account = account_for("0012345679")
        db.session.commit()
        assert db.session.get(type(account), account.id) is account  # from the identity map
        account.is_admin = True
        db.session.commit()
        db.session.remove()
        assert db.session.get(type(account), account.id).is_admin is True


def test_a_change_not_yet_written_survives_the_same_row_read_again(bare_app):
    with bare_app.app_context():
        account = account_for("0012345679")
        db.session.commit()
        account.is_admin = True  # pending
        again = account_for("0012345679")  # the same row, from the upsert's RETURNING
        assert again is account and account.is_admin is True
        db.session.commit()
        db.session.remove()
        assert db.session.get(type(account), account.id).is_admin is True


def test_a_sign_in_rolled_back_is_not_found_afterwards(bare_app):
    svc = bare_app.extensions["panjereh"]
    with bare_app.test_request_context("/"):
        account = account_for("0012345679")
        login = svc.sessions.start(account, "loa2", ["sms"])
        sid = login.sid
        assert svc.sessions.current(sid) is login  # the request's own, before its commit
        db.session.rollback()  # e.g. the code was taken by another request
        assert svc.sessions.current(sid) is None  # a read again, not the stale object
    with bare_app.test_request_context("/"):
        account = account_for("0012345679")
        login = svc.sessions.start(account, "loa2", ["sms"])
        db.session.commit()
        sid = login.sid
    with bare_app.test_request_context("/"):
        found = svc.sessions.current(sid)  # read with its account in one statement
        assert found.sid == sid and found.account.national_id == "0012345679"
        assert found.account_id == found.account.id
