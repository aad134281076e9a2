"""Refresh tokens (RFC 6749 section 6, RFC 9700 section 4.14, OIDC Core 12) as a relying party sees them.

Only services registered for the ``refresh_token`` grant get refresh tokens; every use rotates
the refresh token, and reusing a rotated one is treated as theft: the whole family dies.
"""

import time

import pytest

from tests.conftest import make_client
from tests.support import (RelyingParty, half_hash, introspect, jwt_unverified, sign_in_tokens, token_request,
                           verify_provider_jwt)

REFRESHING = ["authorization_code", "refresh_token"]


@pytest.fixture
def refresh_rp(app):
    client_id, secret = make_client(app, grant_types=REFRESHING)
    return RelyingParty(app.test_client(), client_id, secret, "https://tax.example/cb")


def refresh(rp, refresh_token, **extra):
    return token_request(rp.http, rp.client_id, rp.secret, grant_type="refresh_token",
                         refresh_token=refresh_token, **extra)


def assert_error(response, error, status=400):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == error, body
    assert "access_token" not in body
    assert "no-store" in response.headers.get("Cache-Control", "")


def userinfo(rp, access_token):
    return rp.http.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"})


def test_refresh_token_issued_and_rotated_on_every_use(refresh_rp, browser, citizen):
    first = sign_in_tokens(browser, refresh_rp, citizen)
    assert first.get("refresh_token")

    second = refresh(refresh_rp, first["refresh_token"])
    assert second.status_code == 200, second.get_data(as_text=True)
    assert "no-store" in second.headers.get("Cache-Control", "")
    body = second.get_json()
    assert body["token_type"].lower() == "bearer"
    assert body["refresh_token"] and body["refresh_token"] != first["refresh_token"]
    assert body["access_token"] != first["access_token"]
    assert set(body["scope"].split()) == set(first["scope"].split())
    assert userinfo(refresh_rp, body["access_token"]).status_code == 200

    # the newest refresh token rotates again
    third = refresh(refresh_rp, body["refresh_token"])
    assert third.status_code == 200, third.get_data(as_text=True)
    assert third.get_json()["refresh_token"] not in (first["refresh_token"], body["refresh_token"])


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(refresh_rp, browser, citizen):
    first = sign_in_tokens(browser, refresh_rp, citizen)
    second = refresh(refresh_rp, first["refresh_token"]).get_json()
    third = refresh(refresh_rp, second["refresh_token"]).get_json()
    assert introspect(refresh_rp.http, third["access_token"], refresh_rp.client_id,
                      refresh_rp.secret).get_json()["active"] is True

    # an attacker (or a confused client) replays the first, already rotated, refresh token
    assert_error(refresh(refresh_rp, first["refresh_token"]), "invalid_grant")

    # every token of the family is dead: the newest access token ...
    assert introspect(refresh_rp.http, third["access_token"], refresh_rp.client_id,
                      refresh_rp.secret).get_json() == {"active": False}
    assert userinfo(refresh_rp, third["access_token"]).status_code == 401
    # ... and the newest refresh token
    assert introspect(refresh_rp.http, third["refresh_token"], refresh_rp.client_id,
                      refresh_rp.secret).get_json() == {"active": False}
    assert_error(refresh(refresh_rp, third["refresh_token"]), "invalid_grant")


def test_refreshed_id_token_follows_oidc_core_12_2(refresh_rp, browser, citizen):
    first = sign_in_tokens(browser, refresh_rp, citizen)
    original = verify_provider_jwt(refresh_rp.http, first["id_token"]).claims
    assert original["nonce"] == refresh_rp.nonce
    time.sleep(1.05)  # so that a new iat is visibly new
    before = int(time.time())

    response = refresh(refresh_rp, first["refresh_token"])
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert "id_token" in body
    token = verify_provider_jwt(refresh_rp.http, body["id_token"])
    claims = token.claims
    assert claims["iss"] == original["iss"] == "http://127.0.0.1:5000"
    assert claims["sub"] == original["sub"]
    assert claims["aud"] == original["aud"]
    assert refresh_rp.client_id in ([claims["aud"]] if isinstance(claims["aud"], str) else claims["aud"])
    # the original authentication, not the refresh
    assert claims["auth_time"] == original["auth_time"]
    assert original["acr"].startswith("urn:panjereh:loa:")
    assert claims["acr"] == original["acr"]
    assert claims["amr"] == original["amr"]
    # a new ID token
    assert claims["iat"] >= before > original["iat"]
    assert claims["exp"] > claims["iat"]
    assert "nonce" not in claims
    assert claims["sid"] == original["sid"]
    assert claims["at_hash"] == half_hash(body["access_token"])  # of the new access token
    header, _ = jwt_unverified(body["id_token"])
    assert header["alg"] == "RS256"


