"""What the interoperability tests share: registering a relying party and playing the citizen.

The relying-party side is always a third-party library; this module only does
what an operator and a citizen's browser do.
"""

from __future__ import annotations

import json
import secrets
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests

from tests.e2e.citizen import CitizenBrowser, step_of
from tests.e2e.stack import Stack, free_ports, idp_command, run

# Citizens of the synthetic registry (50 rows) reserved for these tests; tests/e2e/stack.py
# reserves the low indices for tests/e2e and tests/browser.
CITIZEN_FOR = {
    "openid_client_basic": 40,
    "openid_client_post": 41,
    "openid_client_es256_par": 44,
    "openid_client_public": 45,
    "openid_client_private_key_jwt": 46,
    "authlib": 42,
    "authlib_revoke": 43,
}
IDENTITY_SCOPE = "openid profile national_id"


def register_client(stack: Stack, name: str, *options: str) -> dict:
    """``idp clients add --json --name NAME OPTIONS...``: the operator's command; returns its JSON."""
    out = run(idp_command() + ["clients", "add", "--json", "--name", name, *options], stack.env,
              f"idp clients add {name}")
    data = json.loads(out.strip().splitlines()[-1])
    assert data.get("client_id"), data
    return data


def register_web_app(stack: Stack, name: str, auth_method: str = "client_secret_basic", *options: str) -> dict:
    """A confidential web application with refresh tokens and RP-initiated logout.

    Its redirect URI is on a free loopback port that nothing listens on: the
    browser's last redirect is captured, never followed."""
    (port,) = free_ports(1)
    base = f"http://127.0.0.1:{port}"
    data = register_client(
        stack, name, "--agency", "interop", "--scope", IDENTITY_SCOPE,
        "--redirect-uri", f"{base}/callback", "--post-logout-redirect-uri", f"{base}/signed-out",
        "--grant-type", "authorization_code", "--grant-type", "refresh_token",
        "--auth-method", auth_method, *options)
    if auth_method.startswith("client_secret_"):
        assert data.get("client_secret"), f"a client authenticated by a secret gets one: {data}"
    else:
        assert not data.get("client_secret"), f"a public or key-based client gets no secret: {data}"
    return dict(data, redirect_uri=f"{base}/callback", post_logout_redirect_uri=f"{base}/signed-out")


def citizen(stack: Stack, role: str) -> CitizenBrowser:
    return CitizenBrowser(stack, stack.citizens[CITIZEN_FOR[role]])


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _follow(browser: CitizenBrowser, response: requests.Response, stop_at: str) -> requests.Response | str:
    """Follow redirects like a browser until a page, or until one leads to ``stop_at`` (returned as a URL)."""
    for _ in range(10):
        if not response.is_redirect:
            return response
        location = urljoin(response.url, response.headers["Location"])
        if location.startswith(stop_at):
            return location
        response = browser.get(location, allow_redirects=False)
    raise AssertionError(f"too many redirects, last {response.url}")


def sign_in_to_callback(browser: CitizenBrowser, authorization_url: str, redirect_uri: str) -> str:
    """The citizen's part: open the authorization URL, sign in (national ID and mobile, SMS code),
    allow the consent, and return the URL the provider finally sends the browser to."""
    page = _follow(browser, browser.get(authorization_url, allow_redirects=False), redirect_uri)
    assert not isinstance(page, str), f"a fresh browser must sign in first, but went straight to {page}"
    assert page.status_code == 200, (page.status_code, page.url, page.text[:2000])
    page = browser.identify(page)
    page = _follow(browser, browser.verify(page, allow_redirects=False), redirect_uri)
    if not isinstance(page, str):
        assert page.status_code == 200, (page.status_code, page.url, page.text[:2000])
        assert step_of(page) == "consent", f"expected the consent page, got {page.url}: {page.text[:2000]}"
        page = _follow(browser, browser.decide(page, "allow", allow_redirects=False), redirect_uri)
    assert isinstance(page, str), f"expected a redirect to {redirect_uri}, got {page.status_code} {page.url}"
    assert page.startswith(redirect_uri + "?"), page
    return page


def assert_signed_out(stack: Stack, browser: CitizenBrowser, client: dict) -> None:
    """The single sign-on session is over: ``prompt=none`` answers ``login_required``."""
    state = secrets.token_urlsafe(12)
    url = stack.issuer + "/authorize?" + urlencode({
        "response_type": "code", "client_id": client["client_id"], "redirect_uri": client["redirect_uri"],
        "scope": "openid", "state": state, "nonce": secrets.token_urlsafe(12), "prompt": "none",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256"})
    back = _follow(browser, browser.get(url, allow_redirects=False), client["redirect_uri"])
    assert isinstance(back, str), f"prompt=none must redirect back, got {back.status_code} {back.url}"
    params = query_of(back)
    assert params.get("error") == "login_required", params
    assert params.get("state") == state, params
