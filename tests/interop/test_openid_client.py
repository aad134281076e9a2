"""A certified OpenID Connect relying-party library works with Panjereh out of the box.

``openid-client`` (panva's, certified by the OpenID Foundation) runs in Node as
``openid-client/rp.mjs`` against the real provider process: discovery, the
authorization URL with PKCE S256, state and nonce, the code grant (the library
validates the ID token), userinfo, the refresh grant, and the end-session URL.
This test registers the service with the operator's command and plays the
citizen: it signs in with the SMS code from the outbox and consents.

It runs for the ways an agency may register: the default (client_secret_basic,
RS256 ID tokens), client_secret_post (openid-client's own default), ES256 ID
tokens with a pushed authorization request, a public client, and
private_key_jwt.

The first run installs the pinned library with ``npm ci`` into
``openid-client/node_modules`` (kept for later runs).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from joserfc.jwk import ECKey

from tests.interop.support import IDENTITY_SCOPE, assert_signed_out, citizen, query_of, register_web_app, \
    sign_in_to_callback
from tests.support import jwt_unverified

RP_DIR = Path(__file__).resolve().parent / "openid-client"
NPM_TIMEOUT = 600  # the first install downloads three small packages; allow a slow registry
STEP_TIMEOUT = 30  # seconds for the script to answer each step


# --- the Node side ---------------------------------------------------------------------------------

def _pinned_version() -> str:
    return json.loads((RP_DIR / "package.json").read_text(encoding="utf-8"))["dependencies"]["openid-client"]


def _installed_version() -> str | None:
    manifest = RP_DIR / "node_modules" / "openid-client" / "package.json"
    if not manifest.exists():
        return None
    return json.loads(manifest.read_text(encoding="utf-8")).get("version")


def _install_needed(pinned: str) -> bool:
    """No node_modules, another openid-client in it, or a package-lock.json newer than the install."""
    if _installed_version() != pinned:
        return True
    installed, lock = RP_DIR / "node_modules" / ".package-lock.json", RP_DIR / "package-lock.json"
    return not installed.exists() or (lock.exists() and lock.stat().st_mtime > installed.stat().st_mtime)


@pytest.fixture(scope="session")
def node() -> str:
    """The ``node`` executable, with the pinned openid-client installed next to ``rp.mjs``."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("Node.js (node and npm, version 20 or newer) is needed for the openid-client interop test")
    major = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    if int(major.lstrip("v").split(".")[0]) < 20:
        pytest.skip(f"openid-client 6 needs Node.js 20 or newer, found {major}")
    pinned = _pinned_version()
    # one installer at a time (parallel test runs): an exclusive lock on package.json itself
    with open(RP_DIR / "package.json", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if _install_needed(pinned):
                has_lock = (RP_DIR / "package-lock.json").exists()
                cmd = [npm, "ci" if has_lock else "install", "--no-audit", "--no-fund", "--ignore-scripts",
                       "--loglevel=error"]
                try:
                    done = subprocess.run(cmd, cwd=RP_DIR, capture_output=True, text=True, timeout=NPM_TIMEOUT)
                except subprocess.TimeoutExpired:
                    pytest.fail(f"{' '.join(cmd)} did not finish in {NPM_TIMEOUT}s in {RP_DIR}")
                if done.returncode != 0:
                    pytest.fail(f"{' '.join(cmd)} failed in {RP_DIR} (exit {done.returncode}):\n"
                                f"{done.stdout}\n{done.stderr}")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    assert _installed_version() == pinned, f"openid-client {_installed_version()} installed, {pinned} pinned"
    return node


class RelyingPartyScript:
    """``node rp.mjs ...`` as a subprocess speaking one JSON object per line."""

    def __init__(self, node: str, args: list[str]):
        self.proc = subprocess.Popen([node, "rp.mjs", *args], cwd=RP_DIR, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue = queue.Queue()
        self.stderr: list[str] = []
        self._readers = [threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines.put), daemon=True),
                         threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr.append),
                                          daemon=True)]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _pump(stream, sink):
        for line in stream:
            sink(line)

    def read(self, step: str, timeout: float = STEP_TIMEOUT) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                exited = self.proc.poll() is not None
                if exited:  # take what it wrote before it exited
                    for reader in self._readers:
                        reader.join(timeout=5)
                    if not self.lines.empty():
                        continue
                if exited or time.monotonic() >= deadline:
                    raise AssertionError(f"rp.mjs gave no {step!r} line within {timeout}s "
                                         f"(exit code {self.proc.poll()}); stderr:\n{''.join(self.stderr)}") from None
                continue
            message = json.loads(line)
            if message.get("step") == "error":
                raise AssertionError(f"openid-client failed at {message.get('where')}: "
                                     f"{json.dumps(message, indent=2)}\nstderr:\n{''.join(self.stderr)}")
            assert message.get("step") == step, message
            return message

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for reader in self._readers:
            reader.join(timeout=5)
        self.proc.stdout.close()
        self.proc.stderr.close()


