"""Levels of assurance (``acr``), as a relying party and a citizen see them over HTTP.

loa1: national ID + SMS code; loa2: loa1 with the registry and mobile ownership verified live (the
embedded registry always is); loa3: loa2 plus an authenticator app. A level a service *needs* (an
essential ``acr`` claim, or its registered ``default_acr_values``) is met or the service gets
``unmet_authentication_requirements``, never a weaker token; ``acr_values`` is only a preference.
"""

from __future__ import annotations

import json


from tests.conftest import ISSUER, make_client
from tests.support import (RelyingParty, at_rp, backdate_sign_ins, enrol_authenticator, follow_trace,
                           is_page_with, jwt_unverified, next_totp, page_step, query, sign_in_tokens, sms_messages,
                           verify_provider_jwt, walk)

LOA1, LOA2, LOA3 = "urn:panjereh:loa:1", "urn:panjereh:loa:2", "urn:panjereh:loa:3"

ESSENTIAL_LOA3 = json.dumps({"id_token": {"acr": {"essential": True, "values": [LOA3]}}})


def another_rp(app, name, redirect_uri, **registration):
    client_id, secret = make_client(app, name=name, redirect_uris=[redirect_uri], **registration)
    return RelyingParty(app.test_client(), client_id, secret, redirect_uri)


def redeem_id_token(app, rp, response) -> dict:
    """The claims of the ID token the service gets for the code in ``response`` (signature verified)."""
    assert at_rp(response, rp), (response.status_code, response.headers.get("Location"))
    params = query(response.headers["Location"])
    assert "code" in params, params
    token = rp.redeem(params["code"])
    assert token.status_code == 200, token.get_data(as_text=True)
    return verify_provider_jwt(rp.http, token.get_json()["id_token"]).claims


def assert_unmet(response, rp):
    """``unmet_authentication_requirements`` at the redirect URI, with state and iss, and no code."""
    assert at_rp(response, rp), (response.status_code, response.headers.get("Location"),
                                 response.get_data(as_text=True)[:300])
    params = query(response.headers["Location"])
    assert params["error"] == "unmet_authentication_requirements", params
    assert params["state"] == rp.state
    assert params["iss"] == ISSUER
    assert "code" not in params


def test_discovery_publishes_the_three_levels(app):
    metadata = app.test_client().get("/.well-known/openid-configuration").get_json()
    assert metadata["acr_values_supported"] == [LOA1, LOA2, LOA3]
    assert "acr" in metadata["claims_supported"]
    assert metadata.get("claims_parameter_supported") is True


def test_sms_login_with_the_live_registry_is_loa2(app, rp, browser, citizen):
    body = sign_in_tokens(browser, rp, citizen)
    claims = verify_provider_jwt(rp.http, body["id_token"]).claims
    assert claims["acr"] == LOA2
    assert claims["amr"] == ["sms"]


def test_acr_values_is_a_preference_the_token_says_what_was_achieved(app, rp, browser, citizen):
    body = sign_in_tokens(browser, rp, citizen, acr_values=LOA1)
    _header, claims = jwt_unverified(body["id_token"])
    assert claims["acr"] == LOA2  # what the sign-in reached, not less


def test_acr_values_asking_for_loa3_is_not_enforced(app, rp, browser, citizen):
    """A voluntary preference the sign-in cannot meet still gives a token, honestly labelled."""
    body = sign_in_tokens(browser, rp, citizen, acr_values=LOA3)
    _header, claims = jwt_unverified(body["id_token"])
    assert claims["acr"] == LOA2


def test_essential_loa3_without_an_authenticator_is_unmet_after_the_sms_login(app, rp, browser, citizen):
    response = browser.get(rp.authorize_url(claims=ESSENTIAL_LOA3))
    response, seen = walk(browser, response, citizen)
    assert seen == ["identify", "verify"]  # signed in, no consent asked, no token
    assert_unmet(response, rp)


def test_a_service_registered_for_loa3_gets_unmet_not_a_weaker_token(app, browser, citizen):
    strict = another_rp(app, "Land registry", "https://land.example/cb", default_acr_values=[LOA3])
    response, seen = walk(browser, browser.get(strict.authorize_url()), citizen)
    assert seen == ["identify", "verify"]
    assert_unmet(response, strict)
    # nor by asking for less: the registered minimum holds
    response, seen = walk(browser, browser.get(strict.authorize_url(acr_values=LOA1)), citizen)
    assert seen == []  # already signed in: no page at all
    assert_unmet(response, strict)


def test_unknown_essential_level_is_unmet_without_a_page(app, rp, browser):
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": ["urn:example:loa:9"]}}})
    response = browser.get(rp.authorize_url(claims=claims))
    assert_unmet(response, rp)


