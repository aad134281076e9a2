"""Logout: RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) and back-channel logout
(OpenID Connect Back-Channel Logout 1.0), as relying parties see them."""

import time
from urllib.parse import urlencode

import pytest

from tests.conftest import make_client
from tests.support import (Forms, RecordingServer, RelyingParty, authorize, introspect, query, sign_in_tokens,
                           stop_logout_courier, token_request, verify_provider_jwt)

ISSUER = "http://127.0.0.1:5000"
BYE = "https://tax.example/bye"
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


@pytest.fixture
def logout_rp(app):
    client_id, secret = make_client(app, post_logout_redirect_uris=[BYE],
                                    grant_types=["authorization_code", "refresh_token"])
    return RelyingParty(app.test_client(), client_id, secret, "https://tax.example/cb")


@pytest.fixture
def courier_stopped(app):
    """Back-channel tests: let the app's delivery thread finish before the app is torn down."""
    yield
    assert stop_logout_courier(app), "the logout courier thread did not stop"


def logout_url(**params) -> str:
    return "/logout?" + urlencode({k: v for k, v in params.items() if v is not None})


def assert_signed_out(browser, rp):
    response = browser.get(rp.authorize_url(prompt="none"))
    assert response.status_code == 302
    params = query(response.headers["Location"])
    assert response.headers["Location"].startswith(rp.redirect_uri + "?")
    assert params["error"] == "login_required", params
    assert params["state"] == rp.state


def assert_signed_in(browser, rp):
    response = browser.get(rp.authorize_url(prompt="none"))
    assert response.status_code == 302
    params = query(response.headers["Location"])
    assert "code" in params, params


def test_discovery_publishes_logout_support(app):
    metadata = app.test_client().get("/.well-known/openid-configuration").get_json()
    assert metadata["end_session_endpoint"] == f"{ISSUER}/logout"
    assert metadata["backchannel_logout_supported"] is True
    assert metadata["backchannel_logout_session_supported"] is True


# --- RP-initiated logout ---

def test_logout_with_id_token_hint_redirects_with_state(logout_rp, browser, citizen):
    tokens = sign_in_tokens(browser, logout_rp, citizen)
    response = browser.get(logout_url(id_token_hint=tokens["id_token"], post_logout_redirect_uri=BYE,
                                      state="xyz"))
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:300]
    assert response.headers["Location"] == f"{BYE}?state=xyz"
    assert_signed_out(browser, logout_rp)


def test_logout_with_id_token_hint_and_client_id_redirects_with_state(logout_rp, browser, citizen):
    tokens = sign_in_tokens(browser, logout_rp, citizen)
    response = browser.get(logout_url(id_token_hint=tokens["id_token"], client_id=logout_rp.client_id,
                                      post_logout_redirect_uri=BYE, state="xyz"))
    # at once: no confirmation page
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:300]
    assert response.headers["Location"] == f"{BYE}?state=xyz"
    assert_signed_out(browser, logout_rp)


def test_logout_with_id_token_hint_and_no_redirect_uri_shows_a_page(logout_rp, browser, citizen):
    tokens = sign_in_tokens(browser, logout_rp, citizen)
    response = browser.get(logout_url(id_token_hint=tokens["id_token"]))
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert_signed_out(browser, logout_rp)


def test_unregistered_post_logout_redirect_uri_is_never_followed(logout_rp, browser, citizen):
    tokens = sign_in_tokens(browser, logout_rp, citizen)
    for uri in ("https://evil.example/bye", BYE + "/", "https://tax.example/cb"):
        response = browser.get(logout_url(id_token_hint=tokens["id_token"], client_id=logout_rp.client_id,
                                          post_logout_redirect_uri=uri, state="xyz"))
        assert response.status_code not in (301, 302, 303, 307, 308)
        assert "Location" not in response.headers
        assert 'href="https://evil.example' not in response.get_data(as_text=True)
        assert 'action="https://evil.example' not in response.get_data(as_text=True)


