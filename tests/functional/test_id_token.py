"""ID tokens (OpenID Connect Core 2, 3.1.3.6/3.1.3.7), RFC 9068 access tokens and subject identifiers."""

import time

import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from tests.conftest import ISSUER, make_client
from tests.support import RelyingParty, half_hash, jwt_unverified, sign_in_tokens

RFC8176_AMR = {"face", "fpt", "geo", "hwk", "iris", "kba", "mca", "mfa", "otp", "pin", "pwd", "rba", "retina",
               "sc", "sms", "swk", "tel", "user", "vbm", "wia"}


@pytest.fixture
def settings(module_provider):
    """This module shares one provider (see module_provider in conftest.py)."""
    return module_provider[0]


@pytest.fixture
def app(module_provider):
    return module_provider[1]


def published_keys(app) -> tuple[dict, KeySet]:
    jwks = app.test_client().get("/jwks.json").get_json()
    return jwks, KeySet.import_key_set(jwks)


def verify_id_token(app, id_token: str, rp: RelyingParty, alg: str):
    """What a careful relying party does with an ID token; returns the token (header, claims)."""
    jwks, keyset = published_keys(app)
    header, _ = jwt_unverified(id_token)
    assert header["alg"] == alg
    assert header["kid"] in {key["kid"] for key in jwks["keys"]}
    token = jwt.decode(id_token, keyset, algorithms=[alg])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": rp.client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": rp.nonce},
    ).validate(token.claims)
    return token


def other_rp(app, host: str, **kw) -> RelyingParty:
    uri = f"https://{host}/cb"
    client_id, secret = make_client(app, name=host, redirect_uris=[uri], **kw)
    return RelyingParty(app.test_client(), client_id, secret, uri)


def fresh_browser(browser):
    """A second citizen's browser (no cookies) writing to the same SMS outbox."""
    return type(browser)(browser.client.application.test_client(), browser.outbox)


def test_id_token_verifies_against_the_published_jwks(app, rp, browser, citizen):
    before = int(time.time())
    body = sign_in_tokens(browser, rp, citizen)
    after = int(time.time())
    token = verify_id_token(app, body["id_token"], rp, "RS256")
    claims = token.claims
    assert claims["iss"] == ISSUER
    assert claims["aud"] in (rp.client_id, [rp.client_id])
    assert claims["nonce"] == rp.nonce
    assert before <= claims["iat"] <= after
    assert claims["exp"] > claims["iat"]
    assert before - 1 <= claims["auth_time"] <= after
    metadata = app.test_client().get("/.well-known/openid-configuration").get_json()
    assert claims["acr"] in metadata["acr_values_supported"]
    assert isinstance(claims["amr"], list) and "sms" in claims["amr"]
    assert set(claims["amr"]) <= RFC8176_AMR
    assert isinstance(claims["sid"], str) and claims["sid"]


def test_at_hash_is_left_half_of_sha256_of_the_access_token(app, rp, browser, citizen):
    body = sign_in_tokens(browser, rp, citizen)
    claims = verify_id_token(app, body["id_token"], rp, "RS256").claims
    assert claims["at_hash"] == half_hash(body["access_token"], "sha256")


def test_id_token_signed_with_es256_when_the_client_registered_it(app, browser, citizen):
    client_id, secret = make_client(app, id_token_signed_response_alg="ES256")
    rp = RelyingParty(app.test_client(), client_id, secret, "https://tax.example/cb")
    body = sign_in_tokens(browser, rp, citizen)
    claims = verify_id_token(app, body["id_token"], rp, "ES256").claims
    assert claims["at_hash"] == half_hash(body["access_token"], "sha256")


def test_tampered_id_token_does_not_verify(app, rp, browser, citizen):
    body = sign_in_tokens(browser, rp, citizen)
    header, payload, signature = body["id_token"].split(".")
    forged = ".".join([header, payload, signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")])
    _jwks, keyset = published_keys(app)
    with pytest.raises(BadSignatureError):
        jwt.decode(forged, keyset, algorithms=["RS256"])


def test_access_token_is_an_rfc9068_jwt(app, rp, browser, citizen):
    before = int(time.time())
    body = sign_in_tokens(browser, rp, citizen)
    jwks, keyset = published_keys(app)
    header, _ = jwt_unverified(body["access_token"])
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    assert header["kid"] in {key["kid"] for key in jwks["keys"]}
    access = jwt.decode(body["access_token"], keyset, algorithms=["ES256"]).claims
    id_claims = jwt_unverified(body["id_token"])[1]
    assert access["iss"] == ISSUER
    assert access["sub"] == id_claims["sub"]
    assert access["aud"] in (rp.client_id, [rp.client_id])
    assert access["client_id"] == rp.client_id
    assert access["iat"] >= before
    assert access["exp"] > access["iat"]
    assert access["jti"]
    assert set(access["scope"].split()) == set(body["scope"].split()) == {"openid", "profile", "national_id"}


def test_sub_is_not_the_national_id(app, rp, browser, citizen):
    body = sign_in_tokens(browser, rp, citizen)
    sub = jwt_unverified(body["id_token"])[1]["sub"]
    assert sub != citizen["national_id"]
    assert citizen["national_id"] not in sub
    info = rp.http.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}).get_json()
    assert info["sub"] == sub


