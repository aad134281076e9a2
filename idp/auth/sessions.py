"""Single sign-on sessions: started at sign-in, ended by logout or by their lifetimes."""

from __future__ import annotations

from datetime import timedelta
from typing import Callable

from flask import g
from sqlalchemy import bindparam, insert, inspect, select, update
from sqlalchemy.orm.attributes import set_committed_value

from ..db import attach, db, execute, utcnow
from ..models import Account, LoginSession
from ..security import random_token


class SessionService:
    def __init__(self, idle_timeout: int, absolute_timeout: int):
        self.idle = timedelta(seconds=idle_timeout)
        self.absolute = timedelta(seconds=absolute_timeout)
        #: called with the session when it ends, whatever ended it (logout, lifetimes)
        self.on_end: list[Callable[[LoginSession], None]] = []

    def start(self, account: Account, acr: str, amr, ip=None, user_agent=None) -> LoginSession:
        """A new session, written in the request's transaction: the caller commits it with the
        sign-in's other writes (the account, the event, and a code when one is issued at once)."""
        now = utcnow()
        values = {"sid": random_token(24), "account_id": account.id, "auth_time": now, "acr": acr,
                  "amr": list(amr), "created_at": now, "last_seen_at": now, "expires_at": now + self.absolute,
                  "ended_at": None, "ip": ip, "user_agent": (user_agent or "")[:300] or None}
        execute(_INSERT, values)
        login = attach(LoginSession, values)
        set_committed_value(login, "account", account)
        g.login_session = login  # held for the request (the identity map holds its objects weakly)
        return login

    def step_up(self, login: LoginSession, acr: str, amr) -> None:
        """A second factor raised the session's level: new acr, amr and auth_time."""
        login.acr, login.amr, login.auth_time = acr, list(amr), utcnow()
        db.session.commit()

    def current(self, sid: str | None) -> LoginSession | None:
        """The live session with this id; touches it (idle timeout) at most once a minute."""
        if not sid:
            return None
        login = _held(sid) or _load(sid)
        g.login_session = login  # held for the request: a second lookup is answered from the session's identity map
        now = utcnow()
        if login is None or login.ended_at is not None:
            return None
        if login.expires_at <= now or login.last_seen_at + self.idle <= now:
            self.end(login)
            return None
        if now - login.last_seen_at > timedelta(seconds=60):
            login.last_seen_at = now
            db.session.commit()
        return login

    def end(self, login: LoginSession) -> bool:
        """End the session once; True if this call ended it."""
        ended = db.session.execute(
            update(LoginSession).where(LoginSession.sid == login.sid, LoginSession.ended_at.is_(None))
            .values(ended_at=utcnow())).rowcount
        db.session.commit()
        if ended:
            db.session.refresh(login)
            for listener in self.on_end:
                listener(login)
        return bool(ended)


_INSERT = insert(LoginSession.__table__)  # statements built once: building one costs more than running it
_ACCOUNT_COLUMNS = {f"account__{column.key}": column.key for column in Account.__table__.columns}  # no clash
_LOAD = (select(*LoginSession.__table__.columns,
                *(column.label(label) for label, column in zip(_ACCOUNT_COLUMNS, Account.__table__.columns)))
         .join_from(LoginSession.__table__, Account.__table__, LoginSession.account_id == Account.id)
         .where(LoginSession.sid == bindparam("sid")))


def _held(sid: str) -> LoginSession | None:
    """The session's object already in this request (started, or looked up, earlier in it), unless a
    rollback has since expired it (it may never have been committed): then it is read again."""
    login = db.session.identity_map.get(inspect(LoginSession).identity_key_from_primary_key([sid]))
    return None if login is None or inspect(login).expired else login


def _load(sid: str) -> LoginSession | None:
    """The sign-in session and its account in one statement, as objects of the request's session."""
    row = execute(_LOAD, {"sid": sid}).first()
    if row is None:
        return None
    values = row._mapping
    account = attach(Account, {name: values[label] for label, name in _ACCOUNT_COLUMNS.items()})
    login = attach(LoginSession, {column.key: values[column.key] for column in LoginSession.__table__.columns})
    set_committed_value(login, "account", account)
    return login