def test_client_id_that_is_not_the_hints_audience_is_refused(app, logout_rp, browser, citizen):
    other_id, _ = make_client(app, name="E-Health", agency="health", redirect_uris=["https://health.example/cb"],
                              post_logout_redirect_uris=["https://health.example/bye"])
    tokens = sign_in_tokens(browser, logout_rp, citizen)
    response = browser.get(logout_url(id_token_hint=tokens["id_token"], client_id=other_id,
                                      post_logout_redirect_uri="https://health.example/bye"))
    assert "Location" not in response.headers
    assert_signed_in(browser, logout_rp)


def test_logout_without_hint_asks_for_confirmation(logout_rp, browser, citizen):
    authorize(browser, logout_rp, citizen)
    page = browser.get(logout_url())
    assert page.status_code == 200
    form = Forms(page.get_data(as_text=True)).with_field("decision")
    assert form["method"] == "post"
    assert sorted(value for name, value in form["buttons"] if name == "decision") == ["cancel", "logout"]
    # nothing happened yet
    assert_signed_in(browser, logout_rp)


def test_cancel_keeps_the_session(logout_rp, browser, citizen):
    authorize(browser, logout_rp, citizen)
    page = browser.get(logout_url())
    response = browser.submit(page, "decision", button=("decision", "cancel"))
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert_signed_in(browser, logout_rp)


def test_confirmed_logout_ends_the_session(logout_rp, browser, citizen):
    authorize(browser, logout_rp, citizen)
    page = browser.get(logout_url())
    response = browser.submit(page, "decision", button=("decision", "logout"))
    assert response.status_code == 200
    assert_signed_out(browser, logout_rp)


def test_confirmed_logout_redirects_to_a_registered_uri(logout_rp, browser, citizen):
    authorize(browser, logout_rp, citizen)
    page = browser.get(logout_url(client_id=logout_rp.client_id, post_logout_redirect_uri=BYE, state="xyz"))
    assert page.status_code == 200  # no hint: confirm first, never redirect straight away
    response = browser.submit(page, "decision", button=("decision", "logout"))
    assert response.status_code in (302, 303)
    assert response.headers["Location"] == f"{BYE}?state=xyz"
    assert_signed_out(browser, logout_rp)


def test_confirmation_without_csrf_token_does_nothing(logout_rp, browser, citizen):
    authorize(browser, logout_rp, citizen)
    response = browser.client.post("/logout", data={"decision": "logout"})
    assert response.status_code in (200, 400)
    assert_signed_in(browser, logout_rp)


def test_tokens_of_the_session_are_revoked_at_logout(logout_rp, browser, citizen):
    first = sign_in_tokens(browser, logout_rp, citizen)
    auth = (logout_rp.client_id, logout_rp.secret)
    # a refreshed pair belongs to the same session
    tokens = token_request(logout_rp.http, *auth, grant_type="refresh_token",
                           refresh_token=first["refresh_token"]).get_json()
    assert introspect(logout_rp.http, tokens["access_token"], *auth).get_json()["active"] is True
    assert introspect(logout_rp.http, first["access_token"], *auth).get_json()["active"] is True
    response = browser.get(logout_url(id_token_hint=tokens["id_token"], client_id=logout_rp.client_id))
    assert response.status_code in (200, 302, 303)
    assert introspect(logout_rp.http, tokens["access_token"], *auth).get_json() == {"active": False}
    assert introspect(logout_rp.http, tokens["refresh_token"], *auth).get_json() == {"active": False}
    assert introspect(logout_rp.http, first["access_token"], *auth).get_json() == {"active": False}
    userinfo = logout_rp.http.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert userinfo.status_code == 401
    refreshed = token_request(logout_rp.http, *auth, grant_type="refresh_token",
                              refresh_token=tokens["refresh_token"])
    assert refreshed.status_code == 400
    assert refreshed.get_json()["error"] == "invalid_grant"


def test_a_hint_for_another_session_asks_for_confirmation(app, logout_rp, browser, citizens):
    """A stale or foreign ID token does not end the current session without the citizen's say."""
    other_browser = type(browser)(app.test_client(), browser.outbox)
    foreign = sign_in_tokens(other_browser, logout_rp, citizens[1])
    authorize(browser, logout_rp, citizens[0])
    response = browser.get(logout_url(id_token_hint=foreign["id_token"], client_id=logout_rp.client_id,
                                      post_logout_redirect_uri=BYE))
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert_signed_in(browser, logout_rp)


