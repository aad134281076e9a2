"""Tests of the demo agency portal against a small but real fake provider.

The fake provider is a Flask app served by a real werkzeug server on an
ephemeral port, so the portal talks to it over HTTP exactly as it would to
Panjereh: discovery, JWKS, authorize, token (with PKCE S256 verification and
client authentication), userinfo, and an end_session_endpoint. ID tokens are
RS256-signed with a throw-away key and carry the nonce from the portal's
authorization request.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import socket
import threading
import time
from contextlib import closing
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from flask import Flask, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.serving import WSGIRequestHandler, make_server

from clients.portal import ConfigError, create_app

CONFIDENTIAL_ID = "etax"
CONFIDENTIAL_SECRET = "etax-secret-for-tests"
PUBLIC_ID = "ehealth"
REDIRECT_URI = "http://localhost/callback"

CITIZEN = {
    "sub": "c1f0e6a2-citizen",
    "name": "زهرا احمدی",
    "given_name": "زهرا",
    "family_name": "احمدی",
    "national_id": "0012345678",
}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _s256(verifier: str) -> str:
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # keep test output clean
        pass


class FakeProvider:
    """Minimal OpenID Connect provider (authorization code + PKCE)."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(
            2048, parameters={"kid": "test-rs256", "use": "sig", "alg": "RS256"}
        )
        self.clients = {
            CONFIDENTIAL_ID: {"secret": CONFIDENTIAL_SECRET, "redirect_uris": [REDIRECT_URI]},
            PUBLIC_ID: {"secret": None, "redirect_uris": [REDIRECT_URI]},
        }
        self.reset()
        self.app = self._build_app()
        self.server = make_server(
            "127.0.0.1", 0, self.app, threaded=True, request_handler=_QuietHandler
        )
        self.issuer = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def reset(self) -> None:
        self.codes: dict[str, dict[str, Any]] = {}
        self.access_tokens: dict[str, dict[str, Any]] = {}
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, Any]] = []
        self.issued_id_tokens: list[str] = []
        self.id_token_overrides: dict[str, Any] = {}
        self.signing_key: RSAKey | None = None  # None -> self.key
        self.userinfo_overrides: dict[str, Any] = {}

    # -- helpers -----------------------------------------------------------
    def _authenticate_client(self) -> str | None:
        """Return the authenticated client_id, or None."""
        auth = request.authorization
        if auth is not None and auth.type == "basic":
            client = self.clients.get(auth.username or "")
            if client and client["secret"] and secrets.compare_digest(
                auth.password or "", client["secret"]
            ):
                return auth.username
            return None
        client_id = request.form.get("client_id", "")
        client = self.clients.get(client_id)
        if client and client["secret"] is None and "client_secret" not in request.form:
            return client_id  # token_endpoint_auth_method = none
        return None

    def _id_token(self, client_id: str, nonce: str | None, access_token: str) -> str:
        now = int(time.time())
        digest = hashlib.sha256(access_token.encode("ascii")).digest()
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": CITIZEN["sub"],
            "aud": client_id,
            "iat": now,
            "exp": now + 300,
            "auth_time": now,
            "at_hash": _b64url(digest[:16]),
            "amr": ["sms"],
        }
        if nonce:
            claims["nonce"] = nonce
        claims.update(self.id_token_overrides)
        key = self.signing_key or self.key
        return jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, key)

    # -- the provider --------------------------------------------------------
    def _build_app(self) -> Flask:
        app = Flask("fake_provider")

        @app.get("/.well-known/openid-configuration")
        def discovery():
            base = self.issuer
            return jsonify(
                issuer=base,
                authorization_endpoint=f"{base}/authorize",
                token_endpoint=f"{base}/token",
                userinfo_endpoint=f"{base}/userinfo",
                jwks_uri=f"{base}/jwks",
                end_session_endpoint=f"{base}/logout",
                response_types_supported=["code"],
                subject_types_supported=["public"],
                id_token_signing_alg_values_supported=["RS256"],
                code_challenge_methods_supported=["S256"],
                token_endpoint_auth_methods_supported=["client_secret_basic", "none"],
                scopes_supported=["openid", "profile", "national_id"],
                ui_locales_supported=["fa", "en"],
                authorization_response_iss_parameter_supported=True,
            )

        @app.get("/jwks")
        def jwks():
            return jsonify(keys=[self.key.as_dict(private=False)])

        @app.get("/authorize")
        def authorize():
            args = request.args.to_dict()
            self.authorize_requests.append(args)
            client = self.clients.get(args.get("client_id", ""))
            if client is None or args.get("redirect_uri") not in client["redirect_uris"]:
                return "unknown client or redirect_uri", 400
            if args.get("response_type") != "code" or args.get("code_challenge_method") != "S256":
                return "bad request", 400
            code = secrets.token_urlsafe(16)
            self.codes[code] = {
                "client_id": args["client_id"],
                "redirect_uri": args["redirect_uri"],
                "nonce": args.get("nonce"),
                "code_challenge": args["code_challenge"],
            }
            query = urlencode({"code": code, "state": args.get("state", ""), "iss": self.issuer})
            return redirect(f"{args['redirect_uri']}?{query}")

        @app.post("/token")
        def token():
            form = request.form.to_dict()
            client_id = self._authenticate_client()
            self.token_requests.append(
                {"form": form, "authorization": request.headers.get("Authorization"),
                 "client_id": client_id}
            )
            if client_id is None:
                return jsonify(error="invalid_client"), 401
            grant = self.codes.pop(form.get("code", ""), None)
            if (
                form.get("grant_type") != "authorization_code"
                or grant is None
                or grant["client_id"] != client_id
                or grant["redirect_uri"] != form.get("redirect_uri")
                or _s256(form.get("code_verifier", "")) != grant["code_challenge"]
            ):
                return jsonify(error="invalid_grant"), 400
            access_token = secrets.token_urlsafe(24)
            self.access_tokens[access_token] = {"client_id": client_id}
            id_token = self._id_token(client_id, grant["nonce"], access_token)
            self.issued_id_tokens.append(id_token)
            return jsonify(
                access_token=access_token,
                token_type="Bearer",
                expires_in=300,
                scope="openid profile national_id",
                id_token=id_token,
            )

        @app.get("/userinfo")
        def userinfo():
            header = request.headers.get("Authorization", "")
            if not header.startswith("Bearer ") or header[7:] not in self.access_tokens:
                return jsonify(error="invalid_token"), 401
            return jsonify({**CITIZEN, **self.userinfo_overrides})

        return app


