"""What a relying party and a citizen's browser do, over HTTP, for the tests."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

OTP_RUN = re.compile(r"(?<!\d)(\d{6})(?!\d)")


class Forms(HTMLParser):
    """Every form on a page: action, method, inputs (hidden ones with values) and buttons."""

    def __init__(self, html: str):
        super().__init__()
        self.forms: list[dict] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action", ""), "method": attrs.get("method", "get").lower(),
                               "fields": {}, "buttons": []})
        elif self.forms and tag == "input" and attrs.get("name"):
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value", "")
        elif self.forms and tag == "button" and attrs.get("name"):
            self.forms[-1]["buttons"].append((attrs["name"], attrs.get("value", "")))

    def with_field(self, name: str) -> dict:
        for form in self.forms:
            if name in form["fields"] or any(b[0] == name for b in form["buttons"]):
                return form
        raise AssertionError(f"no form with a field {name!r}")


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def last_code(outbox: Path, mobile: str | None = None) -> str:
    lines = [json.loads(line) for line in outbox.read_text(encoding="utf-8").splitlines() if line.strip()]
    if mobile:
        lines = [m for m in lines if m["to"] == mobile]
    return OTP_RUN.search(lines[-1]["text"]).group(1)


def query(location: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


class Browser:
    """A citizen's browser on the Flask test client: follows redirects and submits forms."""

    def __init__(self, client, outbox: Path):
        self.client = client
        self.outbox = outbox

    def get(self, url, **kw):
        return self.client.get(url, **kw)

    def submit(self, response, field: str, values: dict | None = None, button: tuple | None = None):
        page = response.get_data(as_text=True)
        form = Forms(page).with_field(field)
        data = dict(form["fields"])
        data.update(values or {})
        if button:
            data[button[0]] = button[1]
        action = form["action"] or response.request.path
        return self.client.post(action, data=data)

    def follow(self, response, limit=10):
        """Follow redirects within the provider; stop at a relying party's URI."""
        for _ in range(limit):
            if response.status_code not in (302, 303):
                return response
            location = response.headers["Location"]
            parts = urlsplit(location)
            if parts.netloc and parts.netloc != "localhost" and not location.startswith("http://127.0.0.1:5000"):
                return response
            path = parts.path + ("?" + parts.query if parts.query else "")
            response = self.client.get(path)
        return response

    def login(self, response, national_id: str, mobile: str):
        """From the identify page to whatever follows a correct code."""
        response = self.follow(response)
        response = self.follow(self.submit(response, "national_id", {"national_id": national_id, "mobile": mobile}))
        assert "otp" in Forms(response.get_data(as_text=True)).forms[0]["fields"] or True
        code = last_code(self.outbox, mobile)
        return self.follow(self.submit(response, "otp", {"otp": code}))

    def consent(self, response, decision="allow"):
        return self.follow(self.submit(response, "decision", button=("decision", decision)))


class RelyingParty:
    """An agency's service: builds authorization requests and redeems codes."""

    def __init__(self, client, client_id, secret, redirect_uri, scope="openid profile national_id"):
        self.http = client
        self.client_id = client_id
        self.secret = secret
        self.redirect_uri = redirect_uri
        self.scope = scope
        self.verifier = None
        self.state = None
        self.nonce = None

    def authorize_url(self, **extra) -> str:
        self.verifier, challenge = pkce_pair()
        self.state, self.nonce = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
        params = {"response_type": "code", "client_id": self.client_id, "redirect_uri": self.redirect_uri,
                  "scope": self.scope, "state": self.state, "nonce": self.nonce,
                  "code_challenge": challenge, "code_challenge_method": "S256"}
        params.update(extra)
        return "/authorize?" + urlencode({k: v for k, v in params.items() if v is not None})

    def redeem(self, code: str, **extra):
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
                "code_verifier": self.verifier}
        data.update(extra)
        auth = None
        if self.secret:
            auth = (self.client_id, self.secret)
        else:
            data["client_id"] = self.client_id
        headers = {}
        if auth:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        return self.http.post("/token", data=data, headers=headers)


