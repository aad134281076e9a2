"""The authorization endpoint's errors (RFC 6749 4.1.2.1, OpenID Connect Core 3.1.2.6, RFC 9207)
and its request parameters (prompt, max_age, login_hint, ui_locales)."""

from urllib.parse import urlencode

import pytest

from tests.conftest import ISSUER, make_client
from tests.support import Forms, RelyingParty, at_rp, authorize, error_code, query


@pytest.fixture
def settings(module_provider):
    """This module shares one provider (see module_provider in conftest.py)."""
    return module_provider[0]


@pytest.fixture
def app(module_provider):
    return module_provider[1]


def assert_error_page(response, code=None):
    """A 400 page for the citizen; never a redirect anywhere."""
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.mimetype == "text/html"
    if code is not None:
        assert error_code(response.get_data(as_text=True)) == code


def assert_redirected_error(response, rp, error):
    assert at_rp(response, rp), (response.status_code, response.headers.get("Location"))
    params = query(response.headers["Location"])
    assert params["error"] == error
    assert params["state"] == rp.state
    assert params["iss"] == ISSUER
    assert "code" not in params
    return params


def signed_in(browser, rp, citizen):
    """A browser with a single sign-on session and consent for ``rp``."""
    authorize(browser, rp, citizen)
    return browser


# --- client and redirect URI: errors are shown, never sent anywhere ---

def test_unknown_client_id_gets_an_error_page(rp, browser):
    response = browser.get(rp.authorize_url(client_id="no-such-client"))
    assert_error_page(response, "invalid_client")


def test_missing_client_id_gets_an_error_page(rp, browser):
    response = browser.get(rp.authorize_url(client_id=None))
    assert_error_page(response, "invalid_client")


UNREGISTERED_REDIRECT_URIS = [
    "https://evil.example/cb",
    "https://tax.example/cb/",                # trailing slash
    "https://tax.example/cbx",                # suffix
    "https://tax.example/c",                  # prefix
    "https://tax.example/cb/../evil",
    "https://tax.example/cb?next=https://evil.example",
    "https://tax.example:8443/cb",            # other port
    "https://tax.example:443/cb",             # explicit default port is still another string
    "http://tax.example/cb",                  # other scheme
    "https://TAX.example/cb",                 # other case
    "https://tax.example.evil.example/cb",
    "https://evil.example/https://tax.example/cb",
    "https://tax.example/cb#fragment",
]


@pytest.mark.parametrize("redirect_uri", UNREGISTERED_REDIRECT_URIS)
def test_unregistered_redirect_uri_gets_an_error_page(rp, browser, redirect_uri):
    response = browser.get(rp.authorize_url(redirect_uri=redirect_uri))
    assert_error_page(response, "invalid_request")


def test_unregistered_redirect_uri_with_other_errors_still_not_redirected(rp, browser):
    # an unsupported response type must not make the provider redirect to an unverified URI
    response = browser.get(rp.authorize_url(redirect_uri="https://evil.example/cb", response_type="token"))
    assert_error_page(response)


def test_missing_redirect_uri_gets_an_error_page(rp, browser):
    # OpenID Connect Core 3.1.2.1: redirect_uri is REQUIRED; no registered one is guessed
    response = browser.get(rp.authorize_url(redirect_uri=None))
    assert_error_page(response, "invalid_request")


def test_suspended_client_is_treated_as_unknown(app, rp, browser):
    from idp.db import db
    from idp.models import Client

    with app.app_context():
        client = db.session.execute(db.select(Client).filter_by(client_id=rp.client_id)).scalar_one()
        client.status = "suspended"
        db.session.commit()
    response = browser.get(rp.authorize_url())
    assert_error_page(response, "invalid_client")


def test_client_suspended_during_login_stops_the_login(app, rp, browser, citizen):
    from idp.db import db
    from idp.models import Client

    identify = browser.follow(browser.get(rp.authorize_url()))
    assert identify.status_code == 200
    with app.app_context():
        db.session.execute(db.update(Client).where(Client.client_id == rp.client_id).values(status="suspended"))
        db.session.commit()
    response = browser.submit(identify, "national_id",
                              {"national_id": citizen["national_id"], "mobile": citizen["mobile"]})
    assert_error_page(response)


# --- errors sent back to a verified redirect URI ---

@pytest.mark.parametrize("response_type", ["token", "id_token", "code id_token", "code token", "bogus"])
def test_unsupported_response_type_is_redirected(rp, browser, response_type):
    response = browser.get(rp.authorize_url(response_type=response_type))
    assert_redirected_error(response, rp, "unsupported_response_type")


def test_missing_response_type_is_an_error(rp, browser):
    # RFC 6749 4.1.2.1 allows reading this as a missing parameter or as an unsupported type
    response = browser.get(rp.authorize_url(response_type=None))
    assert at_rp(response, rp)
    params = query(response.headers["Location"])
    assert params["error"] in ("invalid_request", "unsupported_response_type")
    assert params["state"] == rp.state and params["iss"] == ISSUER and "code" not in params


