"""Abuse limits on sending SMS codes, as a citizen (or an attacker) sees them over HTTP.

Per national ID, per mobile number, per mobile and day, per IP range, per IP on the login routes; a
national ID is locked out after a few challenges died of wrong codes (the same for IDs the registry does
not know: no page tells who exists); resends back off, doubling. ``rate_limits=False`` turns all of that
off, never the five wrong codes per challenge. The counters live in the shared store, so they hold
across hosts (two app instances on one Redis).
"""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

import pytest

from idp.app import create_app
from idp.registry_data import generate_citizens
from idp.registry_import import import_rows
from tests.conftest import make_client
from tests.support import (Browser, Forms, RelyingParty, is_page_with, last_code, page_text, sms_messages,
                           unknown_valid_national_id, wrong_code)

GENEROUS = dict(limit_login_ip="1000 per 10 minutes", limit_verify_ip="1000 per 10 minutes",
                limit_ip_range="1000 per hour", limit_national_id="1000 per 15 minutes",
                limit_mobile="1000 per 15 minutes", limit_mobile_daily="1000 per day",
                lockout_after=100)
SHARED_REDIS = "redis://127.0.0.1:6379/14"


@pytest.fixture
def build(settings):
    """``build(**settings overrides)``: a provider with abuse limits on and small limits, on this test's
    database (the embedded key-value store unless ``redis_url`` is given)."""
    from flask_migrate import upgrade

    made = []

    def factory(**overrides):
        values = dict(rate_limits=True, redis_url="", **GENEROUS)
        values.update(overrides)
        app = create_app(dataclasses.replace(settings, **values))
        with app.app_context():
            upgrade()
            app.extensions["panjereh"].keys.ensure()
            import_rows(generate_citizens(20))  # re-import updates, never duplicates
        made.append(app)
        return app

    yield factory
    from idp.db import db

    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def outbox(settings) -> Path:
    return Path(settings.sms_outbox)


def party(app, client_id=None, secret=None) -> RelyingParty:
    if client_id is None:
        client_id, secret = make_client(app)
    return RelyingParty(app.test_client(), client_id, secret, "https://tax.example/cb")


def identify(browser, rp, national_id, mobile, **extra):
    """A new sign-in at ``rp``: type the pair on the identify page; returns the provider's answer."""
    page = browser.follow(browser.get(rp.authorize_url(**extra)))
    assert is_page_with(page, "national_id"), page.status_code
    return browser.submit(page, "national_id", {"national_id": national_id, "mobile": mobile})


def went_on(response) -> bool:
    """The pair was accepted: the answer is the code's page (whether or not an SMS went out)."""
    return response.status_code == 200 and is_page_with(response, "otp")


def sent(outbox) -> int:
    return len(sms_messages(outbox))


def error_of(response) -> str:
    found = re.search(r'id="national_id-error">(.*?)</p>', response.get_data(as_text=True), re.S)
    return found.group(1).strip() if found else ""


def exhaust(browser, response, code="000000"):
    """Five wrong codes at the verify page that ``response`` leads to; returns the page that follows."""
    page = browser.follow(response)
    for _ in range(5):
        assert is_page_with(page, "otp"), page.status_code
        page = browser.follow(browser.submit(page, "otp", {"otp": code}))
    return page


def resend(browser, verify_page):
    form = next(f for f in Forms(verify_page.get_data(as_text=True)).forms if f["action"].endswith("/resend"))
    return browser.follow(browser.client.post(form["action"], data=form["fields"]))


class Clock:
    """``time`` as idp.auth.otp sees it, moved on by hand."""

    def __init__(self):
        self.now = time.time()

    def time(self):
        return self.now


# --- per national ID, per mobile, per mobile and day, per IP range ---------------------------------