# --- the test ---------------------------------------------------------------------------------------

VARIANTS = {
    # Panjereh's default registration (client_secret_basic, RS256); the script passes ClientSecretBasic
    "basic": dict(role="openid_client_basic", auth_method="client_secret_basic", register=(), script=()),
    # registered for client_secret_post: openid-client's own default, no client authentication configured
    "post": dict(role="openid_client_post", auth_method="client_secret_post", register=(), script=(),
                 library_auth="default"),
    # ES256 ID tokens, and the authorization request pushed first (RFC 9126), both in discovery
    "es256-par": dict(role="openid_client_es256_par", auth_method="client_secret_basic",
                      register=("--id-token-alg", "ES256"), script=("--id-token-alg=ES256", "--par")),
    # a public client (a mobile or single-page app): no secret, PKCE alone
    "public": dict(role="openid_client_public", auth_method="none", register=(), script=()),
    # a client authenticated by a signed JWT (RFC 7523) with its registered key
    "private-key-jwt": dict(role="openid_client_private_key_jwt", auth_method="private_key_jwt", register=(),
                            script=()),
}


def client_key(tmp_path: Path) -> tuple[list[str], list[str]]:
    """A fresh EC key: the public JWKS for ``idp clients add --jwks``, the private JWK for the script."""
    key = ECKey.generate_key("P-256", parameters={"alg": "ES256", "use": "sig"})
    key.ensure_kid()
    public, private = tmp_path / "client-jwks.json", tmp_path / "client-private.jwk"
    public.write_text(json.dumps({"keys": [key.as_dict(private=False)]}), encoding="utf-8")
    private.write_text(json.dumps(key.as_dict(private=True)), encoding="utf-8")
    private.chmod(0o600)
    return ["--jwks", str(public)], [f"--private-jwk={private}"]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_openid_client_signs_a_citizen_in(stack, node, variant, tmp_path, request):
    spec = VARIANTS[variant]
    register, script_options = list(spec["register"]), list(spec["script"])
    if spec["auth_method"] == "private_key_jwt":
        public, private = client_key(tmp_path)
        register += public
        script_options += private
    client = register_web_app(stack, f"openid-client interop ({variant})", spec["auth_method"], *register)
    options = {"issuer": stack.issuer, "client-id": client["client_id"], "client-secret": client.get("client_secret"),
               "redirect-uri": client["redirect_uri"], "post-logout-redirect-uri": client["post_logout_redirect_uri"],
               "scope": IDENTITY_SCOPE, "auth-method": spec.get("library_auth", spec["auth_method"])}
    # --name=value: a secret may well start with "-"
    rp_args = [f"--{name}={value}" for name, value in options.items() if value] + script_options
    browser = citizen(stack, spec["role"])
    request.addfinalizer(browser.close)
    person = browser.person
    script = RelyingPartyScript(node, rp_args)
    try:
        # discovery and the authorization request, built by the library
        start = script.read("authorize")
        assert start["discovery"]["issuer"] == stack.issuer
        assert start["discovery"]["supportsPKCE"] is True
        sent = query_of(start["authorization_url"])
        assert start["authorization_url"].startswith(stack.issuer + "/authorize?")
        assert sent["client_id"] == client["client_id"]
        if "--par" in spec["script"]:
            assert set(sent) == {"client_id", "request_uri"}, sent
            assert sent["request_uri"].startswith("urn:ietf:params:oauth:request_uri:"), sent
        else:
            assert sent["code_challenge_method"] == "S256" and sent["code_challenge"]
            assert sent["state"] == start["state"] and sent["nonce"] == start["nonce"]
            assert sent["redirect_uri"] == client["redirect_uri"]

        # the citizen signs in and consents; the browser lands on the redirect URI
        callback = sign_in_to_callback(browser, start["authorization_url"], client["redirect_uri"])
        back = query_of(callback)
        assert back["iss"] == stack.issuer and back["state"] == start["state"] and back["code"]

        # the library redeems the code, validates the ID token, calls userinfo, refreshes
        script.send(callback)
        result = script.read("result")
    finally:
        script.close()
    assert script.proc.returncode == 0, "".join(script.stderr)

    # the ID token, as accepted (signature, iss, aud, exp, iat, nonce) by openid-client
    claims = result["id_token_claims"]
    assert claims["iss"] == stack.issuer
    assert claims["aud"] in (client["client_id"], [client["client_id"]])
    assert claims["nonce"] == start["nonce"]
    assert claims["sub"] and claims["sub"] != person["national_id"], "sub is never the national ID"
    # an SMS sign-in is loa1, or loa2 when the registry answered live (README, levels of assurance)
    assert claims["acr"] in ("urn:panjereh:loa:1", "urn:panjereh:loa:2")
    assert claims["acr"] in start["discovery"]["acr_values_supported"]
    assert "sms" in claims["amr"]
    assert isinstance(claims["auth_time"], int) and claims["sid"] and claims["at_hash"]
    expected_alg = "ES256" if "--id-token-alg" in spec["register"] else "RS256"
    assert result["id_token_header"]["alg"] == expected_alg and result["id_token_header"].get("kid")
    assert result["token_type"].lower() == "bearer" and result["expires_in"] > 0
    assert result["has_refresh_token"]
    header, _payload = jwt_unverified(result["access_token"])
    assert header["typ"] == "at+jwt" and header["alg"] == "ES256" and header.get("kid"), "RFC 9068 access token"

    # userinfo: the same sub, and the claims of the scopes the citizen agreed to
    userinfo = result["userinfo"]
    assert userinfo["sub"] == claims["sub"]
    assert userinfo["national_id"] == person["national_id"]
    assert userinfo["given_name"] == person["first_name"]
    assert userinfo["family_name"] == person["last_name"]
    assert userinfo["name"] == f"{person['first_name']} {person['last_name']}"
    assert userinfo["birthdate"] == person["birth_date"]
    assert "phone_number" not in userinfo, "phone was neither registered nor asked for"

    # refresh: a new access token and a new ID token (same citizen, same authentication)
    refresh = result["refresh"]
    assert refresh["attempted"] and refresh["ok"]
    assert refresh["new_access_token"], "the refresh grant returns a new access token"
    assert refresh["new_id_token"], "with openid in scope the refresh grant returns a new ID token"
    refreshed = refresh["id_token_claims"]
    for name in ("iss", "sub", "aud", "auth_time", "acr", "amr"):
        assert refreshed[name] == claims[name], f"a refreshed ID token keeps {name} (OIDC Core 12.2)"
    assert refresh["userinfo"]["sub"] == claims["sub"], "the refreshed access token works at userinfo"

    # RP-initiated logout: the library's end-session URL, opened in the citizen's browser
    end_session = result["end_session_url"]
    assert end_session.startswith(stack.issuer + "/logout?")
    asked = query_of(end_session)
    assert asked["client_id"] == client["client_id"] and asked["id_token_hint"] == refresh["id_token"]
    assert asked["post_logout_redirect_uri"] == client["post_logout_redirect_uri"]
    response = browser.get(end_session, allow_redirects=False)
    assert response.status_code in (302, 303), (response.status_code, response.text[:2000])
    location = response.headers["Location"]
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == client["post_logout_redirect_uri"], location
    assert query_of(location).get("state") == result["end_session_state"], location
    assert_signed_out(stack, browser, client)
    # ending the session revoked the tokens bound to it (idp/oauth/logout.py)
    revoked = requests.get(start["discovery"]["userinfo_endpoint"], timeout=15,
                           headers={"Authorization": f"Bearer {refresh['access_token']}"})
    assert revoked.status_code == 401, (revoked.status_code, revoked.text)
