"""OpenID Connect Discovery 1.0 / RFC 8414 and the JWKS (RFC 7517), as a relying party reads them."""

import pytest

from tests.conftest import ISSUER

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


@pytest.fixture
def settings(module_provider):
    """This module shares one provider (see module_provider in conftest.py)."""
    return module_provider[0]


@pytest.fixture
def app(module_provider):
    return module_provider[1]


@pytest.fixture
def metadata(app):
    response = app.test_client().get("/.well-known/openid-configuration")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def test_issuer_is_exact(metadata):
    assert metadata["issuer"] == ISSUER


def test_endpoints_are_under_the_issuer(metadata):
    assert metadata["authorization_endpoint"] == f"{ISSUER}/authorize"
    assert metadata["token_endpoint"] == f"{ISSUER}/token"
    assert metadata["userinfo_endpoint"] == f"{ISSUER}/userinfo"
    assert metadata["jwks_uri"] == f"{ISSUER}/jwks.json"


def test_advertised_endpoints_exist(app, metadata):
    http = app.test_client()
    assert http.get(metadata["jwks_uri"].removeprefix(ISSUER)).status_code == 200
    # the token endpoint answers an empty POST with an OAuth error, not a 404
    token = http.post(metadata["token_endpoint"].removeprefix(ISSUER), data={})
    assert token.status_code == 400
    assert token.get_json()["error"] == "unsupported_grant_type"
    userinfo = http.get(metadata["userinfo_endpoint"].removeprefix(ISSUER))
    assert userinfo.status_code == 401


def test_pkce_is_s256_only(metadata):
    assert metadata["code_challenge_methods_supported"] == ["S256"]


def test_only_the_code_flow(metadata):
    assert metadata["response_types_supported"] == ["code"]
    assert "authorization_code" in metadata["grant_types_supported"]
    assert not {"implicit", "password"} & set(metadata["grant_types_supported"])
    assert "query" in metadata["response_modes_supported"]
    assert "fragment" not in metadata["response_modes_supported"]  # no tokens in URLs


def test_token_endpoint_auth_methods(metadata):
    methods = set(metadata["token_endpoint_auth_methods_supported"])
    assert {"client_secret_basic", "client_secret_post", "none"} <= methods
    assert methods <= {"client_secret_basic", "client_secret_post", "none", "private_key_jwt", "client_secret_jwt",
                       "tls_client_auth", "self_signed_tls_client_auth"}


def test_signing_and_subjects(metadata):
    assert set(metadata["id_token_signing_alg_values_supported"]) == {"RS256", "ES256"}
    assert "none" not in metadata["id_token_signing_alg_values_supported"]
    assert set(metadata["subject_types_supported"]) == {"public", "pairwise"}
    assert "openid" in metadata["scopes_supported"]


def test_iss_parameter_in_authorization_responses(metadata):
    assert metadata["authorization_response_iss_parameter_supported"] is True


def test_discovery_is_cacheable_with_etag(app):
    http = app.test_client()
    first = http.get("/.well-known/openid-configuration")
    etag = first.headers["ETag"]
    assert etag
    assert "max-age=" in first.headers["Cache-Control"]
    assert "public" in first.headers["Cache-Control"]
    again = http.get("/.well-known/openid-configuration", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.get_data() == b""
    assert again.headers["ETag"] == etag
    stale = http.get("/.well-known/openid-configuration", headers={"If-None-Match": '"not-the-etag"'})
    assert stale.status_code == 200
    assert stale.get_json()["issuer"] == ISSUER


@pytest.fixture
def jwks(app):
    response = app.test_client().get("/jwks.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def test_jwks_has_rs256_and_es256_keys_with_kid(jwks):
    keys = jwks["keys"]
    by_alg = {}
    for key in keys:
        assert key.get("kid"), key
        by_alg.setdefault(key.get("alg"), []).append(key)
    assert set(by_alg) == {"RS256", "ES256"}
    rsa = by_alg["RS256"][0]
    assert rsa["kty"] == "RSA" and rsa["n"] and rsa["e"]
    ec = by_alg["ES256"][0]
    assert ec["kty"] == "EC" and ec["crv"] == "P-256" and ec["x"] and ec["y"]
    assert len({key["kid"] for key in keys}) == len(keys)


def test_jwks_publishes_no_private_members(jwks):
    for key in jwks["keys"]:
        assert not PRIVATE_MEMBERS & set(key), key


def test_jwks_is_cacheable_with_etag(app):
    http = app.test_client()
    first = http.get("/jwks.json")
    etag = first.headers["ETag"]
    assert "max-age=" in first.headers["Cache-Control"]
    again = http.get("/jwks.json", headers={"If-None-Match": etag})
    assert again.status_code == 304