def test_refresh_with_a_narrower_scope(refresh_rp, browser, citizen):
    first = sign_in_tokens(browser, refresh_rp, citizen)  # openid profile national_id
    response = refresh(refresh_rp, first["refresh_token"], scope="openid")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["scope"].split() == ["openid"]
    info = userinfo(refresh_rp, body["access_token"])
    assert info.status_code == 200
    assert "national_id" not in info.get_json() and "given_name" not in info.get_json()
    assert introspect(refresh_rp.http, body["access_token"], refresh_rp.client_id,
                      refresh_rp.secret).get_json()["scope"].split() == ["openid"]


def test_refresh_with_a_wider_scope_is_invalid_scope(refresh_rp, browser, citizen):
    first = sign_in_tokens(browser, refresh_rp, citizen)  # the service is registered for phone too
    assert "phone" not in first["scope"].split()
    assert_error(refresh(refresh_rp, first["refresh_token"], scope="openid profile phone"), "invalid_scope")
    assert_error(refresh(refresh_rp, first["refresh_token"], scope="openid tax:admin"), "invalid_scope")
    # a refused request did not use up the refresh token
    assert refresh(refresh_rp, first["refresh_token"]).status_code == 200


def test_refresh_token_of_another_client_is_invalid_grant(app, refresh_rp, browser, citizen):
    first = sign_in_tokens(browser, refresh_rp, citizen)
    other_id, other_secret = make_client(app, name="E-Health", agency="health", grant_types=REFRESHING,
                                         redirect_uris=["https://health.example/cb"])
    assert_error(token_request(refresh_rp.http, other_id, other_secret, grant_type="refresh_token",
                               refresh_token=first["refresh_token"]), "invalid_grant")


def test_unknown_refresh_token_is_invalid_grant(refresh_rp):
    assert_error(refresh(refresh_rp, "not-a-refresh-token"), "invalid_grant")


def test_refresh_requires_client_authentication(refresh_rp, browser, citizen):
    first = sign_in_tokens(browser, refresh_rp, citizen)
    response = token_request(refresh_rp.http, refresh_rp.client_id, "wrong-secret", grant_type="refresh_token",
                             refresh_token=first["refresh_token"])
    assert_error(response, "invalid_client", status=401)
    assert refresh(refresh_rp, first["refresh_token"]).status_code == 200


def test_client_without_the_refresh_grant_gets_no_refresh_token(rp, browser, citizen):
    body = sign_in_tokens(browser, rp, citizen)
    assert "refresh_token" not in body
    response = token_request(rp.http, rp.client_id, rp.secret, grant_type="refresh_token",
                             refresh_token="anything")
    assert_error(response, "unauthorized_client")


def test_narrowed_refresh_keeps_the_refresh_tokens_original_scope(refresh_rp, browser, citizen):
    first = sign_in_tokens(browser, refresh_rp, citizen)
    original = set(first["scope"].split())
    narrowed = refresh(refresh_rp, first["refresh_token"], scope="openid").get_json()
    assert narrowed["scope"].split() == ["openid"]
    # RFC 6749 section 6: the new refresh token's scope MUST be identical to the one it replaces,
    # and an omitted scope means the scope originally granted
    again = refresh(refresh_rp, narrowed["refresh_token"])
    assert again.status_code == 200, again.get_data(as_text=True)
    assert set(again.get_json()["scope"].split()) == original
    widened = refresh(refresh_rp, again.get_json()["refresh_token"], scope="openid profile national_id")
    assert widened.status_code == 200, widened.get_data(as_text=True)