def test_prompt_none_with_an_unmet_level_is_an_error_without_a_page(app, rp, browser, citizen):
    # not signed in
    response = browser.get(rp.authorize_url(prompt="none", claims=ESSENTIAL_LOA3))
    assert at_rp(response, rp)
    params = query(response.headers["Location"])
    assert params["error"] in {"login_required", "interaction_required"}, params
    assert params["state"] == rp.state and params["iss"] == ISSUER and "code" not in params
    # signed in at loa2, no authenticator app
    sign_in_tokens(browser, rp, citizen)
    response = browser.get(rp.authorize_url(prompt="none", claims=ESSENTIAL_LOA3))
    assert at_rp(response, rp), response.status_code
    params = query(response.headers["Location"])
    assert params["error"] in {"login_required", "interaction_required", "unmet_authentication_requirements"}
    assert params["state"] == rp.state and params["iss"] == ISSUER and "code" not in params
    # and the SSO session is still there at loa2 for a request it can meet
    response = browser.get(rp.authorize_url(prompt="none"))
    assert "code" in query(response.headers["Location"])


def test_step_up_asks_only_for_the_app_code_and_stays_raised(app, rp, browser, citizen):
    sign_in_tokens(browser, rp, citizen)
    secret, _codes = enrol_authenticator(browser)
    backdate_sign_ins(app, 120)  # two minutes later...
    before = sign_in_tokens(browser, rp, citizen)  # single sign-on, what the first service sees now
    _h, before = jwt_unverified(before["id_token"])
    assert before["acr"] == LOA2
    sent = len(sms_messages(browser.outbox))

    health = another_rp(app, "E-Health", "https://health.example/cb")
    response, paths = follow_trace(browser, browser.get(health.authorize_url(claims=ESSENTIAL_LOA3)))
    assert paths == [] and page_step(response) == "factor", paths  # straight to the factor step
    assert is_page_with(response, "otp") and is_page_with(response, "recovery_code")
    assert not is_page_with(response, "national_id")
    response, seen = walk(browser, response, factor=next_totp(secret))
    assert seen == ["factor", "consent"]
    claims = redeem_id_token(app, health, response)
    assert claims["acr"] == LOA3
    assert {"mfa", "otp"} <= set(claims["amr"])
    assert claims["auth_time"] > before["auth_time"]
    assert claims["sub"]  # the same citizen, pairwise for this service
    assert len(sms_messages(browser.outbox)) == sent  # no SMS for a step-up

    # the session stays at loa3: the next service that needs it gets a code without the factor page
    land = another_rp(app, "Land registry", "https://land.example/cb", default_acr_values=[LOA3])
    response, seen = walk(browser, browser.get(land.authorize_url()))
    assert "factor" not in seen and "identify" not in seen
    claims = redeem_id_token(app, land, response)
    assert claims["acr"] == LOA3
    # and a service content with less is told what the session has
    again = sign_in_tokens(browser, rp, citizen)
    assert jwt_unverified(again["id_token"])[1]["acr"] == LOA3
    assert len(sms_messages(browser.outbox)) == sent


def test_prompt_none_when_only_the_factor_is_missing_is_an_error(app, rp, browser, citizen):
    sign_in_tokens(browser, rp, citizen)
    enrol_authenticator(browser)
    response = browser.get(rp.authorize_url(prompt="none", claims=ESSENTIAL_LOA3))
    assert at_rp(response, rp), response.status_code
    params = query(response.headers["Location"])
    assert params["error"] in {"login_required", "interaction_required"}, params
    assert "code" not in params


def test_loa3_from_scratch_is_sms_then_app(app, rp, browser, citizen):
    """A citizen with an app and no session: SMS sign-in, then the app code, then the token."""
    sign_in_tokens(browser, rp, citizen)
    secret, _codes = enrol_authenticator(browser)
    fresh = type(browser)(app.test_client(), browser.outbox)  # another device, not signed in
    response, seen = walk(fresh, fresh.get(rp.authorize_url(claims=ESSENTIAL_LOA3)), citizen,
                          factor=next_totp(secret))
    assert seen == ["identify", "verify", "factor"]  # consent is remembered from the first sign-in
    claims = redeem_id_token(app, rp, response)
    assert claims["acr"] == LOA3
    assert {"sms", "otp", "mfa"} <= set(claims["amr"])


def test_a_wrong_app_code_gives_no_token(app, rp, browser, citizen):
    sign_in_tokens(browser, rp, citizen)
    secret, _codes = enrol_authenticator(browser)
    response = browser.get(rp.authorize_url(claims=ESSENTIAL_LOA3))
    response, seen = walk(browser, response, factor="000000" if next_totp(secret) != "000000" else "111111")
    assert seen == ["factor"]
    assert response.status_code == 200 and is_page_with(response, "recovery_code")  # still at the factor step
    # the session did not move up
    body = sign_in_tokens(browser, rp, citizen)
    assert jwt_unverified(body["id_token"])[1]["acr"] == LOA2
