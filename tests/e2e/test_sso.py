"""Single sign-on end to end: real processes, real HTTP, a citizen's browser and a certified client library."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from urllib.parse import urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from clients.portal.i18n import MESSAGES as PORTAL_MESSAGES
from tests.e2e.citizen import query_of, step_of
from idp.text import mask_mobile, normalize_digits
from tests.support import Forms


def signed_in_as(page: requests.Response, person: dict) -> None:
    """The portal's home page shows the citizen's name and national ID."""
    text = html.unescape(page.text)
    assert f"{person['first_name']} {person['last_name']}" in text, text[:3000]
    facts = re.search(r'<dl class="facts">(.*?)</dl>', text, re.S)
    assert facts and person["national_id"] in normalize_digits(facts.group(1)), text[:3000]
    assert 'id="sign-in"' not in text


def callback_hop(response: requests.Response) -> requests.Response:
    """The redirect the provider sent to the portal's /callback (the first hop that left the provider)."""
    for hop in [*response.history, response]:
        if urlsplit(hop.url).path == "/callback":
            return hop
    raise AssertionError(f"never reached a /callback: {[h.url for h in response.history]} -> {response.url}")


# --- (a) ---------------------------------------------------------------------------------------------

def test_sign_in_through_the_tax_portal(stack, citizen_browser):
    browser = citizen_browser("tax_sign_in")
    person = browser.person
    home = browser.get(stack.tax_url + "/")
    assert 'dir="rtl"' in home.text and "سامانه مالیات الکترونیک" in home.text

    page = browser.get(stack.tax_url + "/login")
    assert urlsplit(page.url).netloc == urlsplit(stack.issuer).netloc, "sign-in goes to the provider"
    authorize = next(h for h in [*page.history, page] if urlsplit(h.url).path == "/authorize")
    params = query_of(authorize.url)
    assert params["client_id"] == stack.clients["tax"]["client_id"]
    assert params["code_challenge_method"] == "S256" and params["nonce"] and params["state"]
    assert params["ui_locales"] == "fa"

    page = browser.identify(page)
    assert mask_mobile(person["mobile"]) in normalize_digits(html.unescape(page.text)), "the masked mobile"
    outbox = stack.sms_lines()[-1]
    assert outbox["to"] == person["mobile"]

    page = browser.verify(page)
    assert step_of(page) == "consent"
    assert {"allow", "deny"} <= {value for _name, value in Forms(page.text).with_field("decision")["buttons"]}
    assert "سامانه مالیات الکترونیک" in page.text, "the consent page names the service"

    page = browser.decide(page, "allow")
    assert page.status_code == 200
    assert page.url == stack.tax_url + "/"
    back = query_of(callback_hop(page).url)
    assert back["iss"] == stack.issuer and back["code"] and back["state"] == params["state"]
    signed_in_as(page, person)


# --- (b) ---------------------------------------------------------------------------------------------

def test_single_sign_on_into_a_second_portal(stack, citizen_browser):
    browser = citizen_browser("sso")
    person = browser.person
    page = browser.decide(browser.sign_in(stack.tax_url), "allow")
    signed_in_as(page, person)

    sms_before = stack.sms_count()
    health_home = browser.get(stack.health_url + "/")
    assert "سامانه سلامت الکترونیک" in health_home.text and 'id="sign-in"' in health_home.text
    page = browser.get(stack.health_url + "/login")
    visited = [urlsplit(h.url).path for h in page.history] + [urlsplit(page.url).path]
    assert not any(p.endswith("/identify") or p.endswith("/verify") for p in visited), visited
    assert not any("national_id" in form["fields"] for form in Forms(page.text).forms), "no identify form"
    assert step_of(page) == "consent", f"only the health portal's consent page, got {page.url}"
    assert "سامانه سلامت الکترونیک" in page.text

    page = browser.decide(page, "allow")
    assert page.url == stack.health_url + "/"
    text = html.unescape(page.text)
    assert f"{person['first_name']} {person['last_name']}" in text
    assert "+98" + person["mobile"][1:] in text, "the health portal asked for the phone scope"
    assert stack.sms_count() == sms_before, "single sign-on sends no new SMS"

    # and the tax portal still has its own session
    signed_in_as(browser.get(stack.tax_url + "/"), person)


# --- (c) ---------------------------------------------------------------------------------------------

