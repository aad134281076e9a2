"""Pushed authorization requests (RFC 9126) and signed request objects (JAR, RFC 9101)."""

import json
import time
from urllib.parse import urlencode

import pytest

from idp.db import db
from idp.models import Client
from tests.conftest import make_client
from tests.support import (RelyingParty, at_rp, basic_header, client_rsa_key, error_code, page_step, public_jwks,
                           query, sign_jwt, unsigned_jwt)

ISSUER = "http://127.0.0.1:5000"
PAR_PREFIX = "urn:ietf:params:oauth:request_uri:"


@pytest.fixture
def key():
    return client_rsa_key("jar-client")


@pytest.fixture
def keyed_rp(app, key):
    """A confidential service that also registered its public keys (for request objects)."""
    client_id, secret = make_client(app, jwks=public_jwks(key))
    return RelyingParty(app.test_client(), client_id, secret, "https://tax.example/cb")


def request_params(rp, **extra) -> dict:
    """A fresh authorization request's parameters (new state, nonce and PKCE pair on ``rp``)."""
    params = query(rp.authorize_url())
    params.update(extra)
    return {k: v for k, v in params.items() if v is not None}


def push(rp, params: dict, headers=None):
    return rp.http.post("/par", data=params,
                        headers=basic_header(rp.client_id, rp.secret) if headers is None else headers)


def pushed_uri(rp, **extra) -> str:
    response = push(rp, request_params(rp, **extra))
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["request_uri"]


def drive(browser, rp, url, citizen, decision="allow"):
    """Open ``url`` in the browser and sign in / consent as asked; returns the final response."""
    response = browser.follow(browser.get(url))
    if response.status_code == 200 and 'name="national_id"' in response.get_data(as_text=True):
        response = browser.login(response, citizen["national_id"], citizen["mobile"])
    if response.status_code == 200 and 'name="decision" value="allow"' in response.get_data(as_text=True):
        response = browser.consent(response, decision)
    return response


def assert_code_flow_completes(browser, rp, url, citizen):
    response = drive(browser, rp, url, citizen)
    assert at_rp(response, rp), (response.status_code, response.headers.get("Location"),
                                 response.get_data(as_text=True)[:300])
    params = query(response.headers["Location"])
    assert params["state"] == rp.state
    assert params["iss"] == ISSUER
    token = rp.redeem(params["code"])
    assert token.status_code == 200, token.get_data(as_text=True)
    return token.get_json()


def assert_refused(response, *errors):
    """An error and never a code: an error page, or an error redirect to the service."""
    if response.status_code in (302, 303):
        params = query(response.headers["Location"])
        assert "code" not in params, params
        assert params.get("error") in errors, params
    else:
        assert response.status_code == 400, response.status_code
        assert error_code(response.get_data(as_text=True)) in errors


def par_error(response) -> str:
    """The ``error`` of a PAR error response (RFC 9126 2.3: an RFC 6749 5.2 JSON object).

    Parsed from the body whatever the Content-Type: the media type is pinned separately in
    ``test_par_error_responses_are_json``."""
    return json.loads(response.get_data(as_text=True))["error"]


def authorize_with_uri(rp, request_uri, client_id=None) -> str:
    return "/authorize?" + urlencode({"client_id": client_id or rp.client_id, "request_uri": request_uri})


# --- PAR ---

def test_par_returns_a_request_uri(rp):
    response = push(rp, request_params(rp))
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert "no-store" in response.headers.get("Cache-Control", "")
    body = response.get_json()
    assert body["request_uri"].startswith(PAR_PREFIX)
    assert len(body["request_uri"]) > len(PAR_PREFIX) + 20
    assert isinstance(body["expires_in"], int) and 0 < body["expires_in"] <= 60


def test_pushed_request_works_through_login_and_consent(rp, browser, citizen):
    request_uri = pushed_uri(rp)
    body = assert_code_flow_completes(browser, rp, authorize_with_uri(rp, request_uri), citizen)
    assert "id_token" in body


def test_request_uri_is_single_use(rp, browser, citizen):
    request_uri = pushed_uri(rp)
    assert_code_flow_completes(browser, rp, authorize_with_uri(rp, request_uri), citizen)
    # the citizen is signed in and consented: a reuse would otherwise yield a code at once
    again = browser.follow(browser.get(authorize_with_uri(rp, request_uri)))
    assert_refused(again, "invalid_request_uri", "invalid_request")


