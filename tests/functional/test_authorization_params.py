"""Authorization request parameters (OIDC Core 3.1.2.1, 5.5; OAuth 2.0 Form Post Response Mode;
RFC 9207) as a relying party sees them."""

import json

import pytest

from tests.conftest import make_client
from tests.support import (Browser, Forms, RelyingParty, at_rp, authorize, error_code, query, sign_in_tokens,
                           verify_provider_jwt)

ISSUER = "http://127.0.0.1:5000"
LOA1, LOA2, LOA3 = "urn:panjereh:loa:1", "urn:panjereh:loa:2", "urn:panjereh:loa:3"
SMS_LEVELS = (LOA1, LOA2)  # what a sign-in with an SMS code reaches (loa2 when the registry answered live)


def redirect_params(response, rp) -> dict:
    assert at_rp(response, rp), (response.status_code, response.headers.get("Location"))
    return query(response.headers["Location"])


def assert_error_redirect(response, rp, error):
    params = redirect_params(response, rp)
    assert params.get("error") == error, params
    assert "code" not in params
    assert params["state"] == rp.state
    assert params["iss"] == ISSUER
    return params


def id_token_claims(rp, body) -> dict:
    return verify_provider_jwt(rp.http, body["id_token"]).claims


def signed_in(browser, rp, citizen):
    """Sign in and consent once, so later requests need no interaction."""
    return sign_in_tokens(browser, rp, citizen)


# --- response_mode=form_post ---

def assert_form_post(response, rp, expected_fields):
    assert response.status_code == 200, (response.status_code, response.headers.get("Location"))
    assert "Location" not in response.headers
    assert response.mimetype == "text/html"
    assert "no-store" in response.headers.get("Cache-Control", "")
    forms = Forms(response.get_data(as_text=True)).forms
    assert len(forms) == 1
    form = forms[0]
    assert form["method"] == "post"
    assert form["action"] == rp.redirect_uri
    assert set(form["fields"]) == expected_fields
    assert form["fields"]["state"] == rp.state
    assert form["fields"]["iss"] == ISSUER
    return form["fields"]


def test_form_post_after_login_and_consent(rp, browser, citizen):
    response = browser.follow(browser.get(rp.authorize_url(response_mode="form_post")))
    response = browser.login(response, citizen["national_id"], citizen["mobile"])
    response = browser.consent(response)
    fields = assert_form_post(response, rp, {"code", "state", "iss"})
    assert rp.redeem(fields["code"]).status_code == 200


def test_form_post_with_single_sign_on(rp, browser, citizen):
    signed_in(browser, rp, citizen)
    response = browser.get(rp.authorize_url(response_mode="form_post"))
    fields = assert_form_post(response, rp, {"code", "state", "iss"})
    token = rp.redeem(fields["code"])
    assert token.status_code == 200, token.get_data(as_text=True)


def test_form_post_carries_errors_too(rp, browser):
    response = browser.get(rp.authorize_url(response_mode="form_post", prompt="none"))
    fields = assert_form_post(response, rp, {"error", "state", "iss"})
    assert fields["error"] == "login_required"


def test_unsupported_response_mode_is_invalid_request(rp, browser):
    for mode in ("bogus", "web_message"):
        response = browser.follow(browser.get(rp.authorize_url(response_mode=mode)))
        assert response.status_code in (302, 400), response.status_code
        if response.status_code == 302:
            assert_error_redirect(response, rp, "invalid_request")
        else:
            assert error_code(response.get_data(as_text=True)) == "invalid_request"


# --- id_token_hint ---

def test_id_token_hint_of_the_signed_in_citizen_with_prompt_none(rp, browser, citizen):
    tokens = signed_in(browser, rp, citizen)
    response = browser.get(rp.authorize_url(prompt="none", id_token_hint=tokens["id_token"]))
    params = redirect_params(response, rp)
    assert "code" in params, params
    assert params["iss"] == ISSUER


def test_id_token_hint_of_another_citizen_with_prompt_none_is_login_required(app, rp, browser, citizens):
    other_browser = Browser(app.test_client(), browser.outbox)
    theirs = signed_in(other_browser, rp, citizens[1])
    signed_in(browser, rp, citizens[0])
    response = browser.get(rp.authorize_url(prompt="none", id_token_hint=theirs["id_token"]))
    assert_error_redirect(response, rp, "login_required")


def test_id_token_hint_of_another_citizen_asks_to_sign_in(app, rp, browser, citizens):
    other_browser = Browser(app.test_client(), browser.outbox)
    theirs = signed_in(other_browser, rp, citizens[1])
    signed_in(browser, rp, citizens[0])
    response = browser.follow(browser.get(rp.authorize_url(id_token_hint=theirs["id_token"])))
    assert response.status_code == 200
    assert 'name="national_id"' in response.get_data(as_text=True)


# --- the claims parameter ---

@pytest.fixture
def profile_rp(app):
    client_id, secret = make_client(app, scope="openid profile")
    return RelyingParty(app.test_client(), client_id, secret, "https://tax.example/cb", scope="openid")


def test_claims_parameter_puts_a_claim_in_the_id_token(profile_rp, browser, citizen):
    claims = json.dumps({"id_token": {"given_name": None}})
    body = sign_in_tokens(browser, profile_rp, citizen, claims=claims)
    id_token = id_token_claims(profile_rp, body)
    assert id_token["given_name"] == citizen["first_name"]
    assert "family_name" not in id_token  # only what was asked for
    assert "birthdate" not in id_token