def test_pairwise_subjects_differ_between_sectors(app, rp, browser, citizen):
    health = other_rp(app, "health.example")
    sub_tax = jwt_unverified(sign_in_tokens(browser, rp, citizen)["id_token"])[1]["sub"]
    sub_health = jwt_unverified(sign_in_tokens(browser, health, citizen)["id_token"])[1]["sub"]
    assert sub_tax != sub_health


def test_pairwise_subject_is_stable_across_logins(app, rp, browser, citizen):
    first = jwt_unverified(sign_in_tokens(browser, rp, citizen)["id_token"])[1]["sub"]
    second_browser = fresh_browser(browser)
    second = jwt_unverified(sign_in_tokens(second_browser, rp, citizen)["id_token"])[1]["sub"]
    assert first == second


def test_other_citizens_get_other_subjects(app, rp, browser, citizens):
    first = jwt_unverified(sign_in_tokens(browser, rp, citizens[0])["id_token"])[1]["sub"]
    second = jwt_unverified(sign_in_tokens(fresh_browser(browser), rp, citizens[1])["id_token"])[1]["sub"]
    assert first != second


def test_public_subject_is_the_same_for_two_clients(app, browser, citizen):
    one = other_rp(app, "one.example", subject_type="public")
    two = other_rp(app, "two.example", subject_type="public")
    sub_one = jwt_unverified(sign_in_tokens(browser, one, citizen)["id_token"])[1]["sub"]
    sub_two = jwt_unverified(sign_in_tokens(browser, two, citizen)["id_token"])[1]["sub"]
    assert sub_one == sub_two
    assert citizen["national_id"] not in sub_one


def test_lifetimes_follow_the_settings(app, settings, rp, browser, citizen):
    body = sign_in_tokens(browser, rp, citizen)
    id_claims = jwt_unverified(body["id_token"])[1]
    access = jwt_unverified(body["access_token"])[1]
    assert id_claims["exp"] - id_claims["iat"] == settings.id_token_ttl
    assert access["exp"] - access["iat"] == settings.access_token_ttl
    assert body["expires_in"] == settings.access_token_ttl


def test_no_nonce_claim_when_none_was_sent(app, rp, browser, citizen):
    body = sign_in_tokens(browser, rp, citizen, nonce=None)
    assert "nonce" not in jwt_unverified(body["id_token"])[1]


def test_auth_time_is_the_original_sign_in_under_single_sign_on(app, rp, browser, citizen):
    from datetime import timedelta

    from idp.db import db
    from idp.models import LoginSession

    first = jwt_unverified(sign_in_tokens(browser, rp, citizen)["id_token"])[1]
    with app.app_context():
        login = db.session.get(LoginSession, first["sid"])
        login.auth_time = login.auth_time - timedelta(minutes=20)  # the citizen signed in 20 minutes ago
        db.session.commit()
    second = jwt_unverified(sign_in_tokens(browser, rp, citizen)["id_token"])[1]  # no login this time
    assert second["sid"] == first["sid"]
    assert second["auth_time"] == first["auth_time"] - 20 * 60
    assert second["iat"] >= first["iat"]


def test_a_new_login_gets_a_new_sid_and_auth_time(app, rp, browser, citizen):
    from datetime import timedelta

    from idp.db import db
    from idp.models import LoginSession

    first = jwt_unverified(sign_in_tokens(browser, rp, citizen)["id_token"])[1]
    with app.app_context():
        login = db.session.get(LoginSession, first["sid"])
        login.auth_time = login.auth_time - timedelta(minutes=20)
        db.session.commit()
    again = jwt_unverified(sign_in_tokens(browser, rp, citizen, prompt="login")["id_token"])[1]
    assert again["sid"] != first["sid"]
    assert again["auth_time"] >= first["auth_time"]  # now, not the session of 20 minutes ago


def test_keys_in_the_jwks_are_for_signatures(app):
    jwks, _keyset = published_keys(app)
    assert all(key.get("use") in (None, "sig") for key in jwks["keys"])


def test_sid_is_not_the_browser_session_cookie(app, rp, browser, citizen):
    sid = jwt_unverified(sign_in_tokens(browser, rp, citizen)["id_token"])[1]["sid"]
    cookie = browser.client.get_cookie("panjereh_session").value
    assert sid != cookie and sid not in cookie and cookie not in sid