def test_request_uri_is_single_use_even_before_login(rp, browser):
    request_uri = pushed_uri(rp)
    first = browser.get(authorize_with_uri(rp, request_uri))
    # the sign-in started, its page at the step's own address: a reload there does not spend the request again
    assert first.status_code == 303 and "/interaction/" in first.headers["Location"]
    for _ in range(2):
        assert page_step(browser.get(first.headers["Location"])) == "identify"
    assert_refused(browser.get(authorize_with_uri(rp, request_uri)), "invalid_request_uri", "invalid_request")


def test_request_uri_is_bound_to_its_client(app, rp, browser, citizen):
    other_id, _ = make_client(app, name="E-Health", agency="health", redirect_uris=["https://tax.example/cb"])
    request_uri = pushed_uri(rp)
    response = browser.follow(browser.get(authorize_with_uri(rp, request_uri, client_id=other_id)))
    assert_refused(response, "invalid_request_uri", "invalid_request")


def test_unknown_request_uri_is_refused(rp, browser):
    for request_uri in (PAR_PREFIX + "not-pushed", "https://tax.example/request.jwt"):
        assert_refused(browser.get(authorize_with_uri(rp, request_uri)), "invalid_request_uri", "invalid_request")


def test_par_requires_client_authentication(rp):
    params = request_params(rp)
    for headers in ({}, basic_header(rp.client_id, "wrong-secret"), basic_header("no-such-client", rp.secret)):
        response = push(rp, params, headers=headers)
        assert response.status_code == 401, response.get_data(as_text=True)
        assert par_error(response) == "invalid_client"
        assert "request_uri" not in response.get_data(as_text=True)
        assert "no-store" in response.headers.get("Cache-Control", "")


PAR_JSON_BUG = ("BUG: idp/views/oauth.py:109-110 (pushed_authorization_request) answers every PAR error with "
                "only a Cache-Control header, so Flask sends the JSON body as Content-Type text/html; RFC 9126 "
                "2.3 says PAR errors are RFC 6749 5.2 error responses, which use application/json")


def test_par_error_responses_are_json(rp):
    unauthenticated = push(rp, request_params(rp), headers={})
    mismatched = push(rp, request_params(rp, client_id="someone-else"))
    for response in (unauthenticated, mismatched):
        assert response.status_code in (400, 401)
        assert response.mimetype == "application/json"


def test_par_basic_auth_failure_carries_www_authenticate(rp):
    response = push(rp, request_params(rp), headers=basic_header(rp.client_id, "wrong-secret"))
    assert response.status_code == 401
    assert response.headers.get("WWW-Authenticate", "").lower().startswith("basic")


def test_par_client_id_must_match_the_authenticated_client(app, rp):
    other_id, _ = make_client(app, name="E-Health", agency="health", redirect_uris=["https://tax.example/cb"])
    response = push(rp, request_params(rp, client_id=other_id))
    assert response.status_code == 400, response.get_data(as_text=True)
    assert par_error(response) == "invalid_request"


def test_par_validates_the_request_at_once(rp):
    response = push(rp, request_params(rp, redirect_uri="https://evil.example/cb"))
    assert response.status_code == 400, response.get_data(as_text=True)
    assert par_error(response) == "invalid_request"
    response = push(rp, request_params(rp, response_type="token"))
    assert response.status_code == 400, response.get_data(as_text=True)
    assert par_error(response) == "unsupported_response_type"
    response = push(rp, request_params(rp, request_uri=PAR_PREFIX + "nested"))
    assert response.status_code == 400
    assert par_error(response) == "invalid_request"


def test_client_that_requires_par(app, rp, browser, citizen):
    with app.app_context():
        client = db.session.execute(db.select(Client).filter_by(client_id=rp.client_id)).scalar_one()
        client.require_par = True
        db.session.commit()
    response = browser.follow(browser.get(rp.authorize_url()))
    assert_refused(response, "invalid_request")
    # with PAR the same service signs in
    assert_code_flow_completes(browser, rp, authorize_with_uri(rp, pushed_uri(rp)), citizen)


# --- JAR ---

