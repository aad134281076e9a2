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
