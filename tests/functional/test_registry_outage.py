"""The civil registry and the mobile-ownership service down, as a citizen sees it.

With the http backends (``registry_backend="http"``, ``ownership_backend="http"``) a login whose
identification cannot be checked fails closed: a clear, translated 503 page, no SMS, no sign-in session,
no account, the interaction still at the identify step. When the services recover the same login works.
A recent answer kept from before the outage allows only loa1.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import text

from idp.app import create_app
from idp.config import Settings
from idp.registry_data import generate_citizens
from tests.conftest import make_client
from tests.support import (Browser, Forms, RelyingParty, at_rp, enrol_authenticator, is_page_with, jwt_unverified,
                           last_code, page_step, query, sign_in_tokens, sms_messages, unknown_valid_national_id, walk)

LOA1, LOA2 = "urn:panjereh:loa:1", "urn:panjereh:loa:2"
HTTP_ADAPTERS = {"registry_backend", "registry_url", "ownership_backend", "ownership_url", "adapter_timeout",
                 "adapter_retries"} <= {f.name for f in dataclasses.fields(Settings)}
pytestmark = pytest.mark.xfail(not HTTP_ADAPTERS, reason="http registry adapter missing", strict=True)

TIMEOUT = 0.2  # seconds per attempt; the slow stub sleeps well beyond it
PERSIAN_503 = "در حال حاضر امکان احراز هویت وجود ندارد"


class RegistryStub:
    """The civil registry (``GET /citizens/<id>``) and the ownership service (``POST /ownership``) on
    127.0.0.1 (ephemeral port) in a thread. ``mode[service]`` is ``ok``, ``error`` (HTTP 500) or
    ``slow`` (answers after the client's timeout)."""

    def __init__(self, citizens):
        self.people = {c["national_id"]: c for c in citizens}
        self.mode = {"registry": "ok", "ownership": "ok"}
        self.calls = {"registry": 0, "ownership": 0}
        self._httpd = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def set(self, mode, service=None):
        for name in ([service] if service else list(self.mode)):
            self.mode[name] = mode

    def __enter__(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self, service, status, payload=None):
                stub.calls[service] += 1
                mode = stub.mode[service]
                if mode == "slow":
                    time.sleep(TIMEOUT * 3)
                if mode == "error":
                    status, payload = 500, {"error": "internal"}
                body = json.dumps(payload or {}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up waiting
                    pass

            def do_GET(self):
                national_id = self.path.rsplit("/", 1)[-1]
                person = stub.people.get(national_id)
                if person is None:
                    self.answer("registry", 404, {"error": "not_found"})
                else:
                    self.answer("registry", 200, {k: person[k] for k in (
                        "national_id", "first_name", "last_name", "birth_date", "mobile")})

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                asked = json.loads(raw or b"{}")
                person = stub.people.get(asked.get("national_id"))
                self.answer("ownership", 200, {"owner": bool(person and person["mobile"] == asked.get("mobile"))})

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def stub(citizens):
    with RegistryStub(citizens) as running:
        yield running


@pytest.fixture
def provider(settings, stub):
    """A provider that asks the stub, not its own table, who citizens are."""
    from flask_migrate import upgrade

    from idp.db import db

    app = create_app(dataclasses.replace(
        settings, registry_backend="http", registry_url=stub.url, ownership_backend="http", ownership_url=stub.url,
        adapter_timeout=TIMEOUT, adapter_retries=1, adapter_breaker_cooldown=0.2, registry_cache_ttl=60.0))
    with app.app_context():
        upgrade()
        app.extensions["panjereh"].keys.ensure()  # the registry table stays empty: only the stub knows anyone
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def outbox(settings):
    return Path(settings.sms_outbox)


def count(app, table):
    from idp.db import db

    with app.app_context():
        return db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def rp_for(app):
    client_id, secret = make_client(app)
    return RelyingParty(app.test_client(), client_id, secret, "https://tax.example/cb")


@pytest.mark.parametrize("service,mode", [("registry", "error"), ("registry", "slow"), ("ownership", "error"),
                                          ("ownership", "slow")])
def test_an_outage_fails_closed_with_a_503_page_then_the_same_login_works(provider, stub, outbox, citizen,
                                                                         service, mode):
    rp, browser = rp_for(provider), Browser(provider.test_client(), outbox)
    stub.set(mode, service)
    page = browser.follow(browser.get(rp.authorize_url()))
    assert is_page_with(page, "national_id")
    identify_path = Forms(page.get_data(as_text=True)).with_field("national_id")["action"]  # the step's URL
    pair = {"national_id": citizen["national_id"], "mobile": citizen["mobile"]}

    started = time.monotonic()
    response = browser.submit(page, "national_id", pair)
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    html = response.get_data(as_text=True)
    assert PERSIAN_503 in html and 'lang="fa"' in html  # Persian by default
    assert stub.calls[service] >= 2  # it was asked, and asked again (one retry)
    browser.get("/language/en")
    response = browser.submit(browser.get(identify_path), "national_id", pair)
    assert response.status_code == 503
    assert "cannot verify identities right now" in response.get_data(as_text=True)

    assert sms_messages(outbox) == []
    assert count(provider, "login_sessions") == 0
    assert count(provider, "accounts") == 0
    # the interaction did not move on: still at the identify step, the verify step is not open
    assert is_page_with(browser.get(identify_path), "national_id")
    not_open = browser.get(identify_path.replace("/identify", "/verify"))
    assert not_open.status_code == 303 and not_open.headers["Location"] == identify_path

    stub.set("ok")
    time.sleep(0.25)  # past the circuit breaker's cool-down, should it have opened
    response = browser.submit(browser.get(identify_path), "national_id", pair)
    assert page_step(response) == "verify"
    assert len(sms_messages(outbox)) == 1
    code = last_code(outbox, citizen["mobile"])
    response, seen = walk(browser, browser.submit(browser.follow(response), "otp", {"otp": code}))
    assert seen == ["consent"]
    assert at_rp(response, rp)
    token = rp.redeem(query(response.headers["Location"])["code"])
    assert token.status_code == 200
    assert jwt_unverified(token.get_json()["id_token"])[1]["acr"] == LOA2  # verified live
    assert count(provider, "accounts") == 1 and count(provider, "login_sessions") == 1


def test_a_recent_answer_during_an_outage_allows_only_loa1(provider, stub, outbox, citizen):
    rp = rp_for(provider)
    first = sign_in_tokens(Browser(provider.test_client(), outbox), rp, citizen)
    assert jwt_unverified(first["id_token"])[1]["acr"] == LOA2

    stub.set("error")
    other_device = Browser(provider.test_client(), outbox)
    body = sign_in_tokens(other_device, rp, citizen)
    claims = jwt_unverified(body["id_token"])[1]
    assert claims["acr"] == LOA1 and claims["amr"] == ["sms"]
    # a service that needs loa2 is told it cannot be met, not given the loa1 session
    strict = json.dumps({"id_token": {"acr": {"essential": True, "values": [LOA2]}}})
    response = other_device.get(rp.authorize_url(claims=strict))
    response, _seen = walk(other_device, response, citizen)
    assert at_rp(response, rp)
    assert query(response.headers["Location"])["error"] == "unmet_authentication_requirements"


def test_an_unknown_national_id_during_an_outage_is_a_503_too(provider, stub, outbox, citizens):
    """No answer is no answer: an outage is never read as "no such person"."""
    rp, browser = rp_for(provider), Browser(provider.test_client(), outbox)
    stub.set("error", "registry")
    page = browser.follow(browser.get(rp.authorize_url()))
    known = {c["national_id"] for c in citizens}
    response = browser.submit(page, "national_id", {"national_id": unknown_valid_national_id(known),
                                                    "mobile": citizens[0]["mobile"]})
    assert response.status_code == 503
    assert sms_messages(outbox) == []


def test_the_stub_serves_the_generated_registry(stub):
    """Sanity of the stub itself: the same synthetic citizens the provider's tests use."""
    import requests

    person = next(iter(generate_citizens(1)))
    answer = requests.get(f"{stub.url}/citizens/{person['national_id']}", timeout=2)
    assert answer.status_code == 200 and answer.json()["mobile"] == person["mobile"]
    assert requests.get(f"{stub.url}/citizens/0000000000", timeout=2).status_code == 404


def test_a_loa1_session_never_becomes_loa3(provider, stub, outbox, citizen):
    rp = rp_for(provider)
    first = Browser(provider.test_client(), outbox)
    sign_in_tokens(first, rp, citizen)  # live: loa2, and the registry's answer is now recent
    _secret, codes = enrol_authenticator(first)

    stub.set("error")  # the registry goes down
    device = Browser(provider.test_client(), outbox)
    body = sign_in_tokens(device, rp, citizen)
    assert jwt_unverified(body["id_token"])[1]["acr"] == LOA1
    # on the account page the citizen presses "remove the authenticator app" and gives a recovery code
    fields = Forms(device.get("/account/").get_data(as_text=True)).with_field("csrf_token")["fields"]
    response = device.client.post("/account/authenticator/remove", data={**fields, "decision": "remove"})
    walk(device, response, citizen, factor=codes[0])
    # a service that needs loa3 must not get it: loa3 is loa2 (live) plus the app
    loa3 = json.dumps({"id_token": {"acr": {"essential": True, "values": ["urn:panjereh:loa:3"]}}})
    response = device.get(rp.authorize_url(claims=loa3, prompt="none"))
    assert at_rp(response, rp)
    params = query(response.headers["Location"])
    if "code" in params:
        claims = jwt_unverified(rp.redeem(params["code"]).get_json()["id_token"])[1]
        pytest.fail(f"a code for acr={claims['acr']} amr={claims['amr']}")