def test_national_id_limit_refuses_with_when_to_try_again_and_sends_nothing(build, outbox, citizens):
    app = build(limit_national_id="2 per 15 minutes")
    rp, browser = party(app), Browser(app.test_client(), outbox)
    a, b = citizens[0], citizens[1]
    for count in (1, 2):
        response = identify(browser, rp, a["national_id"], a["mobile"], ui_locales="en")
        assert went_on(response) and sent(outbox) == count
    # the same national ID typed differently (Persian digits, spaces) is the same national ID
    typed = " ".join(a["national_id"].translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")))
    response = identify(browser, rp, typed, a["mobile"], ui_locales="en")
    assert response.status_code == 429
    assert is_page_with(response, "national_id")  # the identify page again, with the reason
    assert re.fullmatch(r"Too many codes were requested\. Try again in 1[45] minutes\.", error_of(response))
    assert sent(outbox) == 2
    # another national ID is not affected
    assert went_on(identify(browser, rp, b["national_id"], b["mobile"], ui_locales="en"))
    assert sent(outbox) == 3


def test_mobile_limit_counts_every_national_id_typed_with_it(build, outbox, citizens):
    app = build(limit_mobile="2 per 15 minutes")
    rp, browser = party(app), Browser(app.test_client(), outbox)
    a, b = citizens[0], citizens[1]
    assert went_on(identify(browser, rp, a["national_id"], a["mobile"], ui_locales="en"))
    assert went_on(identify(browser, rp, b["national_id"], a["mobile"], ui_locales="en"))  # no SMS
    assert sent(outbox) == 1
    as_e164 = "+98 " + a["mobile"][1:]  # the same mobile number, typed differently
    response = identify(browser, rp, a["national_id"], as_e164, ui_locales="en")
    assert response.status_code == 429
    assert "Too many codes were requested" in error_of(response)
    assert sent(outbox) == 1


def test_daily_mobile_cap(build, outbox, citizen):
    app = build(limit_mobile_daily="2 per day")
    rp, browser = party(app), Browser(app.test_client(), outbox)
    for count in (1, 2):
        assert went_on(identify(browser, rp, citizen["national_id"], citizen["mobile"]))
        assert sent(outbox) == count
    response = identify(browser, rp, citizen["national_id"], citizen["mobile"], ui_locales="en")
    assert response.status_code == 429
    minutes = re.fullmatch(r"Too many codes were requested\. Try again in (\d+) minutes\.", error_of(response))
    assert minutes and 23 * 60 < int(minutes.group(1)) <= 24 * 60
    assert sent(outbox) == 2


def test_ip_range_limit_counts_the_whole_range(build, outbox, citizens):
    app = build(limit_ip_range="2 per hour")
    rp = party(app)

    def from_ip(ip):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = ip
        return Browser(client, outbox)

    for i, ip in enumerate(("203.0.113.7", "203.0.113.99")):
        c = citizens[i]
        assert went_on(identify(from_ip(ip), rp, c["national_id"], c["mobile"]))
    c = citizens[2]
    response = identify(from_ip("203.0.113.200"), rp, c["national_id"], c["mobile"], ui_locales="en")
    assert response.status_code == 429 and "Try again in" in error_of(response)
    assert sent(outbox) == 2
    assert went_on(identify(from_ip("198.51.100.1"), rp, c["national_id"], c["mobile"]))


def test_per_ip_route_limit_gives_a_429_page_with_retry_after(build, outbox, citizens):
    app = build(limit_login_ip="2 per 10 minutes")
    rp, browser = party(app), Browser(app.test_client(), outbox)
    for i in (0, 1):
        c = citizens[i]
        assert went_on(identify(browser, rp, c["national_id"], c["mobile"], ui_locales="en"))
    c = citizens[2]
    response = identify(browser, rp, c["national_id"], c["mobile"], ui_locales="en")
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 600
    page = response.get_data(as_text=True)
    assert "Too many requests came from your connection" in page
    assert response.mimetype == "text/html"
    assert sent(outbox) == 2
    # GET is not limited: the page still opens
    assert browser.follow(browser.get(rp.authorize_url())).status_code == 200


# --- lockout -------------------------------------------------------------------------------------


def test_lockout_after_exhausted_challenges_of_a_pair_whoever_exists(build, outbox, citizens):
    """The lockout is kept per national ID and mobile typed: it protects the pair from code guessing,
    and whoever does not know a citizen's mobile cannot lock the citizen out (a national sign-in
    has no other door). The page never depends on what the registry holds."""
    app = build(lockout_after=2, lockout_for=600)
    rp, browser = party(app), Browser(app.test_client(), outbox)
    known, other = citizens[0], citizens[1]
    unknown = unknown_valid_national_id(c["national_id"] for c in citizens)

    for national_id, mobile in ((known["national_id"], known["mobile"]), (unknown, other["mobile"]),
                                (known["national_id"], other["mobile"])):
        for _ in range(2):
            response = identify(browser, rp, national_id, mobile, ui_locales="en")
            assert went_on(response)
            matched = (national_id, mobile) == (known["national_id"], known["mobile"])
            code = wrong_code(last_code(outbox, mobile)) if matched else "000000"
            page = exhaust(browser, response, code)
            assert is_page_with(page, "national_id") and "Too many wrong codes" in page.get_data(as_text=True)
    before = sent(outbox)
    assert before == 2  # only the known pair ever got codes

    refusals = {}
    for national_id, mobile in ((known["national_id"], known["mobile"]), (unknown, other["mobile"]),
                                (known["national_id"], other["mobile"])):
        response = identify(browser, rp, national_id, mobile, ui_locales="en")
        assert response.status_code == 429, (national_id, mobile)
        assert re.fullmatch(r"Too many failed attempts with this national ID and mobile number\. "
                            r"Try again in (9|10) minutes\.", error_of(response))
        html = response.get_data(as_text=True).replace(national_id, "NATIONAL-ID").replace(mobile, "MOBILE")
        refusals[(national_id, mobile)] = page_text(html)
    assert sent(outbox) == before  # no SMS while locked out
    # the page for a pair the registry does not know is the page for one it knows
    assert len(set(refusals.values())) == 1
    # other pairs are not locked: the real citizen's own pair after someone else's failures included
    assert went_on(identify(browser, rp, other["national_id"], other["mobile"]))
    assert went_on(identify(browser, rp, unknown, known["mobile"]))


# --- resend back-off -----------------------------------------------------------------------------


def test_resend_back_off_doubles(build, outbox, citizen, monkeypatch):
    import idp.auth.otp

    clock = Clock()
    monkeypatch.setattr(idp.auth.otp, "time", clock)
    app = build(otp_resend_after=10)
    rp, browser = party(app), Browser(app.test_client(), outbox)
    page = browser.follow(identify(browser, rp, citizen["national_id"], citizen["mobile"], ui_locales="en"))
    assert sent(outbox) == 1

    clock.now += 5
    page = resend(browser, page)
    assert sent(outbox) == 1 and "ask for a new code in 5 seconds" in page.get_data(as_text=True)
    clock.now += 5  # 10 s after the first code: the first resend
    page = resend(browser, page)
    assert sent(outbox) == 2
    clock.now += 10  # 10 s after the second code: not yet, the wait is now 20 s
    page = resend(browser, page)
    assert sent(outbox) == 2 and "ask for a new code in 10 seconds" in page.get_data(as_text=True)
    clock.now += 10  # 20 s
    page = resend(browser, page)
    assert sent(outbox) == 3
    clock.now += 20  # the wait is now 40 s
    page = resend(browser, page)
    assert sent(outbox) == 3 and "ask for a new code in 20 seconds" in page.get_data(as_text=True)
    clock.now += 20
    page = resend(browser, page)
    assert sent(outbox) == 4
    # the last code works
    done = browser.submit(page, "otp", {"otp": last_code(outbox, citizen["mobile"])})
    assert is_page_with(done, "decision")  # signed in: the consent page


# --- rate_limits=False -----------------------------------------------------------------------------


def test_rate_limits_off_turns_all_of_it_off_but_the_five_wrong_codes(build, outbox, citizen, monkeypatch):
    import idp.auth.otp

    clock = Clock()
    monkeypatch.setattr(idp.auth.otp, "time", clock)
    app = build(rate_limits=False, limit_login_ip="1 per 10 minutes", limit_verify_ip="1 per 10 minutes",
                limit_ip_range="1 per hour", limit_national_id="1 per 15 minutes",
                limit_mobile="1 per 15 minutes", limit_mobile_daily="1 per day", lockout_after=1,
                otp_resend_after=10)
    rp, browser = party(app), Browser(app.test_client(), outbox)
    nid, mobile = citizen["national_id"], citizen["mobile"]
    for count in (1, 2, 3):
        response = identify(browser, rp, nid, mobile, ui_locales="en")
        assert went_on(response) and sent(outbox) == count
    # resends do not back off
    page = browser.follow(response)
    for count in (4, 5):
        clock.now += 10
        page = resend(browser, page)
        assert sent(outbox) == count
    # five wrong codes still end the challenge ...
    code = last_code(outbox, mobile)
    page = browser.follow(browser.submit(page, "otp", {"otp": wrong_code(code)}))
    assert "You have 4 more tries" in page.get_data(as_text=True)
    for _ in range(3):
        page = browser.follow(browser.submit(page, "otp", {"otp": wrong_code(code)}))
    assert "You have 1 more try" in page.get_data(as_text=True)
    verify_path = page.request.path
    page = browser.follow(browser.submit(page, "otp", {"otp": wrong_code(code)}))
    assert is_page_with(page, "national_id") and "Too many wrong codes" in page.get_data(as_text=True)
    # ... and its code is dead: the verify step is gone
    csrf = Forms(page.get_data(as_text=True)).with_field("national_id")["fields"]["csrf_token"]
    gone = browser.client.post(verify_path, data={"otp": code, "csrf_token": csrf})
    assert gone.status_code == 303 and gone.headers["Location"].endswith("/identify")  # nothing signed in
    assert is_page_with(browser.follow(gone), "national_id")
    # but nothing locks the national ID out
    response = browser.submit(page, "national_id", {"national_id": nid, "mobile": mobile})
    assert went_on(response) and sent(outbox) == 6


# --- across hosts: two instances on one Redis --------------------------------------------------------


@pytest.fixture
def shared_redis():
    redis = pytest.importorskip("redis")
    server = redis.Redis.from_url(SHARED_REDIS)
    try:
        server.ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    server.flushdb()
    yield SHARED_REDIS
    server.flushdb()
    server.close()


def test_limits_and_lockouts_hold_across_instances_sharing_redis(build, outbox, citizens, shared_redis):
    one = build(redis_url=shared_redis, limit_national_id="2 per 15 minutes", lockout_after=1, lockout_for=600)
    two = build(redis_url=shared_redis, limit_national_id="2 per 15 minutes", lockout_after=1, lockout_for=600)
    client_id, secret = make_client(one)  # one database: the service is registered once
    rp_one, rp_two = party(one, client_id, secret), party(two, client_id, secret)
    on_one, on_two = Browser(one.test_client(), outbox), Browser(two.test_client(), outbox)
    a, b = citizens[0], citizens[1]

    # the national-ID limit: one code requested on each host, the third refused on either
    assert went_on(identify(on_one, rp_one, a["national_id"], a["mobile"]))
    assert went_on(identify(on_two, rp_two, a["national_id"], a["mobile"]))
    assert sent(outbox) == 2
    response = identify(on_one, rp_one, a["national_id"], a["mobile"], ui_locales="en")
    assert response.status_code == 429 and "Too many codes were requested" in error_of(response)
    response = identify(on_two, rp_two, a["national_id"], a["mobile"], ui_locales="en")
    assert response.status_code == 429
    assert sent(outbox) == 2

    # a lockout set through one host refuses on the other
    response = identify(on_one, rp_one, b["national_id"], b["mobile"])
    exhaust(on_one, response, wrong_code(last_code(outbox, b["mobile"])))
    response = identify(on_two, rp_two, b["national_id"], b["mobile"], ui_locales="en")
    assert response.status_code == 429
    assert "Too many failed attempts with this national ID and mobile number" in error_of(response)
    assert sent(outbox) == 3


# --- the refusals in Persian ----------------------------------------------------------------------


def test_refusals_are_in_persian_by_default(build, outbox, citizens):
    app = build(limit_national_id="1 per 15 minutes", limit_login_ip="2 per 10 minutes",
                lockout_after=1, lockout_for=600)
    rp, browser = party(app), Browser(app.test_client(), outbox)
    a, b = citizens[0], citizens[1]
    identify(browser, rp, a["national_id"], a["mobile"])
    limited = identify(browser, rp, a["national_id"], a["mobile"])
    assert limited.status_code == 429
    messages = [error_of(limited)]
    blocked = identify(browser, rp, b["national_id"], b["mobile"])  # the third POST from this IP
    assert blocked.status_code == 429
    messages.append(re.sub(r"\s+", " ", re.search(r'<div class="alert alert-error"[^>]*>(.*?)</div>',
                                                   blocked.get_data(as_text=True), re.S).group(1)))
    for message in messages:
        assert message and not re.search(r"[A-Za-z]{3,}", re.sub(r"<[^>]+>", "", message)), message
    assert "۱۵" in messages[0]  # when to try again, in Persian digits