# ----------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def provider():
    fake = FakeProvider()
    fake.thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()
        fake.thread.join(timeout=5)


@pytest.fixture
def make_portal(provider):
    provider.reset()

    def factory(**overrides: Any) -> Flask:
        config: dict[str, Any] = {
            "PORTAL_ISSUER": provider.issuer,
            "PORTAL_CLIENT_ID": CONFIDENTIAL_ID,
            "PORTAL_CLIENT_SECRET": CONFIDENTIAL_SECRET,
            "PORTAL_NAME_FA": "سامانه مالیات الکترونیک",
            "PORTAL_NAME_EN": "E-Tax Portal",
            "PORTAL_SECRET_KEY": "test-secret-key",
            "PORTAL_THEME": "#0b6e4f",
            "TESTING": True,
        }
        config.update(overrides)
        return create_app(config)

    return factory


@pytest.fixture
def portal(make_portal):
    return make_portal()


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _authorize(client, provider: FakeProvider, path: str = "/login") -> str:
    """Start sign-in at the portal, let the fake provider approve it, return
    the callback path+query the browser would be sent back with."""
    resp = client.get(path)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    answer = requests.get(resp.headers["Location"], allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    callback = urlsplit(answer.headers["Location"])
    assert f"{callback.scheme}://{callback.netloc}{callback.path}" == REDIRECT_URI
    return f"{callback.path}?{callback.query}"


def _sign_in(client, provider: FakeProvider):
    resp = client.get(_authorize(client, provider))
    assert resp.status_code == 302, resp.get_data(as_text=True)
    assert resp.headers["Location"] in ("/", "http://localhost/")
    return client.get("/")


def _replace_param(path_qs: str, **params: str | None) -> str:
    parts = urlsplit(path_qs)
    query = _query(path_qs)
    for key, value in params.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return f"{parts.path}?{urlencode(query)}"


# -------------------------------------------------------------------- tests


def test_healthz(portal):
    resp = portal.test_client().get("/healthz")
    assert resp.status_code == 200
    assert resp.get_data(as_text=True) == "ok"


def test_home_is_persian_by_default_and_english_is_remembered(portal):
    client = portal.test_client()
    html = client.get("/").get_data(as_text=True)
    assert '<html lang="fa" dir="rtl">' in html
    assert "ورود با پنجره" in html
    assert "سامانه مالیات الکترونیک" in html
    assert 'name="viewport"' in html
    assert 'href="/?lang=en"' in html  # visible language switch

    html = client.get("/?lang=en").get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in html
    assert "Sign in with Panjereh" in html
    assert "E-Tax Portal" in html

    html = client.get("/").get_data(as_text=True)  # remembered in the session
    assert '<html lang="en" dir="ltr">' in html
    assert 'href="/?lang=fa"' in html


def test_login_redirect_carries_pkce_nonce_state_and_ui_locales(portal, provider):
    client = portal.test_client()
    resp = client.get("/login")
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.startswith(provider.issuer + "/authorize?")  # learnt from discovery
    params = _query(location)
    assert params["response_type"] == "code"
    assert params["client_id"] == CONFIDENTIAL_ID
    assert params["redirect_uri"] == REDIRECT_URI
    assert params["scope"] == "openid profile national_id"
    assert params["code_challenge_method"] == "S256"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", params["code_challenge"])
    assert len(params["state"]) >= 20
    assert len(params["nonce"]) >= 20
    assert params["ui_locales"] == "fa"

    client.get("/?lang=en")
    params2 = _query(client.get("/login").headers["Location"])
    assert params2["ui_locales"] == "en"
    assert params2["state"] != params["state"]
    assert params2["nonce"] != params["nonce"]
    assert params2["code_challenge"] != params["code_challenge"]


def test_callback_with_valid_code_shows_name_national_id_and_claims(portal, provider):
    client = portal.test_client()
    html = _sign_in(client, provider).get_data(as_text=True)

    assert f"وارد شده به عنوان {CITIZEN['name']}" in html
    assert CITIZEN["national_id"] in html
    assert "خروج" in html
    # the claims table shows ID-token claims merged with userinfo
    for claim in ("iss", "aud", "nonce", "sub", "name", "national_id", "amr"):
        assert f'<code dir="ltr">{claim}</code>' in html
    assert 'name="csrf_token"' in html

    # confidential client: client_secret_basic, code bound by PKCE verifier
    (token_request,) = provider.token_requests
    assert token_request["authorization"].startswith("Basic ")
    assert token_request["client_id"] == CONFIDENTIAL_ID
    assert token_request["form"]["code_verifier"]
    assert "client_secret" not in token_request["form"]

    html = client.get("/?lang=en").get_data(as_text=True)
    assert f"Signed in as {CITIZEN['name']}" in html
    assert "National ID" in html and "Sign out" in html


def test_public_client_uses_auth_method_none(make_portal, provider):
    portal = make_portal(PORTAL_CLIENT_ID=PUBLIC_ID, PORTAL_CLIENT_SECRET="")
    client = portal.test_client()
    html = _sign_in(client, provider).get_data(as_text=True)
    assert CITIZEN["national_id"] in html
    (token_request,) = provider.token_requests
    assert token_request["authorization"] is None
    assert token_request["form"]["client_id"] == PUBLIC_ID
    assert token_request["client_id"] == PUBLIC_ID


def test_access_denied_shows_friendly_page(portal, provider):
    client = portal.test_client()
    callback = _authorize(client, provider)
    denied = _replace_param(callback, code=None, error="access_denied",
                            error_description="<b>The user said no</b>")
    resp = client.get(denied)
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert "access_denied" in html
    assert "اجازهٔ ارسال اطلاعات" in html  # translated explanation (Persian default)
    assert 'href="/login"' in html  # try again
    assert "The user said no" not in html  # provider text is never echoed
    assert provider.token_requests == []

    client.get("/?lang=en")
    callback = _authorize(client, provider)
    html = client.get(_replace_param(callback, code=None, error="access_denied")).get_data(as_text=True)
    assert "You chose not to share your information" in html
    assert "Try again" in html


def test_mismatched_iss_is_rejected(portal, provider):
    client = portal.test_client()
    callback = _authorize(client, provider)
    resp = client.get(_replace_param(callback, iss="https://evil.example"))
    assert resp.status_code == 400
    assert "issuer_mismatch" in resp.get_data(as_text=True)
    assert provider.token_requests == []  # the code was never redeemed
    assert "وارد شده به عنوان" not in client.get("/").get_data(as_text=True)


def test_missing_iss_is_rejected_when_provider_advertises_it(portal, provider):
    client = portal.test_client()
    callback = _authorize(client, provider)
    resp = client.get(_replace_param(callback, iss=None))
    assert resp.status_code == 400
    assert "missing_iss" in resp.get_data(as_text=True)
    assert provider.token_requests == []


def test_unknown_state_is_rejected(portal, provider):
    client = portal.test_client()
    callback = _authorize(client, provider)
    resp = client.get(_replace_param(callback, state="forged-state"))
    assert resp.status_code == 400
    assert "mismatching_state" in resp.get_data(as_text=True)
    assert provider.token_requests == []


@pytest.mark.parametrize(
    "tamper",
    ["aud", "nonce", "iss", "signature", "expired"],
)
def test_invalid_id_token_is_rejected(portal, provider, tamper):
    if tamper == "aud":
        provider.id_token_overrides = {"aud": "someone-else", "azp": CONFIDENTIAL_ID}
    elif tamper == "nonce":
        provider.id_token_overrides = {"nonce": "not-the-nonce-we-sent"}
    elif tamper == "iss":
        provider.id_token_overrides = {"iss": "https://evil.example"}
    elif tamper == "expired":
        provider.id_token_overrides = {"exp": int(time.time()) - 3600}
    else:
        provider.signing_key = RSAKey.generate_key(2048)  # same kid, wrong key
    client = portal.test_client()
    resp = client.get(_authorize(client, provider))
    assert resp.status_code == 502
    assert "invalid_id_token" in resp.get_data(as_text=True)
    assert "وارد شده به عنوان" not in client.get("/").get_data(as_text=True)


def test_userinfo_for_another_subject_is_rejected(portal, provider):
    provider.userinfo_overrides = {"sub": "someone-else"}
    client = portal.test_client()
    resp = client.get(_authorize(client, provider))
    assert resp.status_code == 502
    assert "userinfo_sub_mismatch" in resp.get_data(as_text=True)


def test_two_portals_use_different_cookie_names(make_portal):
    etax = make_portal()
    ehealth = make_portal(PORTAL_CLIENT_ID=PUBLIC_ID, PORTAL_CLIENT_SECRET="",
                          PORTAL_NAME_EN="E-Health Portal")
    names = []
    for app in (etax, ehealth):
        resp = app.test_client().get("/?lang=en")
        (set_cookie,) = resp.headers.getlist("Set-Cookie")
        name = set_cookie.split("=", 1)[0]
        assert "HttpOnly" in set_cookie
        assert "SameSite=Lax" in set_cookie
        names.append(name)
    assert names == ["portal_etax", "portal_ehealth"]
    # sanitised, and distinct even when sanitising maps two ids together
    dashed = make_portal(PORTAL_CLIENT_ID="e-tax").config["SESSION_COOKIE_NAME"]
    dotted = make_portal(PORTAL_CLIENT_ID="e.tax").config["SESSION_COOKIE_NAME"]
    assert re.fullmatch(r"portal_e_tax_[0-9a-f]{8}", dashed)
    assert dashed != dotted


def test_logout_redirects_to_end_session_endpoint_with_id_token_hint(portal, provider):
    client = portal.test_client()
    html = _sign_in(client, provider).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)

    # without the portal's CSRF token: refused, still signed in
    resp = client.post("/logout", data={"csrf_token": "wrong"})
    assert resp.status_code == 400
    assert CITIZEN["name"] in client.get("/").get_data(as_text=True)
    assert client.get("/logout").status_code == 405

    resp = client.post("/logout", data={"csrf_token": csrf})
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.startswith(provider.issuer + "/logout?")
    params = _query(location)
    assert params["id_token_hint"] == provider.issued_id_tokens[-1]
    assert params["post_logout_redirect_uri"] == "http://localhost/"
    assert params["client_id"] == CONFIDENTIAL_ID
    assert params["state"]

    # local session is gone; coming back shows the signed-out notice
    html = client.get("/?" + urlencode({"state": params["state"]})).get_data(as_text=True)
    assert "از سامانه خارج شدید." in html
    assert "ورود با پنجره" in html
    assert CITIZEN["national_id"] not in html


