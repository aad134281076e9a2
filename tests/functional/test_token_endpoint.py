"""The token endpoint (RFC 6749 3.2, 4.1.3, 5.2; RFC 7636 4.5-4.6) as a relying party sees it."""

import base64
from datetime import timedelta

import pytest

from tests.conftest import make_client
from tests.support import RelyingParty, authorize, pkce_pair, query, verify_provider_jwt


@pytest.fixture
def settings(module_provider):
    """This module shares one provider (see module_provider in conftest.py)."""
    return module_provider[0]


@pytest.fixture
def app(module_provider):
    return module_provider[1]


def code_for(browser, rp, citizen, **extra) -> str:
    return query(authorize(browser, rp, citizen, **extra).headers["Location"])["code"]


def assert_oauth_error(response, status, error):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.get_json()["error"] == error
    assert "access_token" not in response.get_json()
    assert "no-store" in response.headers.get("Cache-Control", "")


def userinfo(rp, access_token):
    return rp.http.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})


def basic(client_id, secret):
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def redeem_raw(rp, code, headers=None, **data):
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri,
            "code_verifier": rp.verifier}
    body.update(data)
    return rp.http.post("/token", data={k: v for k, v in body.items() if v is not None}, headers=headers or {})


# --- client authentication ---

def test_wrong_client_secret_is_invalid_client(rp, browser, citizen):
    code = code_for(browser, rp, citizen)
    response = redeem_raw(rp, code, headers=basic(rp.client_id, "not-the-secret"))
    assert_oauth_error(response, 401, "invalid_client")
    assert "WWW-Authenticate" in response.headers
    # a failed client authentication did not burn the code
    assert rp.redeem(code).status_code == 200


def test_unknown_client_is_invalid_client(rp, browser, citizen):
    code = code_for(browser, rp, citizen)
    response = redeem_raw(rp, code, headers=basic("no-such-client", rp.secret))
    assert_oauth_error(response, 401, "invalid_client")


def test_no_client_authentication_is_invalid_client(rp, browser, citizen):
    code = code_for(browser, rp, citizen)
    assert_oauth_error(redeem_raw(rp, code), 401, "invalid_client")
    assert_oauth_error(redeem_raw(rp, code, client_id=rp.client_id), 401, "invalid_client")


def test_secret_in_the_body_is_refused_for_a_basic_client(rp, browser, citizen):
    code = code_for(browser, rp, citizen)
    response = redeem_raw(rp, code, client_id=rp.client_id, client_secret=rp.secret)
    assert_oauth_error(response, 401, "invalid_client")


def test_client_secret_post_client_works_and_basic_is_refused(app, browser, citizen):
    client_id, secret = make_client(app, auth_method="client_secret_post")
    rp = RelyingParty(app.test_client(), client_id, secret, "https://tax.example/cb")
    code = code_for(browser, rp, citizen)
    refused = redeem_raw(rp, code, headers=basic(client_id, secret))
    assert_oauth_error(refused, 401, "invalid_client")
    response = redeem_raw(rp, code, client_id=client_id, client_secret=secret)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert userinfo(rp, response.get_json()["access_token"]).status_code == 200


def test_client_secret_post_with_wrong_secret(app, browser, citizen):
    client_id, secret = make_client(app, auth_method="client_secret_post")
    rp = RelyingParty(app.test_client(), client_id, secret, "https://tax.example/cb")
    code = code_for(browser, rp, citizen)
    response = redeem_raw(rp, code, client_id=client_id, client_secret=secret + "x")
    assert_oauth_error(response, 401, "invalid_client")


def test_confidential_client_cannot_pose_as_public(rp, browser, citizen):
    code = code_for(browser, rp, citizen)
    response = redeem_raw(rp, code, client_id=rp.client_id)  # auth method "none"
    assert_oauth_error(response, 401, "invalid_client")


# --- the authorization code ---

def test_code_used_twice_is_invalid_grant_and_revokes_the_first_tokens(rp, browser, citizen):
    code = code_for(browser, rp, citizen)
    first = rp.redeem(code)
    assert first.status_code == 200
    access_token = first.get_json()["access_token"]
    assert userinfo(rp, access_token).status_code == 200
    second = rp.redeem(code)
    assert_oauth_error(second, 400, "invalid_grant")
    after = userinfo(rp, access_token)
    assert after.status_code == 401
    assert 'error="invalid_token"' in after.headers.get("WWW-Authenticate", "")