def request_object(rp, key, alg="RS256", **overrides) -> str:
    params = request_params(rp)
    now = int(time.time())
    claims = {"iss": rp.client_id, "aud": ISSUER, "iat": now, "exp": now + 300, **params}
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return sign_jwt(claims, key, alg=alg)


def authorize_with_object(rp, jwt: str, client_id=None) -> str:
    return "/authorize?" + urlencode({"client_id": client_id or rp.client_id, "request": jwt})


def test_signed_request_object_works(keyed_rp, key, browser, citizen):
    jwt = request_object(keyed_rp, key)
    body = assert_code_flow_completes(browser, keyed_rp, authorize_with_object(keyed_rp, jwt), citizen)
    assert "id_token" in body


def test_request_object_parameters_win_over_the_query(keyed_rp, key, browser, citizen):
    jwt = request_object(keyed_rp, key)
    url = "/authorize?" + urlencode({"client_id": keyed_rp.client_id, "request": jwt,
                                     "redirect_uri": "https://evil.example/cb", "state": "from-the-query"})
    assert_code_flow_completes(browser, keyed_rp, url, citizen)


def test_unsigned_request_object_is_refused(keyed_rp, browser):
    params = request_params(keyed_rp)
    jwt = unsigned_jwt({"iss": keyed_rp.client_id, "aud": ISSUER, **params})
    response = browser.follow(browser.get(authorize_with_object(keyed_rp, jwt)))
    assert_refused(response, "invalid_request_object", "invalid_request")


def test_request_object_signed_with_another_key_is_refused(keyed_rp, browser):
    for impostor in (client_rsa_key("impostor", kid="jar-client"), client_rsa_key("stranger")):
        response = browser.follow(browser.get(authorize_with_object(keyed_rp, request_object(keyed_rp, impostor))))
        assert_refused(response, "invalid_request_object", "invalid_request")


def test_request_object_with_a_tampered_payload_is_refused(keyed_rp, key, browser):
    header, payload, signature = request_object(keyed_rp, key).split(".")
    other_payload = request_object(keyed_rp, key, scope="openid profile national_id phone").split(".")[1]
    response = browser.follow(browser.get(authorize_with_object(keyed_rp, f"{header}.{other_payload}.{signature}")))
    assert_refused(response, "invalid_request_object", "invalid_request")


def test_request_object_client_id_must_match_the_query(app, keyed_rp, key, browser):
    other_id, _ = make_client(app, name="E-Health", agency="health", jwks=public_jwks(key),
                              redirect_uris=["https://tax.example/cb"])
    jwt = request_object(keyed_rp, key, client_id=other_id, iss=other_id)
    response = browser.follow(browser.get(authorize_with_object(keyed_rp, jwt)))
    assert_refused(response, "invalid_request", "invalid_request_object")


def test_request_object_for_another_audience_or_issuer_or_expired_is_refused(keyed_rp, key, browser):
    now = int(time.time())
    for overrides in ({"aud": "https://other.example"}, {"aud": None}, {"iss": "someone-else"},
                      {"exp": now - 600, "iat": now - 900}, {"nbf": now + 600}):
        jwt = request_object(keyed_rp, key, **overrides)
        response = browser.follow(browser.get(authorize_with_object(keyed_rp, jwt)))
        assert_refused(response, "invalid_request_object", "invalid_request")


def test_request_object_from_a_client_without_keys_is_refused(rp, browser):
    jwt = request_object(rp, client_rsa_key("jar-client"))
    response = browser.follow(browser.get(authorize_with_object(rp, jwt)))
    assert_refused(response, "invalid_request_object", "invalid_request", "invalid_client")


def test_signed_request_object_can_be_pushed(keyed_rp, key, browser, citizen):
    jwt = request_object(keyed_rp, key)
    response = push(keyed_rp, {"client_id": keyed_rp.client_id, "request": jwt})
    assert response.status_code == 201, response.get_data(as_text=True)
    url = authorize_with_uri(keyed_rp, response.get_json()["request_uri"])
    assert_code_flow_completes(browser, keyed_rp, url, citizen)


def test_unsigned_request_object_cannot_be_pushed(keyed_rp):
    params = request_params(keyed_rp)
    jwt = unsigned_jwt({"iss": keyed_rp.client_id, "aud": ISSUER, **params})
    response = push(keyed_rp, {"client_id": keyed_rp.client_id, "request": jwt})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert par_error(response) in ("invalid_request_object", "invalid_request")
