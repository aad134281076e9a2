"""The http registry and ownership adapters against a misbehaving local server: retries,
timeouts, refusals, malformed answers, the circuit breaker and the recent-answers fallback."""

from __future__ import annotations

import time

import pytest

from idp.adapters.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from idp.adapters.registry import (
    HttpOwnership,
    HttpRegistry,
    Lookup,
    OwnershipUnavailable,
    RecentAnswers,
    RegistryOwnership,
    RegistryUnavailable,
    Verdict,
    create_ownership,
    create_registry,
)
from idp.auth.citizens import Identification, identify
from idp.config import ConfigError, Settings
from idp.registry_data import generate_citizens
from tests.contract.registry_stub import RegistryStub

CITIZENS = list(generate_citizens(3))
ALI = CITIZENS[0]
TIMEOUT = 0.2


class Clock:
    """A hand-moved clock for the breaker and the cache."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def stub():
    with RegistryStub(CITIZENS) as server:
        yield server


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def adapters(stub, clock):
    """Makes http adapters on the stub with test-sized timeouts and back-off; closes them after."""
    made = []

    def make(kind=HttpRegistry, retries=2, threshold=5, cache_ttl=60.0, **kw):
        adapter = kind(stub.url, kw.pop("token", ""), TIMEOUT, retries,
                       CircuitBreaker(threshold, cooldown=30.0, clock=clock), cache_ttl, backoff=0.01, **kw)
        adapter.recent.clock = clock
        made.append(adapter)
        return adapter

    yield make
    for adapter in made:
        adapter.close()


# --- failures: retried, then the port's Unavailable error ---

def test_a_server_error_is_retried_then_unavailable(stub, adapters):
    registry = adapters(retries=2)
    stub.status = 500
    with pytest.raises(RegistryUnavailable, match="http-500 after 3 attempts"):
        registry.lookup(ALI["national_id"])
    assert len(stub.requests) == 3


def test_a_server_error_that_clears_is_answered_live(stub, adapters):
    registry = adapters(retries=2)
    stub.status = 503
    original = stub.answer

    def recover(*args):
        if len(stub.requests) == 1:
            stub.healthy()
        return original(*args)

    stub.answer = recover
    assert registry.lookup(ALI["national_id"]).live is True
    assert len(stub.requests) == 2


def test_the_ownership_service_fails_the_same_way(stub, adapters):
    ownership = adapters(HttpOwnership, retries=1)
    stub.status = 502
    with pytest.raises(OwnershipUnavailable):
        ownership.verify(ALI["national_id"], ALI["mobile"])
    assert len(stub.requests) == 2
    assert issubclass(OwnershipUnavailable, RegistryUnavailable)  # the app's 503 page covers both


def test_a_hanging_server_is_unavailable_within_timeout_times_attempts(stub, adapters):
    registry = adapters(retries=1)
    stub.hang = 5.0
    started = time.monotonic()
    with pytest.raises(RegistryUnavailable, match="Timeout"):
        registry.lookup(ALI["national_id"])
    elapsed = time.monotonic() - started
    assert len(stub.requests) == 2
    assert TIMEOUT * 2 <= elapsed < TIMEOUT * 2 + 1.0  # two timeouts and a short back-off


def test_no_server_at_all_is_unavailable(adapters, stub):
    registry = adapters(retries=1)
    registry.base_url = "http://127.0.0.1:9"  # discard port: nothing listens
    with pytest.raises(RegistryUnavailable, match="ConnectionError"):
        registry.lookup(ALI["national_id"])


@pytest.mark.parametrize("status", [400, 401, 403, 405, 410, 429])
def test_a_refusal_is_unavailable_at_once_never_no_such_person(stub, adapters, status):
    registry = adapters(retries=2)
    stub.status = status
    with pytest.raises(RegistryUnavailable, match=f"refused \\(http-{status}\\)"):
        registry.lookup(ALI["national_id"])
    assert len(stub.requests) == 1  # misconfiguration: retrying will not help


def test_a_missing_ownership_endpoint_is_a_refusal_not_a_no(stub, adapters):
    ownership = adapters(HttpOwnership)
    stub.status = 404
    with pytest.raises(OwnershipUnavailable, match="http-404"):
        ownership.verify(ALI["national_id"], ALI["mobile"])
    assert len(stub.requests) == 1


def test_a_wrong_token_is_unavailable(adapters, stub):
    stub.token = "right"
    registry = adapters(token="wrong")
    with pytest.raises(RegistryUnavailable, match="http-401"):
        registry.lookup(ALI["national_id"])
    assert stub.requests[0][2] == "Bearer wrong"


def test_no_token_sends_no_authorization(adapters, stub):
    adapters().lookup(ALI["national_id"])
    assert stub.requests[0][2] is None


@pytest.mark.parametrize("body", [
    b"<html>gateway</html>",  # not JSON
    b'{"national_id": ',  # truncated
    b"[]",  # not an object
    b'{"first_name": "x"}',  # fields missing
])
def test_a_malformed_record_is_retried_then_unavailable(stub, adapters, body):
    registry = adapters(retries=1)
    stub.body = body
    with pytest.raises(RegistryUnavailable, match="malformed"):
        registry.lookup(ALI["national_id"])
    assert len(stub.requests) == 2


@pytest.mark.parametrize("change", [{"birth_date": "1990/01/02"}, {"birth_date": "19900102"},
                                    {"mobile": "12345"}, {"national_id": CITIZENS[1]["national_id"]},
                                    {"first_name": 7}])
def test_a_record_with_bad_fields_or_for_someone_else_is_malformed(stub, adapters, change):
    import json

    registry = adapters(retries=0)
    stub.body = json.dumps({**ALI, **change}).encode()
    with pytest.raises(RegistryUnavailable, match="malformed record"):
        registry.lookup(ALI["national_id"])


@pytest.mark.parametrize("body", [b"{}", b'{"owner": "yes"}', b'{"owner": 1}', b"true", b"nope"])
def test_a_malformed_ownership_answer_is_unavailable(stub, adapters, body):
    ownership = adapters(HttpOwnership, retries=0)
    stub.body = body
    with pytest.raises(OwnershipUnavailable, match="malformed"):
        ownership.verify(ALI["national_id"], ALI["mobile"])


def test_the_mobile_is_normalised_and_optional_fields_may_be_absent(stub, adapters):
    import json

    registry = adapters()
    stub.body = json.dumps({"national_id": ALI["national_id"], "first_name": "علی", "last_name": "رضایی",
                            "birth_date": "1990-01-02", "mobile": "+98" + ALI["mobile"][1:],
                            "email": None}).encode()
    person = registry.find(ALI["national_id"])
    assert person.mobile == ALI["mobile"]
    assert (person.father_name, person.gender, person.email) == (None, None, None)


# --- the circuit breaker ---

def test_the_breaker_opens_after_n_failures_and_fails_fast(stub, adapters, clock):
    registry = adapters(retries=0, threshold=3, cache_ttl=0)
    stub.status = 500
    for _ in range(3):
        with pytest.raises(RegistryUnavailable, match="http-500"):
            registry.lookup(ALI["national_id"])
    assert registry.breaker.state == OPEN
    stub.healthy()
    started = time.monotonic()
    with pytest.raises(RegistryUnavailable, match="circuit open"):
        registry.lookup(ALI["national_id"])
    assert time.monotonic() - started < TIMEOUT
    assert len(stub.requests) == 3  # the open breaker did not call the server

    clock.now += 29.9
    with pytest.raises(RegistryUnavailable, match="circuit open"):
        registry.lookup(ALI["national_id"])
    assert len(stub.requests) == 3

    clock.now += 0.2  # the cool-down is over: one trial call goes through, succeeds, closes it
    assert registry.breaker.state == HALF_OPEN
    assert registry.lookup(ALI["national_id"]).live is True
    assert len(stub.requests) == 4
    assert registry.breaker.state == CLOSED


def test_a_failed_trial_reopens_the_breaker_for_another_cool_down(stub, adapters, clock):
    registry = adapters(retries=2, threshold=2, cache_ttl=0)
    stub.status = 500
    with pytest.raises(RegistryUnavailable, match="circuit open after http-500"):
        registry.lookup(ALI["national_id"])  # opened mid-retries: the third attempt is not made
    assert len(stub.requests) == 2
    clock.now += 30
    with pytest.raises(RegistryUnavailable):
        registry.lookup(ALI["national_id"])
    assert len(stub.requests) == 3  # one trial, then open again (no retries while open)
    assert registry.breaker.state == OPEN


def test_each_adapter_has_its_own_breaker(stub, adapters):
    registry, ownership = adapters(retries=0, threshold=1, cache_ttl=0), adapters(HttpOwnership, retries=0)
    stub.status = 500
    with pytest.raises(RegistryUnavailable):
        registry.lookup(ALI["national_id"])
    stub.healthy()
    assert registry.breaker.state == OPEN
    assert ownership.verify(ALI["national_id"], ALI["mobile"]) == Verdict(True, True)


def test_half_open_lets_exactly_one_trial_through(clock):
    breaker = CircuitBreaker(threshold=1, cooldown=5, clock=clock)
    breaker.record_failure()
    assert not breaker.allow()
    clock.now += 5
    assert breaker.allow()
    assert not breaker.allow()  # a second caller waits for the trial's outcome
    breaker.record_success()
    assert breaker.state == CLOSED and breaker.allow() and breaker.allow()


def test_successes_reset_the_count_of_consecutive_failures(clock):
    breaker = CircuitBreaker(threshold=3, clock=clock)
    for _ in range(5):
        breaker.record_failure()
        breaker.record_failure()
        breaker.record_success()
    assert breaker.state == CLOSED


def test_the_factory_built_breaker_half_opens_after_the_cool_down(stub, monkeypatch):
    settings = Settings.from_env(environ={}, registry_backend="http", registry_url=stub.url,
                                 adapter_timeout=TIMEOUT, adapter_retries=0, adapter_breaker_threshold=2,
                                 adapter_breaker_cooldown=30, registry_cache_ttl=0)
    registry = create_registry(settings)
    now = [5000.0]
    monkeypatch.setattr(registry.breaker, "clock", lambda: now[0])
    try:
        stub.status = 500
        for _ in range(3):
            with pytest.raises(RegistryUnavailable):
                registry.lookup(ALI["national_id"])
        assert len(stub.requests) == 2
        stub.healthy()
        now[0] += 30
        assert registry.lookup(ALI["national_id"]).live is True
        assert len(stub.requests) == 3
    finally:
        registry.close()


def test_the_breaker_is_thread_safe_under_concurrent_failures(clock):
    import threading

    breaker = CircuitBreaker(threshold=1000, clock=clock)
    threads = [threading.Thread(target=lambda: [breaker.record_failure() for _ in range(100)]) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert breaker.state == OPEN  # exactly 1000 failures counted


# --- the recent-answers fallback ---

def test_a_recent_answer_stands_in_when_the_registry_fails_marked_not_live(stub, adapters):
    registry = adapters(retries=1)
    person = registry.find(ALI["national_id"])
    missing = registry.lookup("0000000001")
    assert missing == Lookup(None, True)
    stub.status = 500
    assert registry.lookup(ALI["national_id"]) == Lookup(person, live=False)
    assert registry.lookup("0000000001") == Lookup(None, live=False)
    assert registry.find(ALI["national_id"]) == person
    with pytest.raises(RegistryUnavailable):  # never seen: nothing to fall back on
        registry.lookup(CITIZENS[1]["national_id"])


def test_a_recent_answer_stands_in_while_the_breaker_is_open(stub, adapters):
    registry = adapters(retries=0, threshold=1)
    registry.lookup(ALI["national_id"])
    stub.status = 500
    assert registry.lookup(ALI["national_id"]).live is False  # this failure opens the breaker
    requests_so_far = len(stub.requests)
    assert registry.lookup(ALI["national_id"]).live is False
    assert len(stub.requests) == requests_so_far


def test_the_cache_is_never_read_while_the_service_answers(stub, adapters):
    registry = adapters()
    registry.lookup(ALI["national_id"])
    stub.people[ALI["national_id"]]["first_name"] = "تازه"
    assert registry.lookup(ALI["national_id"]) == Lookup(registry.find(ALI["national_id"]), True)
    assert registry.find(ALI["national_id"]).first_name == "تازه"


def test_recent_answers_expire(stub, adapters, clock):
    registry = adapters(retries=0, cache_ttl=60)
    registry.lookup(ALI["national_id"])
    stub.status = 500
    clock.now += 59
    assert registry.lookup(ALI["national_id"]).live is False
    clock.now += 1
    with pytest.raises(RegistryUnavailable):
        registry.lookup(ALI["national_id"])


def test_a_zero_ttl_keeps_no_answers(stub, adapters):
    registry = adapters(retries=0, cache_ttl=0)
    registry.lookup(ALI["national_id"])
    stub.status = 500
    with pytest.raises(RegistryUnavailable):
        registry.lookup(ALI["national_id"])


def test_a_refusal_also_falls_back_to_a_recent_answer(stub, adapters):
    registry = adapters()
    registry.lookup(ALI["national_id"])
    stub.status = 403
    assert registry.lookup(ALI["national_id"]).live is False


def test_recent_ownership_answers_are_per_national_id_and_mobile(stub, adapters):
    ownership = adapters(HttpOwnership, retries=0)
    assert ownership.verify(ALI["national_id"], ALI["mobile"]) == Verdict(True, True)
    assert ownership.verify(ALI["national_id"], CITIZENS[1]["mobile"]) == Verdict(False, True)
    stub.status = 500
    assert ownership.verify(ALI["national_id"], ALI["mobile"]) == Verdict(True, False)
    assert ownership.verify(ALI["national_id"], CITIZENS[1]["mobile"]) == Verdict(False, False)
    assert ownership.owns(ALI["national_id"], ALI["mobile"]) is True
    with pytest.raises(OwnershipUnavailable):
        ownership.verify(ALI["national_id"], CITIZENS[2]["mobile"])


def test_recent_answers_are_bounded_least_recently_used_first(clock):
    recent = RecentAnswers(ttl=60, size=2, clock=clock)
    recent.put("a", 1)
    recent.put("b", 2)
    assert recent.get("a") == 1  # "a" is now the most recently used
    recent.put("c", 3)
    assert len(recent) == 2
    assert recent.get("b", "gone") == "gone" and recent.get("a") == 1 and recent.get("c") == 3


def test_the_default_back_off_is_exponential_from_a_tenth_of_a_second_and_capped():
    registry = HttpRegistry("http://127.0.0.1:9")
    try:
        delays = [registry._delay(attempt) for attempt in range(1, 8)]
    finally:
        registry.close()
    assert 0.05 <= delays[0] <= 0.1 and 0.1 <= delays[1] <= 0.2 and 0.2 <= delays[2] <= 0.4
    assert max(delays) <= registry.backoff_cap


# --- identify: live only when both answers were ---

def test_identify_is_live_only_when_both_answers_are(stub, adapters):
    registry, ownership = adapters(retries=0), adapters(HttpOwnership, retries=0)
    assert identify(registry, ownership, ALI["national_id"], ALI["mobile"]) == Identification(True, True)
    original = stub.answer

    def ownership_down(method, path, *rest):
        if path == "/ownership":
            stub.requests.append((method, path, None))
            return 500, b""
        return original(method, path, *rest)

    stub.answer = ownership_down
    assert identify(registry, ownership, ALI["national_id"], ALI["mobile"]) == Identification(True, False)
    stub.answer = original
    stub.status = 500
    assert identify(registry, ownership, ALI["national_id"], ALI["mobile"]) == Identification(True, False)


def test_identify_fails_closed_with_no_answer_at_all(stub, adapters):
    registry = adapters(retries=0)
    stub.status = 500
    with pytest.raises(RegistryUnavailable):
        identify(registry, RegistryOwnership(registry), ALI["national_id"], ALI["mobile"])


def test_ownership_through_the_registry_is_as_live_as_the_registry(stub, adapters):
    registry = adapters(retries=0)
    ownership = RegistryOwnership(registry)
    assert ownership.verify(ALI["national_id"], ALI["mobile"]) == Verdict(True, True)
    stub.status = 500
    assert ownership.verify(ALI["national_id"], ALI["mobile"]) == Verdict(True, False)


# --- the login fails closed ---

def test_a_login_fails_closed_when_the_registry_cannot_answer(settings, stub):
    """The citizen sees the 503 page; no code is sent and no account is written."""
    import dataclasses
    from pathlib import Path

    from flask_migrate import upgrade

    from idp.app import create_app
    from idp.db import db
    from idp.models import Account
    from tests.conftest import make_client
    from tests.support import Browser, RelyingParty

    app = create_app(dataclasses.replace(settings, registry_backend="http", registry_url=stub.url,
                                         adapter_timeout=TIMEOUT, adapter_retries=0).resolved())
    with app.app_context():
        upgrade()
        app.extensions["panjereh"].keys.ensure()
    try:
        client_id, secret = make_client(app)
        rp = RelyingParty(app.test_client(), client_id, secret, "https://tax.example/cb")
        browser = Browser(app.test_client(), Path(settings.sms_outbox))
        page = browser.follow(browser.get(rp.authorize_url()))
        stub.status = 500
        typed = {"national_id": ALI["national_id"], "mobile": ALI["mobile"]}
        response = browser.submit(page, "national_id", typed)
        assert response.status_code == 503
        assert len(stub.requests) == 1
        assert not Path(settings.sms_outbox).exists()
        with app.app_context():
            assert db.session.query(Account).count() == 0
    finally:
        with app.app_context():
            app.extensions["panjereh"].registry.close()
            db.session.remove()
            db.engine.dispose()


# --- configuration ---

def test_http_backends_need_their_url():
    with pytest.raises(ConfigError, match="IDP_REGISTRY_URL"):
        Settings.from_env(environ={"IDP_REGISTRY_BACKEND": "http"})
    with pytest.raises(ConfigError, match="IDP_OWNERSHIP_URL"):
        Settings.from_env(environ={"IDP_OWNERSHIP_BACKEND": "http"})


@pytest.mark.parametrize("environ, message", [
    ({"IDP_REGISTRY_BACKEND": "ldap"}, "IDP_REGISTRY_BACKEND"),
    ({"IDP_OWNERSHIP_BACKEND": "database"}, "IDP_OWNERSHIP_BACKEND"),
    ({"IDP_REGISTRY_BACKEND": "http", "IDP_REGISTRY_URL": "registry.local"}, "IDP_REGISTRY_URL"),
    ({"IDP_OWNERSHIP_URL": "ftp://x"}, "IDP_OWNERSHIP_URL"),
    ({"IDP_ADAPTER_TIMEOUT": "0"}, "IDP_ADAPTER_TIMEOUT"),
    ({"IDP_ADAPTER_TIMEOUT": "soon"}, "IDP_ADAPTER_TIMEOUT"),
    ({"IDP_ADAPTER_RETRIES": "-1"}, "IDP_ADAPTER_RETRIES"),
    ({"IDP_ADAPTER_BREAKER_THRESHOLD": "0"}, "IDP_ADAPTER_BREAKER_THRESHOLD"),
    ({"IDP_ADAPTER_BREAKER_COOLDOWN": "0"}, "IDP_ADAPTER_BREAKER_COOLDOWN"),
    ({"IDP_REGISTRY_CACHE_TTL": "-1"}, "IDP_REGISTRY_CACHE_TTL"),
])
def test_bad_adapter_settings_are_refused(environ, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(environ=environ)


def test_the_adapter_settings_come_from_the_environment(stub):
    settings = Settings.from_env(environ={
        "IDP_REGISTRY_BACKEND": "http", "IDP_REGISTRY_URL": stub.url + "/", "IDP_REGISTRY_TOKEN": "t1",
        "IDP_OWNERSHIP_BACKEND": "http", "IDP_OWNERSHIP_URL": stub.url, "IDP_OWNERSHIP_TOKEN": "t2",
        "IDP_ADAPTER_TIMEOUT": "1.5", "IDP_ADAPTER_RETRIES": "4", "IDP_ADAPTER_BREAKER_THRESHOLD": "7",
        "IDP_ADAPTER_BREAKER_COOLDOWN": "12", "IDP_REGISTRY_CACHE_TTL": "0"})
    registry = create_registry(settings)
    ownership = create_ownership(settings, registry)
    try:
        assert (registry.base_url, registry.timeout, registry.retries) == (stub.url, 1.5, 4)
        assert (registry.breaker.threshold, registry.breaker.cooldown, registry.recent.ttl) == (7, 12.0, 0.0)
        assert registry.session.headers["Authorization"] == "Bearer t1"
        assert ownership.session.headers["Authorization"] == "Bearer t2"
    finally:
        registry.close()
        ownership.close()


def test_the_defaults():
    settings = Settings.from_env(environ={})
    assert (settings.registry_backend, settings.ownership_backend) == ("database", "registry")
    assert (settings.adapter_timeout, settings.adapter_retries, settings.adapter_breaker_threshold,
            settings.adapter_breaker_cooldown, settings.registry_cache_ttl) == (3.0, 2, 5, 30.0, 60.0)