def test_claims_parameter_for_userinfo(profile_rp, browser, citizen):
    claims = json.dumps({"userinfo": {"given_name": None}})
    body = sign_in_tokens(browser, profile_rp, citizen, claims=claims)
    assert "given_name" not in id_token_claims(profile_rp, body)
    info = profile_rp.http.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200
    assert info.get_json()["given_name"] == citizen["first_name"]


def test_claims_parameter_cannot_reach_beyond_the_registration(profile_rp, browser, citizen):
    claims = json.dumps({"id_token": {"national_id": None, "given_name": None}})
    body = sign_in_tokens(browser, profile_rp, citizen, claims=claims)
    id_token = id_token_claims(profile_rp, body)
    assert "national_id" not in id_token
    assert "national_id" not in body["scope"].split()


def test_invalid_claims_parameter_is_invalid_request(rp, browser):
    for claims in ("{not json", "[1, 2]", '{"id_token": "given_name"}', '"text"'):
        response = browser.follow(browser.get(rp.authorize_url(claims=claims)))
        assert_error_redirect(response, rp, "invalid_request")


def essential_acr(*values) -> str:
    return json.dumps({"id_token": {"acr": {"essential": True, "values": list(values)}}})


def test_essential_unknown_acr_is_unmet_at_once(rp, browser):
    response = browser.get(rp.authorize_url(claims=essential_acr("urn:panjereh:loa:9")))
    assert_error_redirect(response, rp, "unmet_authentication_requirements")


def test_essential_acr_that_cannot_be_met(rp, browser, citizen):
    """loa3 needs an authenticator app; a citizen without one signs in by SMS and is not given a weaker code."""
    response = authorize(browser, rp, citizen, claims=essential_acr(LOA3))
    assert_error_redirect(response, rp, "unmet_authentication_requirements")
    # signed in now (by SMS): the same request fails at once, without a page
    response = browser.get(rp.authorize_url(claims=essential_acr(LOA3)))
    assert_error_redirect(response, rp, "unmet_authentication_requirements")


def test_essential_acr_that_can_be_met(rp, browser, citizen):
    body = sign_in_tokens(browser, rp, citizen, claims=essential_acr(LOA1))
    assert id_token_claims(rp, body)["acr"] in SMS_LEVELS


def test_acr_values(rp, browser, citizen):
    body = sign_in_tokens(browser, rp, citizen, acr_values=LOA1)
    claims = id_token_claims(rp, body)
    assert claims["acr"] in SMS_LEVELS  # what the sign-in achieved, at least what was asked for
    assert "sms" in claims["amr"]
    # acr_values is a preference (OIDC Core 3.1.2.1): an unreachable level is not an error
    body = sign_in_tokens(browser, rp, citizen, acr_values=LOA3)
    assert id_token_claims(rp, body)["acr"] in SMS_LEVELS


# --- other parameters ---

def test_unknown_parameters_are_ignored(rp, browser, citizen):
    body = sign_in_tokens(browser, rp, citizen, foo="bar", x_custom="1", resource_hint="whatever")
    assert "id_token" in body


def test_display_and_claims_locales_are_accepted(rp, browser, citizen):
    body = sign_in_tokens(browser, rp, citizen, display="touch", claims_locales="fa")
    assert "id_token" in body
    for display in ("page", "popup", "wap"):
        params = redirect_params(browser.get(rp.authorize_url(display=display, prompt="none")), rp)
        assert "code" in params, params


# --- iss on every authorization response (RFC 9207) ---

def test_every_authorization_response_carries_iss(rp, browser, citizen):
    # an error before any sign-in
    assert_error_redirect(browser.get(rp.authorize_url(prompt="none")), rp, "login_required")
    assert_error_redirect(browser.get(rp.authorize_url(response_type="token")), rp, "unsupported_response_type")
    # the citizen declines
    response = authorize(browser, rp, citizen, decision="deny")
    assert_error_redirect(response, rp, "access_denied")
    # consent_required once signed in
    assert_error_redirect(browser.get(rp.authorize_url(prompt="none")), rp, "consent_required")
    # success
    params = redirect_params(authorize(browser, rp, citizen), rp)
    assert "code" in params and params["iss"] == ISSUER
    params = redirect_params(browser.get(rp.authorize_url(prompt="none")), rp)
    assert "code" in params and params["iss"] == ISSUER


def test_form_post_to_a_redirect_uri_with_a_query(app, browser, citizen):
    redirect_uri = "https://tax.example/cb?agency=tax"
    client_id, secret = make_client(app, redirect_uris=[redirect_uri])
    rp = RelyingParty(app.test_client(), client_id, secret, redirect_uri)
    response = browser.follow(browser.get(rp.authorize_url(response_mode="form_post")))
    response = browser.login(response, citizen["national_id"], citizen["mobile"])
    response = browser.consent(response)
    assert response.status_code == 200
    form = Forms(response.get_data(as_text=True)).forms[0]
    # the form posts to the redirection URI itself, its query kept (RFC 6749 3.1.2); the
    # response parameters are the form's fields
    assert form["action"] == redirect_uri
    assert set(form["fields"]) == {"code", "state", "iss"}


def test_form_post_escapes_what_it_echoes(rp, browser):
    state = '"><script>alert(1)</script>'
    response = browser.get(rp.authorize_url(response_mode="form_post", prompt="none", state=state))
    page = response.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert Forms(page).forms[0]["fields"]["state"] == state
