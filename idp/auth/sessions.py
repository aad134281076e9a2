"""Single sign-on sessions: started at sign-in, ended by logout or by their lifetimes."""

from __future__ import annotations

from datetime import timedelta
from typing import Callable

from flask import g
from sqlalchemy import update

from ..db import db, utcnow
from ..models import Account, LoginSession
from ..security import random_token


class SessionService:
    def __init__(self, idle_timeout: int, absolute_timeout: int):
        self.idle = timedelta(seconds=idle_timeout)
        self.absolute = timedelta(seconds=absolute_timeout)
        #: called with the session when it ends, whatever ended it (logout, lifetimes)
        self.on_end: list[Callable[[LoginSession], None]] = []

    def start(self, account: Account, acr: str, amr, ip=None, user_agent=None) -> LoginSession:
        """A new session, added to the request's transaction: the caller commits it with the
        sign-in's other writes (the account, the event, and a code when one is issued at once)."""
        now = utcnow()
        login = LoginSession(sid=random_token(24), account=account, auth_time=now, acr=acr, amr=list(amr),
                             created_at=now, last_seen_at=now, expires_at=now + self.absolute,
                             ip=ip, user_agent=(user_agent or "")[:300] or None)
        db.session.add(login)
        db.session.flush()
        return login

    def step_up(self, login: LoginSession, acr: str, amr) -> None:
        """A second factor raised the session's level: new acr, amr and auth_time."""
        login.acr, login.amr, login.auth_time = acr, list(amr), utcnow()
        db.session.commit()

    def current(self, sid: str | None) -> LoginSession | None:
        """The live session with this id; touches it (idle timeout) at most once a minute."""
        if not sid:
            return None
        login = db.session.get(LoginSession, sid)
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
