"""``private_key_jwt`` client authentication (OIDC Core 9, RFC 7523 section 3) at the token endpoint."""

import time

import pytest

from tests.conftest import make_client
from tests.support import (ASSERTION_TYPE, RecordingServer, RelyingParty, authorize, basic_header,
                           client_assertion, client_rsa_key, public_jwks, query, sign_jwt, unsigned_jwt,
                           verify_provider_jwt)

ISSUER = "http://127.0.0.1:5000"
TOKEN_URL = f"{ISSUER}/token"


@pytest.fixture
def key():
    return client_rsa_key("pkjwt-client")


@pytest.fixture
def keyed_rp(app, key):
    client_id, secret = make_client(app, auth_method="private_key_jwt", jwks=public_jwks(key))
    assert secret is None
    return RelyingParty(app.test_client(), client_id, None, "https://tax.example/cb")


def code_for(browser, rp, citizen) -> str:
    return query(authorize(browser, rp, citizen).headers["Location"])["code"]


def redeem(rp, code, assertion=None, headers=None, **extra):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri,
            "code_verifier": rp.verifier}
    if assertion is not None:
        data.update(client_assertion_type=ASSERTION_TYPE, client_assertion=assertion)
    data.update(extra)
    return rp.http.post("/token", data=data, headers=headers or {})


def assert_invalid_client(response, statuses=(400, 401)):
    """RFC 6749 5.2: ``invalid_client``, with 401 a MAY unless the client used the Authorization header
    (then 401 is a MUST). How this provider picks between them is pinned in
    ``test_a_failed_assertion_is_answered_with_401``."""
    assert response.status_code in statuses, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == "invalid_client", body
    assert "access_token" not in body


def test_code_redeemed_with_a_client_assertion(keyed_rp, key, browser, citizen):
    code = code_for(browser, keyed_rp, citizen)
    response = redeem(keyed_rp, code, client_assertion(key, keyed_rp.client_id, TOKEN_URL))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    claims = verify_provider_jwt(keyed_rp.http, body["id_token"]).claims
    assert keyed_rp.client_id in claims["aud"]
    assert claims["nonce"] == keyed_rp.nonce


def test_the_issuer_is_an_accepted_audience(keyed_rp, key, browser, citizen):
    code = code_for(browser, keyed_rp, citizen)
    response = redeem(keyed_rp, code, client_assertion(key, keyed_rp.client_id, ISSUER))
    assert response.status_code == 200, response.get_data(as_text=True)


def test_a_replayed_assertion_is_invalid_client(keyed_rp, key, browser, citizen):
    assertion = client_assertion(key, keyed_rp.client_id, TOKEN_URL, jti="once-only")
    assert redeem(keyed_rp, code_for(browser, keyed_rp, citizen), assertion).status_code == 200

    code = code_for(browser, keyed_rp, citizen)
    assert_invalid_client(redeem(keyed_rp, code, assertion))
    # a new assertion with the same jti is a replay too
    assert_invalid_client(redeem(keyed_rp, code, client_assertion(key, keyed_rp.client_id, TOKEN_URL,
                                                                  jti="once-only")))
    # the refused requests did not use up the code
    response = redeem(keyed_rp, code, client_assertion(key, keyed_rp.client_id, TOKEN_URL))
    assert response.status_code == 200, response.get_data(as_text=True)


def test_a_failed_assertion_is_answered_with_401(keyed_rp, key, browser, citizen):
    assertion = client_assertion(key, keyed_rp.client_id, TOKEN_URL, jti="replayed")
    assert redeem(keyed_rp, code_for(browser, keyed_rp, citizen), assertion).status_code == 200
    response = redeem(keyed_rp, code_for(browser, keyed_rp, citizen), assertion)
    assert_invalid_client(response, statuses=(401,))


def test_wrong_audience_is_invalid_client(keyed_rp, key, browser, citizen):
    code = code_for(browser, keyed_rp, citizen)
    for audience in ("https://other.example/token", f"{ISSUER}/authorize", f"{ISSUER}/userinfo", [ISSUER + "/par"]):
        assert_invalid_client(redeem(keyed_rp, code, client_assertion(key, keyed_rp.client_id, audience)))
    # the refused requests did not use up the code
    assert redeem(keyed_rp, code, client_assertion(key, keyed_rp.client_id, TOKEN_URL)).status_code == 200


def test_signed_with_another_key_is_invalid_client(keyed_rp, key, browser, citizen):
    code = code_for(browser, keyed_rp, citizen)
    # another key that claims the registered kid: the signature does not verify
    impostor = client_rsa_key("impostor", kid=key.kid)
    assert_invalid_client(redeem(keyed_rp, code, client_assertion(impostor, keyed_rp.client_id, TOKEN_URL)))
    # a key with a kid the client never registered
    stranger = client_rsa_key("stranger")
    assert_invalid_client(redeem(keyed_rp, code, client_assertion(stranger, keyed_rp.client_id, TOKEN_URL)))
    assert redeem(keyed_rp, code, client_assertion(key, keyed_rp.client_id, TOKEN_URL)).status_code == 200