# --- helpers added for the specification-feature suites (append only) ---

_IID_IN_PATH = re.compile(r"/interaction/[A-Za-z0-9_\-]+/")
_CSRF_VALUE = re.compile(r'(name="csrf_token"[^>]*value=")[^"]*(")')


def sms_messages(outbox: Path) -> list[dict]:
    """Every SMS written to the outbox so far (empty when none was ever sent)."""
    if not outbox.exists():
        return []
    return [json.loads(line) for line in outbox.read_text(encoding="utf-8").splitlines() if line.strip()]


def page_text(html: str) -> str:
    """A page with what differs per request removed (interaction ids, CSRF tokens)."""
    html = _IID_IN_PATH.sub("/interaction/IID/", html)
    return _CSRF_VALUE.sub(r"\1CSRF\2", html)


def error_code(html: str) -> str | None:
    """The OAuth ``error`` shown on an error page (``<span id="error-code">``)."""
    found = re.search(r'id="error-code">([^<]*)<', html)
    return found.group(1) if found else None


def jwt_unverified(token: str) -> tuple[dict, dict]:
    """Header and claims of a compact JWS, without verifying it (for inspection only)."""
    def part(segment):
        return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    header, payload, _signature = token.split(".")
    return part(header), part(payload)


def half_hash(value: str, hash_name: str = "sha256") -> str:
    """``at_hash``/``c_hash`` per OpenID Connect Core 3.1.3.6: left half of the hash, base64url."""
    digest = hashlib.new(hash_name, value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


def at_rp(response, rp) -> bool:
    """Whether ``response`` redirects the browser to the relying party's redirect URI."""
    return response.status_code in (302, 303) and response.headers["Location"].startswith(rp.redirect_uri + "?")


def authorize(browser, rp, citizen=None, decision="allow", **extra):
    """Run /authorize to the relying party: sign in when asked, consent when asked.

    Returns the final response (a redirect to the relying party's redirect URI)."""
    response = browser.follow(browser.get(rp.authorize_url(**extra)))
    if response.status_code == 200 and 'name="national_id"' in response.get_data(as_text=True):
        assert citizen is not None, "the provider asked for a sign-in"
        response = browser.login(response, citizen["national_id"], citizen["mobile"])
    if response.status_code == 200 and 'name="decision" value="allow"' in response.get_data(as_text=True):
        response = browser.consent(response, decision)
    assert at_rp(response, rp), (response.status_code, response.headers.get("Location"),
                                 response.get_data(as_text=True)[:500])
    return response


def sign_in_tokens(browser, rp, citizen, **extra) -> dict:
    """The whole code flow; returns the token response's JSON (asserting 200)."""
    params = query(authorize(browser, rp, citizen, **extra).headers["Location"])
    token = rp.redeem(params["code"])
    assert token.status_code == 200, token.get_data(as_text=True)
    return token.get_json()


# --- helpers for the refresh, introspection, client-credentials, private_key_jwt, PAR/JAR,
# --- logout and authorization-parameter suites (append only) ---

import functools as _functools
import inspect as _inspect
import threading as _threading
import time as _time
from http.server import BaseHTTPRequestHandler as _BaseHandler, ThreadingHTTPServer as _ThreadingServer

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def basic_header(client_id: str, secret: str) -> dict:
    """``Authorization: Basic`` for client_secret_basic (RFC 6749 2.3.1)."""
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def provider_keyset(http):
    """The provider's published keys (GET /jwks.json) as a joserfc KeySet."""
    from joserfc.jwk import KeySet

    response = http.get("/jwks.json")
    assert response.status_code == 200, response.status_code
    return KeySet.import_key_set(response.get_json())


def verify_provider_jwt(http, token: str, algorithms=("RS256", "ES256")):
    """Verify a JWT we received against the provider's JWKS; returns joserfc's token (header, claims)."""
    from joserfc import jwt

    return jwt.decode(token, provider_keyset(http), algorithms=list(algorithms))


def introspect(http, token: str, client_id: str | None = None, secret: str | None = None, **extra):
    """POST /introspect (RFC 7662) with client_secret_basic when a secret is given."""
    headers = basic_header(client_id, secret) if secret else {}
    return http.post("/introspect", data={"token": token, **extra}, headers=headers)


def revoke(http, token: str, client_id: str | None = None, secret: str | None = None, **extra):
    """POST /revoke (RFC 7009) with client_secret_basic when a secret is given."""
    headers = basic_header(client_id, secret) if secret else {}
    return http.post("/revoke", data={"token": token, **extra}, headers=headers)


def token_request(http, client_id: str, secret: str | None, **data):
    """POST /token with client_secret_basic (or nothing when ``secret`` is None)."""
    headers = basic_header(client_id, secret) if secret else {}
    return http.post("/token", data={k: v for k, v in data.items() if v is not None}, headers=headers)


@_functools.lru_cache(maxsize=None)
def client_rsa_key(name: str = "client", kid: str | None = None):
    """A private RSA key of a relying party (made once per name and test run: key generation is slow)."""
    from joserfc.jwk import RSAKey

    return RSAKey.generate_key(2048, private=True, parameters={"kid": kid or name, "use": "sig", "alg": "RS256"})


def public_jwks(*keys) -> dict:
    """A JWKS by value with the public halves of ``keys``."""
    return {"keys": [key.as_dict(private=False) for key in keys]}


def sign_jwt(claims: dict, key, alg: str = "RS256", header: dict | None = None) -> str:
    from joserfc import jwt

    head = {"alg": alg, "kid": key.kid}
    head.update(header or {})
    return jwt.encode(head, claims, key, algorithms=[alg])


def unsigned_jwt(claims: dict) -> str:
    """A JWT with ``alg: none`` (no signature)."""
    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."


def client_assertion(key, client_id: str, audience: str, jti: str | None = None, lifetime: int = 60,
                     **overrides) -> str:
    """A private_key_jwt client assertion (RFC 7523 section 3)."""
    now = int(_time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "jti": jti or secrets.token_urlsafe(16),
              "iat": now, "exp": now + lifetime}
    claims.update(overrides)
    return sign_jwt(claims, key)


class RecordingServer:
    """A tiny HTTP server on 127.0.0.1 (ephemeral port) in a thread, for back-channel calls.

    It records every POST (path, headers, form fields); GET serves ``json_body``. ``statuses`` are the
    answers to successive POSTs (the last one repeats); ``delay`` is slept before each answer."""

    def __init__(self, statuses=(200,), delay: float = 0.0, json_body: dict | None = None):
        self.statuses = list(statuses)
        self.delay = delay
        self.json_body = json_body
        self.posts: list[dict] = []
        self.gets: list[str] = []
        self._lock = _threading.Lock()
        self._httpd = None
        self._thread = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://127.0.0.1:{port}"

    def __enter__(self):
        outer = self

        class Handler(_BaseHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                with outer._lock:
                    outer.gets.append(self.path)
                body = json.dumps(outer.json_body or {}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                with outer._lock:
                    index = len(outer.posts)
                    outer.posts.append({"path": self.path, "headers": dict(self.headers), "raw": raw,
                                        "form": {k: v[0] for k, v in parse_qs(raw).items()},
                                        "at": _time.monotonic()})
                    status = outer.statuses[min(index, len(outer.statuses) - 1)]
                if outer.delay:
                    _time.sleep(outer.delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._httpd = _ThreadingServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = _threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                         name="recording-server", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def wait_for_posts(self, count: int, timeout: float = 5.0) -> list[dict]:
        """Poll until ``count`` POSTs arrived (or the timeout passed); returns what arrived."""
        deadline = _time.monotonic() + timeout
        while _time.monotonic() < deadline:
            with self._lock:
                if len(self.posts) >= count:
                    break
            _time.sleep(0.02)
        with self._lock:
            return list(self.posts)


def logout_courier(app):
    """The app's back-channel logout courier (held by the session-end listener), or None."""
    for listener in app.extensions["panjereh"].sessions.on_end:
        courier = _inspect.getclosurevars(listener).nonlocals.get("courier")
        if courier is not None:
            return courier
    return None


def stop_logout_courier(app, timeout: float = 5.0) -> bool:
    """Let the courier's background thread finish (it stops after a few idle rounds; waking it hurries
    them). True when no courier thread is left running."""
    courier = logout_courier(app)
    thread = getattr(courier, "_thread", None)
    deadline = _time.monotonic() + timeout
    while thread is not None and thread.is_alive() and _time.monotonic() < deadline:
        courier._wake.set()
        thread.join(0.02)
    return thread is None or not thread.is_alive()


# --- helpers for the assurance, authenticator, abuse-limit and registry-outage suites (append only) ---

_TOTP_SECRET = re.compile(r'id="totp-secret"[^>]*>\s*<code>([A-Z2-7 ]+)</code>')
_RECOVERY_LIST = re.compile(r'id="recovery-codes"[^>]*>(.*?)</ul>', re.S)
_RECOVERY_ITEM = re.compile(r"<code>([0-9-]+)</code>")


def follow_trace(browser, response, limit=15):
    """Like ``Browser.follow`` but also returns the provider paths it went through (without query)."""
    paths = []
    for _ in range(limit):
        if response.status_code not in (302, 303):
            break
        location = response.headers["Location"]
        parts = urlsplit(location)
        if parts.netloc and parts.netloc != "localhost" and not location.startswith("http://127.0.0.1:5000"):
            break
        paths.append(parts.path)
        response = browser.client.get(parts.path + ("?" + parts.query if parts.query else ""))
    return response, paths


STEP_ACTION = re.compile(r"^(?:https?://[^/]+)?/interaction/[^/]+/(identify|verify|factor|consent)$")


def step_in(html: str) -> str | None:
    """The sign-in step whose page this is (``identify``, ``verify``, ``factor``, ``consent``): the
    step its first form posts to. A step's page is shown by the answer that leads to it, whatever
    the address of that answer."""
    for form in Forms(html).forms:
        match = STEP_ACTION.match(form["action"])
        if match:
            return match.group(1)
    return None


def wait_for_step(page, step: str) -> None:
    """In a real browser (Playwright), wait until the page of the sign-in step ``step`` shows."""
    page.locator(f'form[action*="/interaction/"][action$="/{step}"]').first.wait_for()


def page_step(response) -> str | None:
    """``step_in`` for a page of the Flask test client."""
    if response.status_code != 200 or response.mimetype != "text/html":
        return None
    return step_in(response.get_data(as_text=True))


def is_page_with(response, field: str) -> bool:
    """Whether ``response`` is an HTML page (any status but a redirect) with a form that has ``field``."""
    if response.status_code in (301, 302, 303, 307, 308) or response.mimetype != "text/html":
        return False
    try:
        Forms(response.get_data(as_text=True)).with_field(field)
    except AssertionError:
        return False
    return True


def totp_secret(html: str) -> str:
    """The base32 secret shown as text on the enrolment page (``id="totp-secret"``)."""
    found = _TOTP_SECRET.search(html)
    assert found, "no secret on the page"
    return found.group(1).replace(" ", "")


def recovery_codes(html: str) -> list[str]:
    """The recovery codes shown once after enrolment (``id="recovery-codes"``), digits only."""
    found = _RECOVERY_LIST.search(html)
    assert found, "no recovery codes on the page"
    return [code.replace("-", "") for code in _RECOVERY_ITEM.findall(found.group(1))]


def enrol_authenticator(browser) -> tuple[str, list[str]]:
    """A signed-in (freshly) citizen adds an authenticator app; returns its secret and the recovery codes."""
    import pyotp

    page = browser.follow(browser.get("/account/authenticator"))
    assert page.status_code == 200 and 'id="totp-secret"' in page.get_data(as_text=True), page.request.path
    secret = totp_secret(page.get_data(as_text=True))
    done = browser.submit(page, "otp", {"otp": pyotp.TOTP(secret).now()})
    assert done.status_code == 200, done.status_code
    return secret, recovery_codes(done.get_data(as_text=True))


def next_totp(secret: str, steps: int = 1) -> str:
    """The app's code ``steps`` time-steps (30 s each) from now: an unused step after ``now()`` was used."""
    import pyotp

    return pyotp.TOTP(secret).at(_time.time() + 30 * steps)


def choose_language(browser, lang: str) -> None:
    """The language switch on every page (kept in the browser session)."""
    assert browser.get(f"/language/{lang}").status_code == 302


def backdate_sign_ins(app, seconds: int) -> None:
    """Move every sign-in session's ``auth_time`` (and its other timestamps) ``seconds`` into the past,
    as if that time had passed since the citizen signed in (idle timeout untouched: last seen now)."""
    from datetime import timedelta

    from idp.db import db
    from idp.models import LoginSession

    with app.app_context():
        for login in db.session.execute(db.select(LoginSession)).scalars():
            login.auth_time = login.auth_time - timedelta(seconds=seconds)
            login.created_at = login.created_at - timedelta(seconds=seconds)
        db.session.commit()


def unknown_valid_national_id(known) -> str:
    """A well-formed national ID (right check digit) not among ``known``."""
    from idp.text import national_id_check_digit

    for n in range(987654300, 987654999):
        body = f"{n:09d}"
        candidate = body + str(national_id_check_digit(body))
        if candidate not in set(known):
            return candidate
    raise AssertionError("no free national ID")


def wrong_code(code: str) -> str:
    """A well-formed 6-digit code that is not ``code``."""
    return f"{(int(code) + 1) % 10 ** 6:06d}"


def walk(browser, response, citizen=None, factor=None, decision="allow", limit=8):
    """Walk the provider's pages from ``response`` as a citizen would: sign in with the SMS code when the
    identify page shows, type ``factor`` (a code, or a callable giving one) when the factor page shows,
    answer ``decision`` on a consent page. Returns the final response and the pages seen, in order
    (``identify``, ``verify``, ``factor``, ``consent``)."""
    seen = []
    response, _paths = follow_trace(browser, response)
    for _ in range(limit):
        if response.status_code != 200:
            break
        html = response.get_data(as_text=True)
        if is_page_with(response, "national_id"):
            assert citizen is not None, "the provider asked for a sign-in"
            seen.append("identify")
            response = browser.follow(browser.submit(response, "national_id", {
                "national_id": citizen["national_id"], "mobile": citizen["mobile"]}))
            assert is_page_with(response, "otp"), response.status_code
            seen.append("verify")
            code = last_code(browser.outbox, citizen["mobile"])
            response, _paths = follow_trace(browser, browser.submit(response, "otp", {"otp": code}))
        elif is_page_with(response, "recovery_code"):
            assert factor is not None, "the provider asked for the authenticator app"
            seen.append("factor")
            code = factor() if callable(factor) else factor
            typed = {"otp": code, "recovery_code": ""} if len(code) == 6 else {"otp": "", "recovery_code": code}
            response, _paths = follow_trace(browser, browser.submit(response, "otp", typed))
            if is_page_with(response, "recovery_code"):  # refused: stay on the factor page
                break
        elif 'name="decision" value="allow"' in html:
            seen.append("consent")
            response, _paths = follow_trace(browser, browser.submit(response, "decision",
                                                                    button=("decision", decision)))
        else:
            break
    return response, seen


# --- per-run templates and caches that keep the suites fast (append only) ---

def build_template_sqlite(directory: Path) -> Path:
    """An SQLite database with every migration applied and nothing else, to copy per test."""
    from flask_migrate import upgrade

    from idp.app import create_app
    from idp.config import Settings
    from idp.db import db

    path = directory / "template.sqlite"
    settings = Settings.from_env(environ={}, database_url=f"sqlite:///{path}", keys_dir=str(directory / "keys"),
                                 sms_outbox=str(directory / "outbox.jsonl"), secret_key="template",
                                 rate_limits=False, testing=True)
    app = create_app(settings)
    with app.app_context():
        upgrade()
        db.session.remove()
        db.engine.dispose()
    return path


def lay_templates(settings, keys_template: Path | None = None, db_template: Path | None = None) -> None:
    """Copy the templates to where ``settings`` points, before an app is built on them."""
    import shutil

    if keys_template is not None and not Path(settings.keys_dir).exists():
        shutil.copytree(keys_template, settings.keys_dir)  # copy2 keeps the private keys' mode 0600
    prefix = "sqlite:///"
    if db_template is not None and settings.database_url.startswith(prefix):
        target = Path(settings.database_url[len(prefix):])
        if not target.exists():
            shutil.copyfile(db_template, target)


class SharedTemplateBytecode:
    """A Jinja bytecode cache shared by every app of the run: each template compiles once.

    Jinja checks the source checksum on every load, so a changed template recompiles."""

    def __new__(cls):
        import jinja2

        class _Cache(jinja2.BytecodeCache):
            def __init__(self):
                self.buckets: dict[str, bytes] = {}

            def load_bytecode(self, bucket):
                data = self.buckets.get(bucket.key)
                if data is not None:
                    bucket.bytecode_from_string(data)

            def dump_bytecode(self, bucket):
                self.buckets[bucket.key] = bucket.bytecode_to_string()

        return _Cache()


def memoize_key_loading():
    """Parse each private key file once per run: ``idp.signing`` imports keys through subclasses
    whose ``import_key`` is cached by the PEM bytes and parameters (parsing RSA keys is the slow
    part; everything else, the reading of every file included, runs as usual). Returns a function
    that restores the originals."""
    import idp.signing as signing

    originals = (signing.RSAKey, signing.ECKey)
    cache: dict = {}

    def cached(kind):
        class Cached(kind):
            @classmethod
            def import_key(cls, value, parameters=None, password=None):
                token = (kind.__name__, bytes(value), json.dumps(parameters, sort_keys=True), password)
                if token not in cache:
                    cache[token] = kind.import_key(value, parameters=parameters, password=password)
                return cache[token]

        Cached.__name__ = kind.__name__
        return Cached

    signing.RSAKey, signing.ECKey = cached(originals[0]), cached(originals[1])

    def restore():
        signing.RSAKey, signing.ECKey = originals

    return restore


def shared_provider(directory: Path, keys_template: Path | None = None, db_template: Path | None = None):
    """A provider built the way tests/conftest.py builds ``settings`` and ``app``, once for a whole
    module of tests that share it safely (each test registers its own clients and uses its own
    browsers). SQLite in ``directory``; Redis when PANJEREH_TEST_REDIS is set. Returns
    ``(settings, app)``; pass the app to ``dispose_provider`` afterwards."""
    import os

    from flask_migrate import upgrade

    from idp.app import create_app
    from idp.config import Settings
    from idp.registry_data import generate_citizens
    from idp.registry_import import import_rows

    settings = Settings.from_env(
        environ={}, issuer="http://127.0.0.1:5000", redis_url=os.environ.get("PANJEREH_TEST_REDIS", ""),
        database_url=f"sqlite:///{directory / 'idp.sqlite'}", keys_dir=str(directory / "keys"),
        sms_outbox=str(directory / "outbox.jsonl"), secret_key="test-secret-key-for-hmacs-only",
        rate_limits=False, client_cache_seconds=0, testing=True)
    lay_templates(settings, keys_template, db_template)
    app = create_app(settings)
    with app.app_context():
        upgrade()
        app.extensions["panjereh"].keys.ensure()
        import_rows(generate_citizens(20))
    return settings, app


def dispose_provider(app) -> None:
    from idp.db import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()