def test_provider_unreachable_shows_translated_503(make_portal):
    with closing(socket.socket()) as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    portal = make_portal(PORTAL_ISSUER=f"http://127.0.0.1:{port}")
    client = portal.test_client()
    assert client.get("/").status_code == 200  # discovery is lazy
    resp = client.get("/login")
    assert resp.status_code == 503
    html = resp.get_data(as_text=True)
    assert "ارتباط با پنجره برقرار نمی‌شود" in html
    resp = client.get("/login?lang=en")
    assert resp.status_code == 503
    assert "Panjereh cannot be reached right now" in resp.get_data(as_text=True)


def test_discovery_issuer_must_match_configuration(make_portal, provider):
    portal = make_portal(PORTAL_ISSUER=provider.issuer.replace("127.0.0.1", "localhost"))
    resp = portal.test_client().get("/login")
    assert resp.status_code == 502
    assert "discovery_issuer_mismatch" in resp.get_data(as_text=True)


def test_client_id_is_required(monkeypatch):
    monkeypatch.delenv("PORTAL_CLIENT_ID", raising=False)
    with pytest.raises(ConfigError):
        create_app({"PORTAL_ISSUER": "http://127.0.0.1:5000"})


def test_security_headers_and_theme(make_portal):
    client = make_portal().test_client()
    resp = client.get("/")
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert "#0b6e4f" in client.get("/theme.css").get_data(as_text=True)

    hostile = make_portal(PORTAL_THEME="red} body{display:none").test_client()
    css = hostile.get("/theme.css").get_data(as_text=True)
    assert "display" not in css