def test_invalid_assertions_are_invalid_client(keyed_rp, key, browser, citizen):
    code = code_for(browser, keyed_rp, citizen)
    now = int(time.time())
    # expired; iss != sub
    for overrides in ({"exp": now - 600, "iat": now - 900}, {"iss": "someone-else"}):
        assert_invalid_client(redeem(keyed_rp, code, client_assertion(key, keyed_rp.client_id, TOKEN_URL,
                                                                      **overrides)))
    # a required claim missing
    for missing in ("jti", "exp", "aud", "sub"):
        claims = {"iss": keyed_rp.client_id, "sub": keyed_rp.client_id, "aud": TOKEN_URL, "jti": f"no-{missing}",
                  "iat": now, "exp": now + 60}
        del claims[missing]
        assert_invalid_client(redeem(keyed_rp, code, sign_jwt(claims, key)))
    # not signed at all
    assertion = unsigned_jwt({"iss": keyed_rp.client_id, "sub": keyed_rp.client_id, "aud": TOKEN_URL,
                              "jti": "unsigned", "iat": now, "exp": now + 60})
    assert_invalid_client(redeem(keyed_rp, code, assertion))
    assert redeem(keyed_rp, code, client_assertion(key, keyed_rp.client_id, TOKEN_URL)).status_code == 200


def test_an_assertion_for_another_client_is_invalid_client(app, keyed_rp, key, browser, citizen):
    # a second private_key_jwt client with its own key; our key cannot speak for it
    other_id, _ = make_client(app, name="E-Health", agency="health", auth_method="private_key_jwt",
                              jwks=public_jwks(client_rsa_key("health-client")),
                              redirect_uris=["https://health.example/cb"])
    code = code_for(browser, keyed_rp, citizen)
    assert_invalid_client(redeem(keyed_rp, code, client_assertion(key, other_id, TOKEN_URL)))


def test_basic_authentication_is_refused_for_a_key_client(keyed_rp, key, browser, citizen):
    code = code_for(browser, keyed_rp, citizen)
    assert_invalid_client(redeem(keyed_rp, code, headers=basic_header(keyed_rp.client_id, "guessed-secret")),
                          statuses=(401,))
    assert_invalid_client(redeem(keyed_rp, code, client_id=keyed_rp.client_id, client_secret="guessed-secret"))
    # nor may it act as a public client
    assert_invalid_client(redeem(keyed_rp, code, client_id=keyed_rp.client_id))
    assert redeem(keyed_rp, code, client_assertion(key, keyed_rp.client_id, TOKEN_URL)).status_code == 200


def test_a_secret_client_cannot_switch_to_private_key_jwt(app, rp, browser, citizen):
    """A client registered for client_secret_basic cannot authenticate with an assertion either."""
    key = client_rsa_key("pkjwt-client")
    code = code_for(browser, rp, citizen)
    assert_invalid_client(redeem(rp, code, client_assertion(key, rp.client_id, TOKEN_URL)))


def test_client_keys_from_a_jwks_uri(app, key, browser, citizen):
    with RecordingServer(json_body=public_jwks(key)) as keys_server:
        client_id, _ = make_client(app, auth_method="private_key_jwt", jwks_uri=keys_server.url + "/jwks.json")
        rp = RelyingParty(app.test_client(), client_id, None, "https://tax.example/cb")
        code = code_for(browser, rp, citizen)
        response = redeem(rp, code, client_assertion(key, client_id, TOKEN_URL))
        assert response.status_code == 200, response.get_data(as_text=True)
        assert keys_server.gets == ["/jwks.json"]

        # a key that is not in the published set is refused
        code = code_for(browser, rp, citizen)
        impostor = client_rsa_key("impostor", kid=key.kid)
        assert_invalid_client(redeem(rp, code, client_assertion(impostor, client_id, TOKEN_URL)))


def test_unreachable_jwks_uri_is_invalid_client(app, key, browser, citizen):
    with RecordingServer() as keys_server:
        uri = keys_server.url + "/jwks.json"
    # the server is gone: nothing listens on that port any more
    client_id, _ = make_client(app, auth_method="private_key_jwt", jwks_uri=uri)
    rp = RelyingParty(app.test_client(), client_id, None, "https://tax.example/cb")
    code = code_for(browser, rp, citizen)
    assert_invalid_client(redeem(rp, code, client_assertion(key, client_id, TOKEN_URL)))


def test_private_key_jwt_at_introspection(keyed_rp, key, browser, citizen):
    code = code_for(browser, keyed_rp, citizen)
    tokens = redeem(keyed_rp, code, client_assertion(key, keyed_rp.client_id, TOKEN_URL)).get_json()
    response = keyed_rp.http.post("/introspect", data={
        "token": tokens["access_token"], "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion(key, keyed_rp.client_id, ISSUER)})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["active"] is True