def test_scope_not_registered_is_dropped(app, rp, browser, citizen):
    rp.scope = "openid profile national_id email admin:all"
    params = query(authorize(browser, rp, citizen).headers["Location"])
    token = rp.redeem(params["code"])
    assert token.status_code == 200
    assert set(token.get_json()["scope"].split()) == {"openid", "profile", "national_id"}
    info = rp.http.get("/userinfo", headers={"Authorization": f"Bearer {token.get_json()['access_token']}"})
    assert "email" not in info.get_json()


def test_public_client_without_code_challenge_is_refused(app, browser):
    client_id, _secret = make_client(app, auth_method="none", redirect_uris=["https://app.example/cb"])
    public = RelyingParty(app.test_client(), client_id, None, "https://app.example/cb")
    response = browser.get(public.authorize_url(code_challenge=None, code_challenge_method=None))
    assert_redirected_error(response, public, "invalid_request")


@pytest.mark.parametrize("method", ["plain", "S512", "s256"])
def test_code_challenge_method_other_than_s256_is_refused(rp, browser, method):
    response = browser.get(rp.authorize_url(code_challenge_method=method))
    assert_redirected_error(response, rp, "invalid_request")


def test_plain_is_refused_for_a_public_client_too(app, browser):
    client_id, _secret = make_client(app, auth_method="none", redirect_uris=["https://app.example/cb"])
    public = RelyingParty(app.test_client(), client_id, None, "https://app.example/cb")
    response = browser.get(public.authorize_url(code_challenge_method="plain"))
    assert_redirected_error(response, public, "invalid_request")


# --- prompt and max_age ---

def test_prompt_none_without_a_session_is_login_required(rp, browser):
    response = browser.get(rp.authorize_url(prompt="none"))
    assert_redirected_error(response, rp, "login_required")


def test_prompt_none_with_a_session_but_no_consent_is_consent_required(app, rp, browser, citizen):
    signed_in(browser, rp, citizen)
    client_id, secret = make_client(app, name="Health", redirect_uris=["https://health.example/cb"])
    health = RelyingParty(app.test_client(), client_id, secret, "https://health.example/cb")
    response = browser.get(health.authorize_url(prompt="none"))
    assert_redirected_error(response, health, "consent_required")


def test_prompt_none_with_session_and_consent_returns_a_code_at_once(rp, browser, citizen):
    signed_in(browser, rp, citizen)
    response = browser.get(rp.authorize_url(prompt="none"))
    assert at_rp(response, rp)
    params = query(response.headers["Location"])
    assert params["state"] == rp.state
    assert params["iss"] == ISSUER
    assert rp.redeem(params["code"]).status_code == 200


def test_prompt_none_with_consent_missing_for_a_new_scope(rp, browser, citizen):
    signed_in(browser, rp, citizen)
    rp.scope = "openid profile national_id phone"
    response = browser.get(rp.authorize_url(prompt="none"))
    assert_redirected_error(response, rp, "consent_required")


@pytest.mark.parametrize("prompt", ["none login", "none consent", "none select_account"])
def test_prompt_none_with_another_prompt_value_is_invalid_request(rp, browser, citizen, prompt):
    # OpenID Connect Core 3.1.2.1: "none" with any other value is an error
    signed_in(browser, rp, citizen)
    assert_redirected_error(browser.get(rp.authorize_url(prompt=prompt)), rp, "invalid_request")


def test_unknown_prompt_value_is_invalid_request(rp, browser):
    assert_redirected_error(browser.get(rp.authorize_url(prompt="bogus")), rp, "invalid_request")


def test_prompt_login_with_a_session_shows_the_login_form(rp, browser, citizen):
    signed_in(browser, rp, citizen)
    response = browser.follow(browser.get(rp.authorize_url(prompt="login")))
    assert response.status_code == 200
    assert "national_id" in Forms(response.get_data(as_text=True)).with_field("national_id")["fields"]
    # signing in again completes the request without asking for consent again
    response = browser.login(response, citizen["national_id"], citizen["mobile"])
    assert at_rp(response, rp)
    assert "code" in query(response.headers["Location"])


def test_prompt_consent_asks_again(rp, browser, citizen):
    signed_in(browser, rp, citizen)
    response = browser.follow(browser.get(rp.authorize_url(prompt="consent")))
    assert response.status_code == 200
    Forms(response.get_data(as_text=True)).with_field("decision")
    assert at_rp(browser.consent(response), rp)


def test_max_age_zero_forces_a_login(rp, browser, citizen):
    signed_in(browser, rp, citizen)
    response = browser.follow(browser.get(rp.authorize_url(max_age="0")))
    assert response.status_code == 200
    Forms(response.get_data(as_text=True)).with_field("national_id")
    response = browser.login(response, citizen["national_id"], citizen["mobile"])
    assert at_rp(response, rp)


