"""Logout: RP-initiated logout (the end-session endpoint) and back-channel logout.

When a citizen's single sign-on session ends, for any reason, every service that
took part in it and registered a ``backchannel_logout_uri`` is sent a signed
logout token (OpenID Connect Back-Channel Logout 1.0), and every token bound to
the session is revoked. Logout tokens go through an outbox table and are
delivered by a background thread with timeouts and retries, so the citizen's
page never waits for a service.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import requests
from authlib.oidc.rpinitiated import EndSessionEndpoint as _EndSession
from joserfc import jwt
from sqlalchemy import select, update

from ..db import db, utcnow
from ..models import Client, LoginSession, LogoutNotice, SessionClient, Token
from ..security import random_token
from .claims import subject_for
from .outbound import DestinationRefused, check_destination, outbound_session
from .tokens import revoke_tokens

log = logging.getLogger(__name__)
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
RETRY_DELAYS = (0, 5, 30, 120, 600)  # seconds before attempt n
LEASE = timedelta(seconds=60)


class EndSessionEndpoint(_EndSession):
    def __init__(self, server):
        super().__init__(server)

    def get_server_jwks(self):
        return self.server.keys.public_keyset()

    def get_algorithms(self):
        return ["RS256", "ES256"]

    def is_post_logout_redirect_uri_legitimate(self, request, uri, client, logout_hint):
        # without an ID token, the citizen confirms on our page first (a POST with decision=logout)
        return request.method == "POST" and request.payload.data.get("decision") == "logout"

    def resolve_client_from_id_token_claims(self, id_token_claims):
        # our ID tokens carry aud as a one-element list
        aud = id_token_claims.get("aud")
        if isinstance(aud, list) and len(aud) == 1:
            aud = aud[0]
        return self.server.query_client(aud) if isinstance(aud, str) else None

    def end_session(self, end_session_request):
        """The view ends the citizen's session before asking for the response."""


def logout_token(server, client: Client, login: LoginSession) -> str:
    now = int(time.time())
    claims = {
        "iss": server.settings.issuer, "aud": client.client_id, "iat": now, "exp": now + 120,
        "jti": random_token(16), "events": {BACKCHANNEL_EVENT: {}},
        "sid": login.sid, "sub": subject_for(login.account, client),
    }
    alg = client.id_token_signed_response_alg or "RS256"
    header = {"alg": alg, "typ": "logout+jwt"}
    return jwt.encode(header, claims, server.keys.signing_keyset(alg), algorithms=[alg])


def on_session_end(server, login: LoginSession) -> int:
    """Revoke the session's tokens and queue a logout token for each service in it."""
    revoke_tokens(Token.sid == login.sid)
    participants = db.session.execute(
        select(Client).join(SessionClient, SessionClient.client_id == Client.client_id)
        .where(SessionClient.sid == login.sid, Client.backchannel_logout_uri.is_not(None))
    ).scalars().all()
    for client in participants:
        db.session.add(LogoutNotice(client_id=client.client_id, uri=client.backchannel_logout_uri,
                                    logout_token=logout_token(server, client, login)))
    db.session.commit()
    return len(participants)


class Courier:
    """Delivers queued logout tokens from a background thread, with retries."""

    def __init__(self, app, timeout: float = 5.0, allow_private: bool = False):
        self.app = app
        self.timeout = timeout
        self.allow_private = allow_private
        self._wake = threading.Event()
        self._thread = None
        self._stopped = False
        self._lock = threading.Lock()
        self.http = outbound_session(allow_private)

    def kick(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stopped = False
                self._thread = threading.Thread(target=self._run, name="logout-courier", daemon=True)
                self._thread.start()
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """End the background thread (shutdown, tests); queued notices stay queued."""
        self._stopped = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread.is_alive():
            thread.join(timeout)

    def _run(self) -> None:
        idle_rounds = 0
        while idle_rounds < 3 and not self._stopped:
            self._wake.clear()
            with self.app.app_context():
                try:
                    sent = self.deliver_due()
                    pending = self.next_due_in()
                except Exception:  # noqa: BLE001 - the database is away: stop; the next logout restarts us
                    log.exception("back-channel logout delivery stopped")
                    return
                finally:
                    db.session.remove()
            if self._stopped:
                return
            if pending is None:
                idle_rounds += 1 if not sent else 0
                if not self._wake.wait(timeout=1.0):
                    idle_rounds += 1
                continue
            idle_rounds = 0
            self._wake.wait(timeout=max(0.05, min(pending, 30.0)))

    def next_due_in(self) -> float | None:
        due = db.session.execute(
            select(LogoutNotice.next_attempt_at)
            .where(LogoutNotice.delivered_at.is_(None), LogoutNotice.failed_at.is_(None))
            .order_by(LogoutNotice.next_attempt_at).limit(1)).scalar_one_or_none()
        return None if due is None else max(0.0, (due - utcnow()).total_seconds())

    def deliver_due(self) -> int:
        """Deliver every notice that is due; returns how many were attempted."""
        now = utcnow()
        due = db.session.execute(
            select(LogoutNotice.id).where(LogoutNotice.delivered_at.is_(None), LogoutNotice.failed_at.is_(None),
                                          LogoutNotice.next_attempt_at <= now).limit(50)).scalars().all()
        attempted = 0
        for notice_id in due:
            # lease the notice: among workers and hosts, one delivers it
            leased = db.session.execute(
                update(LogoutNotice).where(LogoutNotice.id == notice_id, LogoutNotice.next_attempt_at <= now,
                                           LogoutNotice.delivered_at.is_(None))
                .values(next_attempt_at=now + LEASE)).rowcount
            db.session.commit()
            if leased:
                self.attempt(db.session.get(LogoutNotice, notice_id))
                attempted += 1
        return attempted

    def attempt(self, notice: LogoutNotice) -> None:
        error = None
        try:
            check_destination(notice.uri, self.allow_private)
            response = self.http.post(notice.uri, data={"logout_token": notice.logout_token},
                                      timeout=self.timeout, allow_redirects=False)
            if response.status_code not in (200, 204):
                error = f"http-{response.status_code}"
        except (requests.RequestException, DestinationRefused) as exc:
            error = type(exc).__name__
        notice.attempts += 1
        if error is None:
            notice.delivered_at = utcnow()
        elif notice.attempts >= len(RETRY_DELAYS):
            notice.failed_at, notice.last_error = utcnow(), error
            log.warning("back-channel logout to %s failed for good: %s", notice.client_id, error)
        else:
            notice.last_error = error
            notice.next_attempt_at = utcnow() + timedelta(seconds=RETRY_DELAYS[notice.attempts])
        db.session.commit()
