"""Server-side browser sessions: the cookie carries only a random id.

The session's data (CSRF token, language, the interactions this browser
started, the single sign-on session id) lives in the key-value store under a
keyed hash of the cookie value. ``rotate(session)`` gives the browser a new id
at sign-in, so a session id planted before the login is worthless after it.
"""

from __future__ import annotations

from flask import g
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from .adapters.store import StoreUnavailable
from .security import keyed_hash, random_token

PURPOSE = "web-session"

#: paths served to services and caches, never to a citizen's page: their requests may carry
#: the browser's cookie (static files always do), but nothing here reads or writes the session,
#: so it is not fetched from the store for them
SESSIONLESS_PATHS = frozenset({"/token", "/introspect", "/revoke", "/userinfo", "/par", "/jwks.json",
                               "/.well-known/openid-configuration", "/healthz", "/readyz"})
SESSIONLESS_PREFIXES = ("/static/",)


class NoSession(CallbackDict, SessionMixin):
    """The session of a request on a sessionless path: empty, and a write is a programming error."""

    def __init__(self):
        def refuse(self):
            raise RuntimeError("this endpoint has no browser session")

        super().__init__(None, refuse)
        self.modified = False


class ServerSession(CallbackDict, SessionMixin):
    def __init__(self, initial=None, sid=None, new=False):
        def on_update(self):
            self.modified = True

        super().__init__(initial, on_update)
        self.sid = sid
        self.new = new
        self.modified = False
        self.rotated_from = None


def take_read_ahead(key: str, default):
    """The value read ahead for ``key`` with the browser's session (once: a later read asks the
    store again, and sees whatever the request has written since), else ``default``."""
    found = g.get("read_ahead")
    return found.pop(key, default) if found else default


def rotate(session: ServerSession) -> None:
    """Move the session's data to a fresh id (call at sign-in and sign-out)."""
    if session.sid and session.rotated_from is None:
        session.rotated_from = session.sid
    session.sid = random_token()
    session.modified = True


class ServerSessionInterface(SessionInterface):
    """``read_ahead(path)``: store keys the request at ``path`` will read; they are fetched with the
    browser's session in one round trip and kept for the request in ``g.read_ahead`` (key -> value,
    None when absent), each for its reader to take (``take_read_ahead``)."""

    def __init__(self, store, cookie_name: str, lifetime: int, read_ahead=None):
        self.store = store
        self.cookie_name = cookie_name
        self.lifetime = lifetime
        self.read_ahead = read_ahead

    def _key(self, sid: str) -> str:
        return "websession:" + keyed_hash(PURPOSE, sid)

    def open_session(self, app, request):
        path = request.path
        if path in SESSIONLESS_PATHS or path.startswith(SESSIONLESS_PREFIXES):
            return NoSession()
        sid = request.cookies.get(self.cookie_name)
        if sid and len(sid) < 100:
            try:
                extra = self.read_ahead(path) if self.read_ahead is not None else ()
                if extra:
                    data, *values = self.store.get_many([self._key(sid), *extra])
                    g.read_ahead = dict(zip(extra, values))
                else:
                    data = self.store.get(self._key(sid))
            except Exception as exc:  # noqa: BLE001 - the store is down: the request goes on without a session
                app.logger.error("session store unavailable: %s", exc)
                session = ServerSession(sid=sid)
                session.unavailable = True
                return session
            if data is not None:
                return ServerSession(data, sid=sid)
        return ServerSession(sid=None, new=True)

    def save_session(self, app, session, response):
        if isinstance(session, NoSession):
            return
        if getattr(session, "unavailable", False):
            return  # never overwrite a session we could not read
        try:
            self._save(app, session, response)
        except StoreUnavailable:
            if response.status_code < 500:
                raise
            # the request has already failed cleanly (a 503 for this very outage): keep that answer
            app.logger.error("session not saved: the store is unavailable")

    def _save(self, app, session, response):
        domain = self.get_cookie_domain(app)
        path = self.get_cookie_path(app)
        if not session:
            if session.rotated_from:
                self.store.delete(self._key(session.rotated_from))
            if session.sid and (session.modified or session.rotated_from):
                self.store.delete(self._key(session.sid))
                response.delete_cookie(self.cookie_name, domain=domain, path=path)
            return
        if not (session.modified or session.sid is None):
            return
        if session.sid is None:
            session.sid = random_token()
        if session.rotated_from:  # the data under its new id, and nothing under the old one
            self.store.move(self._key(session.rotated_from), self._key(session.sid), dict(session), self.lifetime)
        else:
            self.store.put(self._key(session.sid), dict(session), self.lifetime)
        response.set_cookie(
            self.cookie_name, session.sid, max_age=self.lifetime, domain=domain, path=path,
            httponly=True, secure=self.get_cookie_secure(app), samesite="Lax",
        )
        response.vary.add("Cookie")