def test_large_max_age_keeps_the_session(rp, browser, citizen):
    signed_in(browser, rp, citizen)
    response = browser.get(rp.authorize_url(max_age="3600"))
    assert at_rp(response, rp)
    assert "code" in query(response.headers["Location"])


def test_prompt_none_with_max_age_zero_is_login_required(rp, browser, citizen):
    signed_in(browser, rp, citizen)
    response = browser.get(rp.authorize_url(prompt="none", max_age="0"))
    assert_redirected_error(response, rp, "login_required")


# --- hints ---

def test_login_hint_prefills_the_national_id(rp, browser, citizen):
    response = browser.follow(browser.get(rp.authorize_url(login_hint=citizen["national_id"])))
    assert response.status_code == 200
    fields = Forms(response.get_data(as_text=True)).with_field("national_id")["fields"]
    assert fields["national_id"] == citizen["national_id"]
    assert fields["mobile"] == ""


def test_ui_locales_en_gives_an_english_page(rp, browser):
    response = browser.follow(browser.get(rp.authorize_url(ui_locales="en")))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in page
    assert "Sign in with your national ID" in page


def test_ui_locales_first_supported_language_wins(rp, browser):
    response = browser.follow(browser.get(rp.authorize_url(ui_locales="de en fa")))
    assert '<html lang="en"' in response.get_data(as_text=True)


def test_default_page_is_persian(rp, browser):
    response = browser.follow(browser.get(rp.authorize_url()))
    assert '<html lang="fa" dir="rtl">' in response.get_data(as_text=True)


def test_error_page_for_unknown_client_uses_ui_locales(rp, browser):
    response = browser.get("/authorize?" + urlencode({"client_id": "nope", "ui_locales": "en",
                                                       "redirect_uri": rp.redirect_uri,
                                                       "response_type": "code", "scope": "openid"}))
    assert_error_page(response, "invalid_client")
    assert '<html lang="en"' in response.get_data(as_text=True)


# --- response modes and repeated parameters ---

@pytest.mark.parametrize("mode", ["fragment", "bogus"])
def test_unsupported_response_mode_is_invalid_request(rp, browser, mode):
    response = browser.get(rp.authorize_url(response_mode=mode))
    assert_redirected_error(response, rp, "invalid_request")
    assert "#" not in response.headers["Location"]


@pytest.mark.parametrize("name, value", [("client_id", "other"), ("redirect_uri", "https://evil.example/cb"),
                                         ("state", "other"), ("response_type", "code")])
def test_repeated_parameter_is_invalid_request_and_not_redirected(rp, browser, name, value):
    # RFC 6749 3.1: parameters MUST NOT be included more than once
    response = browser.get(rp.authorize_url() + "&" + urlencode({name: value}))
    assert_error_page(response, "invalid_request")


def test_login_hint_is_escaped_on_the_page(rp, browser):
    hint = '"><script>alert(1)</script>'
    page = browser.follow(browser.get(rp.authorize_url(login_hint=hint))).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert Forms(page).with_field("national_id")["fields"]["national_id"] == hint


# --- what a well-formed request gets back ---

def test_authorization_endpoint_accepts_post(rp, browser, citizen):
    # OpenID Connect Core 3.1.2.1: GET and POST must both be supported
    url = rp.authorize_url()
    page = browser.client.post("/authorize", data=query(url))
    assert page.status_code == 200  # the sign-in's first page, shown at once
    Forms(page.get_data(as_text=True)).with_field("national_id")


def test_state_is_returned_exactly(rp, browser, citizen):
    signed_in(browser, rp, citizen)
    rp_state = "a b&c=d/é+%20?#"
    response = browser.get(rp.authorize_url(state=rp_state))
    assert at_rp(response, rp)
    assert query(response.headers["Location"])["state"] == rp_state
    response = browser.get(rp.authorize_url(state=rp_state, response_type="token"))
    assert query(response.headers["Location"])["state"] == rp_state


def test_no_state_in_the_response_when_none_was_sent(rp, browser, citizen):
    signed_in(browser, rp, citizen)
    response = browser.get(rp.authorize_url(state=None))
    assert at_rp(response, rp)
    params = query(response.headers["Location"])
    assert "code" in params and "state" not in params


def test_query_in_a_registered_redirect_uri_is_kept(app, browser, citizen):
    uri = "https://tax.example/cb?agency=tax"
    client_id, secret = make_client(app, redirect_uris=[uri])
    rp = RelyingParty(app.test_client(), client_id, secret, uri)
    response = browser.follow(browser.get(rp.authorize_url()))
    response = browser.consent(browser.login(response, citizen["national_id"], citizen["mobile"]))
    location = response.headers["Location"]
    assert location.startswith("https://tax.example/cb?")
    params = query(location)
    assert params["agency"] == "tax" and params["code"] and params["state"] == rp.state
    error = browser.get(rp.authorize_url(response_type="token"))
    assert query(error.headers["Location"])["agency"] == "tax"
