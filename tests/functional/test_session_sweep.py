"""Expired sessions end even when the browser never comes back: tokens revoked, services told."""

from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy import select

from idp.db import db, utcnow
from idp.models import LoginSession, LogoutNotice, Token
from tests.conftest import make_client
from tests.support import RelyingParty, query


def test_sweep_ends_expired_sessions_revokes_their_tokens_and_queues_logout_tokens(app, browser, citizen,
                                                                                  monkeypatch):
    client_id, secret = make_client(app, backchannel_logout_uri="http://127.0.0.1:9/logout",
                                    grant_types=["authorization_code", "refresh_token"])
    rp = RelyingParty(app.test_client(), client_id, secret, "https://tax.example/cb")
    response = browser.consent(browser.login(browser.get(rp.authorize_url()), citizen["national_id"],
                                             citizen["mobile"]))
    tokens = rp.redeem(query(response.headers["Location"])["code"]).get_json()
    with app.app_context():
        login = db.session.execute(select(LoginSession)).scalar_one()
        login.expires_at = utcnow() - timedelta(seconds=1)  # the absolute lifetime has passed
        db.session.commit()

    from idp.cli import sessions as sessions_cli

    monkeypatch.setattr(sessions_cli, "app_context", lambda: _context(app))
    result = CliRunner().invoke(sessions_cli.sweep, [])
    assert result.exit_code == 0, result.output
    assert "Ended 1 expired session" in result.output
    with app.app_context():
        assert db.session.execute(select(LoginSession)).scalar_one().ended_at is not None
        assert all(t.revoked_at is not None for t in db.session.execute(select(Token)).scalars())
        assert db.session.execute(select(LogoutNotice)).scalar_one().client_id == client_id
    refreshed = rp.http.post("/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                             auth=(client_id, secret))
    assert refreshed.get_json()["error"] == "invalid_grant"


class _context:
    def __init__(self, app):
        self.app = app

    def __enter__(self):
        self.ctx = self.app.app_context()
        self.ctx.push()
        return self.app

    def __exit__(self, *exc):
        self.ctx.pop()


def test_sweep_removes_codes_an_hour_past_their_expiry_and_a_replay_is_still_caught(app, rp, browser, citizen,
                                                                                   monkeypatch):
    from idp.models import AuthorizationCode

    response = browser.consent(browser.login(browser.get(rp.authorize_url()), citizen["national_id"],
                                             citizen["mobile"]))
    code = query(response.headers["Location"])["code"]
    tokens = rp.redeem(code).get_json()
    fresh = query(browser.follow(browser.get(rp.authorize_url())).headers["Location"])["code"]  # single sign-on
    with app.app_context():
        rows = db.session.execute(select(AuthorizationCode).order_by(AuthorizationCode.created_at)).scalars().all()
        assert len(rows) == 2
        rows[0].expires_at = utcnow() - timedelta(hours=2)  # the redeemed one, long expired
        db.session.commit()

    from idp.cli import sessions as sessions_cli

    monkeypatch.setattr(sessions_cli, "app_context", lambda: _context(app))
    result = CliRunner().invoke(sessions_cli.sweep, [])
    assert result.exit_code == 0 and "removed 1 expired authorization code" in result.output, result.output
    with app.app_context():
        assert db.session.execute(select(db.func.count()).select_from(AuthorizationCode)).scalar() == 1
    assert rp.redeem(fresh).status_code == 200  # the code still valid was kept
    replay = rp.redeem(code)  # the removed one, replayed: refused, and its tokens revoked (RFC 6749 4.1.2)
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    assert rp.http.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).status_code == 401


def test_sweep_removes_token_records_a_month_past_their_lifetimes_a_refresh_family_only_whole(
        app, browser, citizen, monkeypatch):
    """Kept past the 30 days of a service's activity counts, then removed; a refresh token's family goes
    only once all its records have ended, so a rotated-away refresh token still revokes the family."""
    from idp.admin.clients import activity
    from idp.models import Client

    client_id, secret = make_client(app, grant_types=["authorization_code", "refresh_token"])
    rp = RelyingParty(app.test_client(), client_id, secret, "https://tax.example/cb")
    response = browser.consent(browser.login(browser.get(rp.authorize_url()), citizen["national_id"],
                                             citizen["mobile"]))
    first = rp.redeem(query(response.headers["Location"])["code"]).get_json()
    rotated = rp.http.post("/token", data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                           auth=(client_id, secret)).get_json()  # the family: the first record, used, and this one
    for _ in range(3):  # three more grants (single sign-on), each a family of its own
        assert rp.redeem(query(browser.get(rp.authorize_url()).headers["Location"])["code"]).status_code == 200
    long_ago, two_days_ago = utcnow() - timedelta(days=40), utcnow() - timedelta(days=2)
    with app.app_context():
        rows = db.session.execute(select(Token).order_by(Token.id)).scalars().all()
        assert len(rows) == 5
        used, live, gone, kept, endless = rows
        for row in (used, gone):  # issued and ended 40 days ago (``used``'s family lives on)
            row.issued_at = row.expires_at = row.refresh_expires_at = long_ago
        kept.issued_at = kept.expires_at = kept.refresh_expires_at = two_days_ago  # still in the activity counts
        endless.issued_at = endless.expires_at = long_ago
        endless.refresh_expires_at = None  # a refresh token with no expiry never ends
        jtis = {row.jti for row in (used, live, kept, endless)}
        db.session.commit()
        service = db.session.execute(select(Client).filter_by(client_id=client_id)).scalar_one()
        counted = dict(activity(service), as_of=None)

    from idp.cli import sessions as sessions_cli

    monkeypatch.setattr(sessions_cli, "app_context", lambda: _context(app))
    result = CliRunner().invoke(sessions_cli.sweep, [])
    assert result.exit_code == 0 and "and 1 expired token record(s)" in result.output, result.output
    with app.app_context():
        assert set(db.session.execute(select(Token.jti)).scalars()) == jtis
        service = db.session.execute(select(Client).filter_by(client_id=client_id)).scalar_one()
        assert dict(activity(service), as_of=None) == counted  # the counts lost nothing
    # the rotated-away refresh token is still recognised: presented again, it revokes its whole family
    replay = rp.http.post("/token", data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                          auth=(client_id, secret))
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    assert rp.http.get("/userinfo", headers={"Authorization": f"Bearer {rotated['access_token']}"}).status_code == 401
