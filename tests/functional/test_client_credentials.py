"""The client credentials grant (RFC 6749 section 4.4) with RFC 9068 JWT access tokens."""

import time

import pytest

from tests.conftest import make_client
from tests.support import introspect, jwt_unverified, token_request, verify_provider_jwt

ISSUER = "http://127.0.0.1:5000"


@pytest.fixture
def api_client(app):
    return make_client(app, name="Tax API", agency="tax", redirect_uris=[], grant_types=["client_credentials"],
                       scope="tax:read tax:write")


def client_credentials(http, client_id, secret, **extra):
    return token_request(http, client_id, secret, grant_type="client_credentials", **extra)


def assert_error(response, error, status=400):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == error, body
    assert "access_token" not in body


def test_client_credentials_issue_an_rfc9068_access_token(app, api_client):
    client_id, secret = api_client
    http = app.test_client()
    before = int(time.time())
    response = client_credentials(http, client_id, secret, scope="tax:read")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "no-store" in response.headers.get("Cache-Control", "")
    body = response.get_json()
    assert body["token_type"].lower() == "bearer"
    assert body["scope"] == "tax:read"
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    assert "refresh_token" not in body
    assert "id_token" not in body

    token = verify_provider_jwt(http, body["access_token"])
    header, claims = token.header, token.claims
    assert header["typ"] == "at+jwt"
    assert header.get("kid")
    assert claims["iss"] == ISSUER
    audiences = [claims["aud"]] if isinstance(claims["aud"], str) else claims["aud"]
    assert client_id in audiences
    assert claims["client_id"] == client_id
    assert claims["sub"] == client_id
    assert claims["scope"] == "tax:read"
    assert claims["jti"]
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] > claims["iat"]


def test_without_scope_every_registered_api_scope_is_granted(app, api_client):
    client_id, secret = api_client
    http = app.test_client()
    body = client_credentials(http, client_id, secret).get_json()
    assert set(body["scope"].split()) == {"tax:read", "tax:write"}
    assert set(verify_provider_jwt(http, body["access_token"]).claims["scope"].split()) == {"tax:read", "tax:write"}


def test_the_token_introspects_as_the_clients_own(app, api_client):
    client_id, secret = api_client
    http = app.test_client()
    body = client_credentials(http, client_id, secret, scope="tax:read tax:write").get_json()
    info = introspect(http, body["access_token"], client_id, secret).get_json()
    assert info["active"] is True
    assert info["client_id"] == client_id
    assert info["sub"] == client_id
    assert set(info["scope"].split()) == {"tax:read", "tax:write"}


def test_an_unregistered_scope_is_invalid_scope(app, api_client):
    client_id, secret = api_client
    http = app.test_client()
    assert_error(client_credentials(http, client_id, secret, scope="tax:admin"), "invalid_scope")
    assert_error(client_credentials(http, client_id, secret, scope="tax:read tax:admin"), "invalid_scope")


def test_openid_is_invalid_scope(app, api_client):
    client_id, secret = api_client
    http = app.test_client()
    assert_error(client_credentials(http, client_id, secret, scope="openid"), "invalid_scope")
    assert_error(client_credentials(http, client_id, secret, scope="openid tax:read"), "invalid_scope")


def test_identity_scopes_are_not_granted_even_when_registered(app):
    client_id, secret = make_client(app, name="Mixed", redirect_uris=["https://tax.example/cb"],
                                    grant_types=["authorization_code", "client_credentials"],
                                    scope="openid profile tax:read")
    http = app.test_client()
    for scope in ("openid", "profile"):
        assert_error(client_credentials(http, client_id, secret, scope=scope), "invalid_scope")
    body = client_credentials(http, client_id, secret).get_json()
    assert body["scope"] == "tax:read"
    assert "id_token" not in body


def test_a_client_without_the_grant_is_unauthorized_client(app, rp):
    assert_error(client_credentials(rp.http, rp.client_id, rp.secret), "unauthorized_client")
    assert_error(client_credentials(rp.http, rp.client_id, rp.secret, scope="openid"), "unauthorized_client")


def test_client_credentials_require_client_authentication(app, api_client):
    client_id, secret = api_client
    http = app.test_client()
    response = client_credentials(http, client_id, "wrong-secret")
    assert_error(response, "invalid_client", status=401)
    assert_error(http.post("/token", data={"grant_type": "client_credentials", "client_id": client_id}),
                 "invalid_client", status=401)


def test_the_token_is_no_citizens_token(app, api_client):
    client_id, secret = api_client
    http = app.test_client()
    body = client_credentials(http, client_id, secret).get_json()
    _header, claims = jwt_unverified(body["access_token"])
    assert "auth_time" not in claims and "acr" not in claims
    # userinfo needs a citizen's token with openid
    response = http.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert response.status_code in (401, 403)