# --- back-channel logout ---

def wait_delivered(app, timeout=5.0):
    """Poll the outbox table until every logout notice was delivered or failed for good."""
    from idp.db import db
    from idp.models import LogoutNotice

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with app.app_context():
            pending = db.session.execute(db.select(LogoutNotice).where(
                LogoutNotice.delivered_at.is_(None), LogoutNotice.failed_at.is_(None))).scalars().all()
            db.session.remove()
        if not pending:
            return True
        time.sleep(0.05)
    return False


def test_back_channel_logout(app, browser, citizen, courier_stopped):
    with RecordingServer(delay=2.0) as stub:
        notified_id, notified_secret = make_client(app, name="E-Tax", backchannel_logout_uri=stub.url + "/bcl/tax")
        notified = RelyingParty(app.test_client(), notified_id, notified_secret, "https://tax.example/cb")
        quiet_id, quiet_secret = make_client(app, name="E-Health", agency="health",
                                             redirect_uris=["https://health.example/cb"])
        quiet = RelyingParty(app.test_client(), quiet_id, quiet_secret, "https://health.example/cb")
        # a service with a back-channel URI that took no part in this session
        make_client(app, name="E-Edu", agency="edu", redirect_uris=["https://edu.example/cb"],
                    backchannel_logout_uri=stub.url + "/bcl/edu")

        tokens = sign_in_tokens(browser, notified, citizen)
        sign_in_tokens(browser, quiet, citizen)  # single sign-on into a second service
        id_token = verify_provider_jwt(notified.http, tokens["id_token"]).claims

        started = time.monotonic()
        response = browser.get(logout_url(id_token_hint=tokens["id_token"], client_id=notified_id))
        elapsed = time.monotonic() - started
        assert response.status_code in (200, 302, 303)
        # the citizen's page did not wait for the service (which takes 2 s to answer)
        assert elapsed < 1.5, elapsed

        posts = stub.wait_for_posts(1, timeout=5.0)
        assert len(posts) == 1, posts
        assert wait_delivered(app), "the logout token was not marked delivered"
        assert len(stub.posts) == 1, stub.posts  # exactly one, and only to the service in the session
        post = stub.posts[0]

    assert post["path"] == "/bcl/tax"
    assert post["headers"]["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert set(post["form"]) == {"logout_token"}
    token = verify_provider_jwt(notified.http, post["form"]["logout_token"])
    assert token.header["typ"] == "logout+jwt"
    claims = token.claims
    assert claims["iss"] == ISSUER
    assert claims["aud"] == notified_id or claims["aud"] == [notified_id]
    assert abs(claims["iat"] - time.time()) < 30
    assert claims["jti"]
    assert BACKCHANNEL_EVENT in claims["events"]
    assert claims["events"][BACKCHANNEL_EVENT] == {}
    assert claims["sid"] == id_token["sid"]
    assert claims["sub"] == id_token["sub"]
    assert "nonce" not in claims


def test_back_channel_logout_is_retried(app, browser, citizen, courier_stopped, monkeypatch):
    import idp.oauth.logout

    monkeypatch.setattr(idp.oauth.logout, "RETRY_DELAYS", (0, 0.2, 0.2, 0.2, 0.2))
    with RecordingServer(statuses=(500, 200)) as stub:
        client_id, secret = make_client(app, backchannel_logout_uri=stub.url + "/bcl")
        rp = RelyingParty(app.test_client(), client_id, secret, "https://tax.example/cb")
        tokens = sign_in_tokens(browser, rp, citizen)
        browser.get(logout_url(id_token_hint=tokens["id_token"], client_id=client_id))

        posts = stub.wait_for_posts(2, timeout=5.0)
        assert len(posts) == 2, posts
        assert wait_delivered(app)
        assert len(stub.posts) == 2  # delivered on the second attempt; no third
    assert posts[0]["form"]["logout_token"] == posts[1]["form"]["logout_token"]
    assert posts[1]["at"] - posts[0]["at"] >= 0.15