def at_hash(access_token: str, alg: str) -> str:
    digest = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}[alg[-3:]]
    left = digest(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(left[: len(left) // 2]).rstrip(b"=").decode()


def test_a_relying_party_with_a_real_openid_connect_client_library(stack, citizen_browser):
    """Authlib's OAuth2Session against the live provider: the proof that a certified client library works."""
    browser = citizen_browser("rp_library")
    person = browser.person
    tax = stack.clients["tax"]

    with requests.Session() as http:
        metadata = http.get(stack.issuer + "/.well-known/openid-configuration", timeout=10).json()
        assert metadata["issuer"] == stack.issuer
        assert "S256" in metadata["code_challenge_methods_supported"]
        jwks = http.get(metadata["jwks_uri"], timeout=10).json()

    redirect_uri = tax["base_url"] + "/callback"
    client = OAuth2Session(tax["client_id"], tax["client_secret"], scope="openid profile national_id",
                           redirect_uri=redirect_uri, code_challenge_method="S256",
                           token_endpoint_auth_method="client_secret_basic")
    with client:
        verifier, nonce = generate_token(48), generate_token(20)
        url, state = client.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier,
                                                     nonce=nonce, ui_locales="en")
        assert "code_challenge=" in url and "code_challenge_method=S256" in url

        page = browser.get(url)
        page = browser.identify(page)
        page = browser.verify(page)
        response = browser.decide(page, "allow", allow_redirects=False)
        assert response.status_code == 302, response.text[:2000]
        location = response.headers["Location"]
        assert location.startswith(redirect_uri + "?"), location
        answer = query_of(location)
        assert answer["state"] == state
        assert answer["iss"] == stack.issuer, "RFC 9207 iss in the authorization response"

        token = client.fetch_token(metadata["token_endpoint"], authorization_response=location,
                                   code_verifier=verifier)
        assert token["token_type"].lower() == "bearer"
        assert token["access_token"] and token["id_token"] and token["expires_in"] > 0

        # The ID token, checked with joserfc against the provider's published keys.
        keys = KeySet.import_key_set(jwks)
        decoded = jwt.decode(token["id_token"], keys, algorithms=metadata["id_token_signing_alg_values_supported"])
        assert decoded.header["alg"] == "RS256", "the client registered RS256 (the default)"
        assert decoded.header.get("kid") in {k.get("kid") for k in jwks["keys"]}
        claims = decoded.claims
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": stack.issuer},
            aud={"essential": True, "value": tax["client_id"]},
            nonce={"essential": True, "value": nonce},
            exp={"essential": True},
            iat={"essential": True},
            sub={"essential": True},
            at_hash={"essential": True, "value": at_hash(token["access_token"], decoded.header["alg"])},
        ).validate(claims)
        if isinstance(claims["aud"], list) and len(claims["aud"]) > 1:
            assert claims.get("azp") == tax["client_id"]
        assert claims["exp"] > claims["iat"]
        assert "auth_time" in claims and claims["acr"] and "sms" in claims.get("amr", [])

        # A tampered token does not verify.
        head, body, signature = token["id_token"].split(".")
        forged = head + "." + body + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
        with pytest.raises(BadSignatureError):
            jwt.decode(forged, keys, algorithms=metadata["id_token_signing_alg_values_supported"])

        # Userinfo with the access token (OAuth2Session attaches it).
        info = client.get(metadata["userinfo_endpoint"], timeout=10)
        assert info.status_code == 200, info.text
        userinfo = info.json()
        assert userinfo["sub"] == claims["sub"]
        assert userinfo["national_id"] == person["national_id"]
        assert userinfo["name"] == f"{person['first_name']} {person['last_name']}"
        assert "phone_number" not in userinfo, "phone was not requested"

        # The code is single use.
        with pytest.raises(OAuthError) as replay:
            client.fetch_token(metadata["token_endpoint"], authorization_response=location, code_verifier=verifier)
        assert replay.value.error == "invalid_grant"


# --- (d) ---------------------------------------------------------------------------------------------

def test_three_wrong_codes_then_the_right_one(stack, citizen_browser):
    browser = citizen_browser("wrong_code")
    person = browser.person
    browser.get(stack.tax_url + "/?lang=en")
    page = browser.identify(browser.get(stack.tax_url + "/login"))
    code = browser.last_code()
    sms_before = stack.sms_count()
    for attempt, wrong in enumerate((1, 2, 3), start=1):
        wrong_code = f"{(int(code) + wrong) % 10**6:06d}"
        page = browser.verify(page, wrong_code)
        assert page.status_code == 200
        assert step_of(page) == "verify", "a wrong code keeps the citizen on the code page"
        assert 'aria-invalid="true"' in page.text
        error = re.search(r'<p class="error" id="otp-error">(.*?)</p>', page.text, re.S)
        assert error, f"no error message for the code field: {page.text[:3000]}"
        left = re.findall(r"\d+", normalize_digits(html.unescape(error.group(1))))
        assert left == [str(5 - attempt)], f"the message tells the tries left: {error.group(1)!r}"
    assert stack.sms_count() == sms_before, "wrong codes do not send new SMS"
    page = browser.verify(page, code)
    page = browser.decide(page, "allow")
    assert page.url == stack.tax_url + "/"
    signed_in_as(page, person)


# --- (e) ---------------------------------------------------------------------------------------------

def test_declining_consent_returns_access_denied(stack, citizen_browser):
    browser = citizen_browser("deny")
    page = browser.sign_in(stack.tax_url)
    page = browser.decide(page, "deny")
    assert page.status_code == 400
    assert urlsplit(page.url).path == "/callback" and page.url.startswith(stack.tax_url)
    answer = query_of(page.url)
    assert answer["error"] == "access_denied" and answer["iss"] == stack.issuer and answer["state"]
    assert "code" not in answer
    text = html.unescape(page.text)
    assert '<code dir="ltr">access_denied</code>' in text
    assert PORTAL_MESSAGES["err_access_denied"]["fa"] in text, "the friendly explanation, in Persian"
    assert PORTAL_MESSAGES["error_title"]["fa"] in text
    assert 'href="/login"' in text, "a Try again link"
    home = browser.get(stack.tax_url + "/")
    assert 'id="sign-in"' in home.text, "still signed out at the portal"