def test_a_code_redeemed_twice_at_once_gives_one_token_and_revokes_it(app, rp, browser, citizen):
    """Two redemptions racing: the second waits for the first's claim to be committed (with its
    token), then finds the code used: invalid_grant, and the winner's token is revoked."""
    import threading

    code = code_for(browser, rp, citizen)
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri,
            "code_verifier": rp.verifier}
    start, answers = threading.Barrier(2), []

    def redeem():
        http = app.test_client()  # its own request context, session and database connection
        start.wait()
        answers.append(http.post("/token", data=body, headers=basic(rp.client_id, rp.secret)))

    racers = [threading.Thread(target=redeem) for _ in range(2)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(timeout=60)
    assert sorted(answer.status_code for answer in answers) == [200, 400]
    won = next(answer for answer in answers if answer.status_code == 200)
    lost = next(answer for answer in answers if answer.status_code == 400)
    assert_oauth_error(lost, 400, "invalid_grant")
    assert userinfo(rp, won.get_json()["access_token"]).status_code == 401


def test_a_redemption_that_fails_on_our_side_can_be_retried_with_the_same_code(app, rp, browser, citizen,
                                                                               monkeypatch):
    """The civil registry is down while the token is made: a 503 and nothing issued, and the code
    is not lost with it (the citizen need not sign in again); it still works only once."""
    from idp.adapters.registry import RegistryUnavailable

    code = code_for(browser, rp, citizen)
    registry = app.extensions["panjereh"].server.registry

    def down(national_id):
        raise RegistryUnavailable("the civil registry does not answer")

    monkeypatch.setattr(registry, "find", down)
    assert_oauth_error(rp.redeem(code), 503, "temporarily_unavailable")
    monkeypatch.undo()
    assert rp.redeem(code).status_code == 200
    assert_oauth_error(rp.redeem(code), 400, "invalid_grant")


def test_replayed_code_revokes_the_refresh_token_too(app, browser, citizen):
    client_id, secret = make_client(app, grant_types=["authorization_code", "refresh_token"],
                                    scope="openid profile national_id offline_access")
    rp = RelyingParty(app.test_client(), client_id, secret, "https://tax.example/cb",
                      scope="openid profile offline_access")
    code = code_for(browser, rp, citizen)
    first = rp.redeem(code).get_json()
    if "refresh_token" not in first:
        pytest.skip("no refresh token issued for this client")
    assert_oauth_error(rp.redeem(code), 400, "invalid_grant")
    refreshed = rp.http.post("/token", data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                             headers=basic(client_id, secret))
    assert_oauth_error(refreshed, 400, "invalid_grant")


def test_unknown_code_is_invalid_grant(rp, browser, citizen):
    code_for(browser, rp, citizen)
    assert_oauth_error(rp.redeem("not-a-code"), 400, "invalid_grant")


def test_missing_code_is_invalid_request(rp, browser, citizen):
    code_for(browser, rp, citizen)
    response = redeem_raw(rp, None, headers=basic(rp.client_id, rp.secret))
    assert_oauth_error(response, 400, "invalid_request")


def test_wrong_code_verifier_is_invalid_grant(rp, browser, citizen):
    code = code_for(browser, rp, citizen)
    other_verifier, _ = pkce_pair()
    assert_oauth_error(rp.redeem(code, code_verifier=other_verifier), 400, "invalid_grant")


def test_a_code_refused_for_its_verifier_is_used_up(rp, browser, citizen):
    """Whoever holds a code and guesses at its verifier gets one try: the code is spent by it."""
    code = code_for(browser, rp, citizen)
    other_verifier, _ = pkce_pair()
    assert_oauth_error(rp.redeem(code, code_verifier=other_verifier), 400, "invalid_grant")
    assert_oauth_error(rp.redeem(code), 400, "invalid_grant")  # the right verifier comes too late


def test_missing_code_verifier_is_invalid_request(rp, browser, citizen):
    code = code_for(browser, rp, citizen)
    response = redeem_raw(rp, code, headers=basic(rp.client_id, rp.secret), code_verifier=None)
    assert_oauth_error(response, 400, "invalid_request")


def test_code_verifier_sent_without_a_challenge_is_refused(rp, browser, citizen):
    # a confidential client may skip PKCE; then a verifier at the token endpoint means a mixed-up request
    code = code_for(browser, rp, citizen, code_challenge=None, code_challenge_method=None)
    assert_oauth_error(rp.redeem(code), 400, "invalid_request")


def test_redirect_uri_mismatch_is_invalid_grant(app, browser, citizen):
    uris = ["https://tax.example/cb", "https://tax.example/other"]
    client_id, secret = make_client(app, redirect_uris=uris)
    rp = RelyingParty(app.test_client(), client_id, secret, uris[0])
    code = code_for(browser, rp, citizen)
    assert_oauth_error(rp.redeem(code, redirect_uri=uris[1]), 400, "invalid_grant")
    assert_oauth_error(rp.redeem(code), 400, "invalid_grant")  # spent by the refused attempt


def test_redirect_uri_missing_at_token_is_invalid_grant(rp, browser, citizen):
    code = code_for(browser, rp, citizen)
    # RFC 6749 4.1.3: required when it was in the authorization request
    response = redeem_raw(rp, code, headers=basic(rp.client_id, rp.secret), redirect_uri=None)
    assert_oauth_error(response, 400, "invalid_grant")


def test_code_of_client_a_redeemed_by_client_b_is_invalid_grant(app, rp, browser, citizen):
    b_id, b_secret = make_client(app, name="Other", redirect_uris=["https://tax.example/cb"])
    client_b = RelyingParty(app.test_client(), b_id, b_secret, rp.redirect_uri)
    code = code_for(browser, rp, citizen)
    client_b.verifier = rp.verifier
    assert_oauth_error(client_b.redeem(code), 400, "invalid_grant")


def test_expired_code_is_invalid_grant(app, rp, browser, citizen):
    from idp.db import db, utcnow
    from idp.models import AuthorizationCode

    code = code_for(browser, rp, citizen)
    with app.app_context():
        db.session.execute(db.update(AuthorizationCode).where(AuthorizationCode.client_id == rp.client_id)
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert_oauth_error(rp.redeem(code), 400, "invalid_grant")


def test_code_lifetime_follows_the_setting(app, settings, rp, browser, citizen):
    from idp.db import db
    from idp.models import AuthorizationCode

    code_for(browser, rp, citizen)
    with app.app_context():
        row = db.session.execute(db.select(AuthorizationCode).filter_by(client_id=rp.client_id)).scalar_one()
        lifetime = (row.expires_at - row.created_at).total_seconds()
    assert abs(lifetime - settings.authorization_code_ttl) < 2


def test_code_is_not_stored_in_clear(app, rp, browser, citizen):
    from idp.db import db
    from idp.models import AuthorizationCode

    code = code_for(browser, rp, citizen)
    with app.app_context():
        rows = db.session.execute(db.select(AuthorizationCode).filter_by(client_id=rp.client_id)).scalars().all()
        assert len(rows) == 1
        assert rows[0].code_hash != code and code not in rows[0].code_hash


# --- public clients ---

@pytest.fixture
def public_rp(app):
    client_id, secret = make_client(app, name="Mobile app", auth_method="none",
                                    redirect_uris=["https://app.example/cb"])
    assert secret is None
    return RelyingParty(app.test_client(), client_id, None, "https://app.example/cb")


def test_public_client_full_flow_with_pkce(public_rp, browser, citizen):
    code = code_for(browser, public_rp, citizen)
    response = public_rp.redeem(code)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert "id_token" in body
    assert userinfo(public_rp, body["access_token"]).status_code == 200


def test_public_client_wrong_verifier_is_invalid_grant(public_rp, browser, citizen):
    code = code_for(browser, public_rp, citizen)
    other_verifier, _ = pkce_pair()
    assert_oauth_error(public_rp.redeem(code, code_verifier=other_verifier), 400, "invalid_grant")


def test_public_client_with_a_made_up_secret_is_refused(public_rp, browser, citizen):
    code = code_for(browser, public_rp, citizen)
    response = redeem_raw(public_rp, code, headers=basic(public_rp.client_id, "made-up"))
    assert_oauth_error(response, 401, "invalid_client")


# --- the HTTP surface ---

def test_token_responses_are_not_cached(rp, browser, citizen):
    code = code_for(browser, rp, citizen)
    ok = rp.redeem(code)
    assert ok.status_code == 200
    assert "no-store" in ok.headers["Cache-Control"]
    assert ok.get_json()["expires_in"] > 0
    error = rp.redeem(code)
    assert "no-store" in error.headers["Cache-Control"]


def test_token_endpoint_needs_no_csrf_token(app, rp, browser, citizen):
    assert app.config.get("WTF_CSRF_ENABLED", True) is True  # CSRF is on for the forms
    code = code_for(browser, rp, citizen)
    response = rp.redeem(code)  # a plain POST with no csrf_token and no cookies
    assert response.status_code == 200
    assert response.mimetype == "application/json"


def test_unsupported_grant_type(rp):
    response = rp.http.post("/token", data={"grant_type": "password", "username": "x", "password": "y"},
                            headers=basic(rp.client_id, rp.secret))
    assert_oauth_error(response, 400, "unsupported_grant_type")


def test_get_is_not_allowed_at_the_token_endpoint(rp):
    assert rp.http.get("/token").status_code == 405


def test_userinfo_without_a_token_is_401(rp):
    response = rp.http.get("/userinfo")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].lower().startswith("bearer")


def test_userinfo_without_a_token_gets_a_bare_bearer_challenge(rp):
    response = rp.http.get("/userinfo")
    assert response.status_code == 401
    assert "error=" not in response.headers["WWW-Authenticate"]


def test_userinfo_with_a_malformed_token_is_invalid_token(rp):
    response = rp.http.get("/userinfo", headers={"Authorization": "Bearer not-a-jwt"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_userinfo_with_a_forged_token_is_401(rp, browser, citizen):
    body = rp.redeem(code_for(browser, rp, citizen)).get_json()
    header, payload, signature = body["access_token"].split(".")
    forged_payload = base64.urlsafe_b64encode(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).replace(b'"scope"', b'"scopf"')
    ).rstrip(b"=").decode()
    response = userinfo(rp, ".".join([header, forged_payload, signature]))
    assert response.status_code == 401


def test_client_suspended_after_the_code_cannot_redeem_it(app, rp, browser, citizen):
    from idp.db import db
    from idp.models import Client

    code = code_for(browser, rp, citizen)
    with app.app_context():
        db.session.execute(db.update(Client).where(Client.client_id == rp.client_id).values(status="suspended"))
        db.session.commit()
    assert_oauth_error(rp.redeem(code), 401, "invalid_client")


def test_expired_access_token_is_refused_at_userinfo(monkeypatch, rp, browser, citizen):
    import time

    access_token = rp.redeem(code_for(browser, rp, citizen)).get_json()["access_token"]
    assert userinfo(rp, access_token).status_code == 200
    exp = verify_provider_jwt(rp.http, access_token).claims["exp"]
    monkeypatch.setattr(time, "time", lambda: exp + 1)  # past the signed lifetime
    response = userinfo(rp, access_token)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers.get("WWW-Authenticate", "")


def test_userinfo_accepts_post(rp, browser, citizen):
    # OpenID Connect Core 5.3.1: GET and POST
    access_token = rp.redeem(code_for(browser, rp, citizen)).get_json()["access_token"]
    response = rp.http.post("/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    assert response.status_code == 200
    assert response.get_json()["national_id"] == citizen["national_id"]
    assert "no-store" in response.headers["Cache-Control"]


def test_token_without_openid_scope_has_no_id_token_and_no_userinfo(rp, browser, citizen):
    rp.scope = "profile national_id"
    body = rp.redeem(code_for(browser, rp, citizen)).get_json()
    assert "id_token" not in body
    assert "openid" not in body["scope"].split()
    response = userinfo(rp, body["access_token"])
    assert response.status_code == 403
    assert response.get_json()["error"] == "insufficient_scope"


def test_insufficient_scope_at_userinfo_has_www_authenticate(rp, browser, citizen):
    rp.scope = "profile national_id"
    body = rp.redeem(code_for(browser, rp, citizen)).get_json()
    response = userinfo(rp, body["access_token"])
    assert response.status_code == 403
    challenge = response.headers.get("WWW-Authenticate", "")
    assert challenge.startswith("Bearer") and 'error="insufficient_scope"' in challenge


def test_protocol_answers_are_compact_utf8_json_and_never_fail_on_a_lone_surrogate(app):
    import json

    server = app.extensions["panjereh"].server
    with app.test_request_context("/token", method="POST"):
        plain = server.handle_response(200, {"name": "زهرا"}, [("Content-Type", "application/json")])
        odd = server.handle_response(400, {"error": "invalid_request", "state": "\ud800x"},
                                     [("Content-Type", "application/json")])
    assert plain.get_data() == '{"name":"زهرا"}'.encode()  # UTF-8, two bytes a letter
    assert odd.status_code == 400 and json.loads(odd.get_data()) == {"error": "invalid_request", "state": "\ud800x"}


def test_plain_http_to_a_public_host_is_a_400_and_spends_no_code(rp, browser, citizen):
    """RFC 6749 section 1.6: refused before anything is read (it used to be a 500), and the code still
    works once the request comes over https."""
    code = code_for(browser, rp, citizen)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri,
            "code_verifier": rp.verifier}
    plain = rp.http.post("/token", data=data, headers=basic(rp.client_id, rp.secret), base_url="http://idp.example")
    assert_oauth_error(plain, 400, "invalid_request")
    assert rp.redeem(code).status_code == 200

