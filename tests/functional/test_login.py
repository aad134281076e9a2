"""Signing in with national ID, mobile number and an SMS code, as the citizen sees it."""

import re
import time

import pytest

from tests.support import (OTP_RUN, Browser, Forms, at_rp, authorize, last_code, page_step, page_text, query,
                           sms_messages)

COOKIE = "panjereh_session"


class Clock:
    """``time`` as idp.auth.otp sees it: frozen at start, moved on by hand."""

    def __init__(self):
        self.now = time.time()

    def time(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    import idp.auth.otp

    fake = Clock()
    monkeypatch.setattr(idp.auth.otp, "time", fake)
    return fake


def new_browser(app, browser) -> Browser:
    return Browser(app.test_client(), browser.outbox)


def identify_page(browser, rp, **extra):
    response = browser.follow(browser.get(rp.authorize_url(**extra)))
    assert response.status_code == 200
    Forms(response.get_data(as_text=True)).with_field("national_id")
    return response


def send_pair(browser, rp, national_id, mobile, **extra):
    """Type a pair on a fresh identify page; returns the page that follows."""
    return browser.follow(browser.submit(identify_page(browser, rp, **extra), "national_id",
                                         {"national_id": national_id, "mobile": mobile}))


def action_of(page, field: str) -> str:
    """Where the page's form with ``field`` posts: the step's own URL (a step's page may be the answer
    to another address, e.g. the first one is shown at /authorize)."""
    return Forms(page.get_data(as_text=True)).with_field(field)["action"]


def csrf_of(page, field: str) -> str:
    return Forms(page.get_data(as_text=True)).with_field(field)["fields"]["csrf_token"]


def enter_code(browser, page, code):
    return browser.submit(page, "otp", {"otp": code})


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** 6:06d}"


def field_error(page: str, field: str) -> str | None:
    found = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', page, re.S)
    return found.group(1).strip() if found else None


def unknown_national_id(citizens) -> str:
    """A well-formed national ID (right check digit) that is not in the registry."""
    from idp.text import national_id_check_digit

    known = {c["national_id"] for c in citizens}
    for n in range(123456780, 123456999):
        body = f"{n:09d}"
        candidate = body + str(national_id_check_digit(body))
        if candidate not in known:
            return candidate
    raise AssertionError("no free national ID")


# --- the pair typed on the identify page ---

def test_non_matching_pairs_show_the_same_page_and_send_nothing(app, rp, browser, citizens, clock):
    citizen, other = citizens[0], citizens[1]
    matching = send_pair(browser, rp, citizen["national_id"], citizen["mobile"])
    assert len(sms_messages(browser.outbox)) == 1
    unknown_id = send_pair(new_browser(app, browser), rp, unknown_national_id(citizens), citizen["mobile"])
    someone_else = send_pair(new_browser(app, browser), rp, other["national_id"], citizen["mobile"])
    assert len(sms_messages(browser.outbox)) == 1  # no SMS for either non-matching pair
    for response in (unknown_id, someone_else):
        assert response.status_code == matching.status_code == 200
        assert page_step(response) == "verify"
        assert page_text(response.get_data(as_text=True)) == page_text(matching.get_data(as_text=True))


def test_wrong_code_after_a_non_matching_pair_reads_the_same(app, rp, browser, citizens, clock):
    citizen, other = citizens[0], citizens[1]
    matching = send_pair(browser, rp, citizen["national_id"], citizen["mobile"])
    code = last_code(browser.outbox, citizen["mobile"])
    second = new_browser(app, browser)
    no_match = send_pair(second, rp, other["national_id"], citizen["mobile"])
    after_match = browser.submit(matching, "otp", {"otp": wrong(code)})
    after_no_match = second.submit(no_match, "otp", {"otp": wrong(code)})
    assert after_match.status_code == after_no_match.status_code == 200
    assert page_text(after_match.get_data(as_text=True)) == page_text(after_no_match.get_data(as_text=True))


def test_non_matching_pair_can_never_sign_in(app, rp, browser, citizens):
    citizen, other = citizens[0], citizens[1]
    send_pair(browser, rp, citizen["national_id"], citizen["mobile"])  # a real code exists for citizen 0
    code = last_code(browser.outbox, citizen["mobile"])
    second = new_browser(app, browser)
    page = send_pair(second, rp, other["national_id"], citizen["mobile"])
    response = second.follow(second.submit(page, "otp", {"otp": code}))
    assert not at_rp(response, rp)
    assert field_error(response.get_data(as_text=True), "otp")


def test_invalid_national_id_checksum_is_a_field_error(rp, browser, citizen):
    bad = citizen["national_id"][:9] + str((int(citizen["national_id"][9]) + 1) % 10)
    page = identify_page(browser, rp, ui_locales="en")
    response = browser.submit(page, "national_id", {"national_id": bad, "mobile": citizen["mobile"]})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert field_error(html, "national_id")
    assert 'aria-invalid="true"' in html
    assert Forms(html).with_field("national_id")["fields"]["national_id"] == bad  # kept for correcting
    assert sms_messages(browser.outbox) == []


@pytest.mark.parametrize("national_id, mobile, field", [("12345", None, "national_id"), ("", None, "national_id"),
                                                        (None, "0912", "mobile"), (None, "", "mobile")])
def test_malformed_input_is_a_field_error(rp, browser, citizen, national_id, mobile, field):
    national_id = citizen["national_id"] if national_id is None else national_id
    mobile = citizen["mobile"] if mobile is None else mobile
    page = identify_page(browser, rp)
    response = browser.submit(page, "national_id", {"national_id": national_id, "mobile": mobile})
    assert response.status_code == 200
    assert field_error(response.get_data(as_text=True), field)
    assert sms_messages(browser.outbox) == []


def test_persian_digits_are_accepted_in_both_fields(rp, browser, citizen):
    from idp.text import to_persian_digits

    page = identify_page(browser, rp)
    response = browser.follow(browser.submit(page, "national_id", {
        "national_id": to_persian_digits(citizen["national_id"]),
        "mobile": to_persian_digits(citizen["mobile"])}))
    messages = sms_messages(browser.outbox)
    assert len(messages) == 1
    assert messages[0]["to"] == citizen["mobile"]
    code = to_persian_digits(last_code(browser.outbox))  # and in the code field too
    response = browser.follow(enter_code(browser, response, code))
    if not at_rp(response, rp):
        response = browser.consent(response)
    assert at_rp(response, rp)
    assert "code" in query(response.headers["Location"])


def test_mobile_in_international_form_is_accepted(rp, browser, citizen):
    international = "+98 " + citizen["mobile"][1:4] + " " + citizen["mobile"][4:]
    send_pair(browser, rp, citizen["national_id"], international)
    assert [m["to"] for m in sms_messages(browser.outbox)] == [citizen["mobile"]]


# --- the code ---

def test_sms_carries_the_code_as_six_digits(rp, browser, citizen):
    page = send_pair(browser, rp, citizen["national_id"], citizen["mobile"])
    (message,) = sms_messages(browser.outbox)
    assert message["to"] == citizen["mobile"]
    runs = OTP_RUN.findall(message["text"])
    assert len(runs) == 1
    response = browser.follow(enter_code(browser, page, runs[0]))
    assert Forms(response.get_data(as_text=True)).with_field("decision")  # signed in: the consent page


def test_wrong_code_says_how_many_tries_are_left(rp, browser, citizen, settings):
    page = send_pair(browser, rp, citizen["national_id"], citizen["mobile"], ui_locales="en")
    code = last_code(browser.outbox)
    response = enter_code(browser, page, wrong(code))
    assert response.status_code == 200
    message = field_error(response.get_data(as_text=True), "otp")
    assert message and str(settings.otp_max_attempts - 1) in message
    response = enter_code(browser, response, wrong(code))
    assert str(settings.otp_max_attempts - 2) in field_error(response.get_data(as_text=True), "otp")
    # the right code still works after a few wrong ones
    response = browser.follow(enter_code(browser, response, code))
    assert Forms(response.get_data(as_text=True)).with_field("decision")


def test_five_wrong_codes_end_the_challenge(rp, browser, citizen, settings):
    assert settings.otp_max_attempts == 5
    page = send_pair(browser, rp, citizen["national_id"], citizen["mobile"], ui_locales="en")
    verify_path = Forms(page.get_data(as_text=True)).with_field("otp")["action"]
    code = last_code(browser.outbox)
    response = page
    for _ in range(4):
        response = enter_code(browser, response, wrong(code))
        assert response.status_code == 200
    response = enter_code(browser, response, wrong(code))
    assert response.status_code in (302, 303)
    response = browser.follow(response)
    html = response.get_data(as_text=True)
    assert Forms(html).with_field("national_id")  # back to the identify page ...
    assert 'class="alert alert-error"' in html    # ... with an error
    # the challenge is dead: the right code no longer signs in
    late = browser.client.post(verify_path, data={"otp": code,
                                                  "csrf_token": Forms(html).forms[0]["fields"]["csrf_token"]})
    assert late.status_code in (302, 303, 400)
    late = browser.follow(late)
    assert not at_rp(late, rp)
    assert 'name="decision" value="allow"' not in late.get_data(as_text=True)
    assert no_login_sessions(rp)


def login_sessions(rp) -> int:
    from idp.db import db
    from idp.models import LoginSession

    with rp.http.application.app_context():
        return db.session.execute(db.select(db.func.count()).select_from(LoginSession)).scalar()


def no_login_sessions(rp) -> bool:
    return login_sessions(rp) == 0


def test_exhausted_challenge_is_dead_in_the_store(app, rp, browser, citizen):
    from idp.auth.otp import Outcome

    page = send_pair(browser, rp, citizen["national_id"], citizen["mobile"])
    svc = app.extensions["panjereh"]
    iid = page.request.path.split("/")[2]
    with app.app_context():
        challenge_id = svc.interactions.get(iid).challenge_id
    code = last_code(browser.outbox)
    response = page
    for _ in range(5):
        response = enter_code(browser, response, wrong(code))
    with app.test_request_context():
        assert svc.otp.get(challenge_id) is None  # no challenge left to try the right code on
        assert svc.otp.verify(challenge_id, code).outcome is not Outcome.OK


def test_expired_code_is_refused(rp, browser, citizen, settings, clock):
    page = send_pair(browser, rp, citizen["national_id"], citizen["mobile"], ui_locales="en")
    code = last_code(browser.outbox)
    clock.advance(settings.otp_ttl + 1)
    response = enter_code(browser, page, code)
    assert response.status_code == 200
    message = field_error(response.get_data(as_text=True), "otp")
    assert message and "expired" in message.lower()
    assert not at_rp(browser.follow(response), rp)


def test_code_just_before_expiry_works(rp, browser, citizen, settings, clock):
    page = send_pair(browser, rp, citizen["national_id"], citizen["mobile"])
    code = last_code(browser.outbox)
    clock.advance(settings.otp_ttl - 2)
    response = browser.follow(enter_code(browser, page, code))
    assert Forms(response.get_data(as_text=True)).with_field("decision")


def resend(browser, page):
    form = next(f for f in Forms(page.get_data(as_text=True)).forms if f["action"].endswith("/resend"))
    return browser.client.post(form["action"], data=form["fields"])


def test_resend_before_the_wait_is_refused(rp, browser, citizen, settings, clock):
    page = send_pair(browser, rp, citizen["national_id"], citizen["mobile"], ui_locales="en")
    clock.advance(settings.otp_resend_after - 5)
    response = browser.follow(resend(browser, page))
    assert response.status_code == 200
    assert 'class="alert alert-error"' in response.get_data(as_text=True)
    assert len(sms_messages(browser.outbox)) == 1
    # the code already sent still works
    response = browser.follow(enter_code(browser, response, last_code(browser.outbox)))
    assert Forms(response.get_data(as_text=True)).with_field("decision")


def test_resend_after_the_wait_sends_a_new_code_and_kills_the_old(rp, browser, citizen, settings, clock):
    page = send_pair(browser, rp, citizen["national_id"], citizen["mobile"])
    old = last_code(browser.outbox)
    clock.advance(settings.otp_resend_after + 1)
    page = browser.follow(resend(browser, page))
    assert page.status_code == 200
    messages = sms_messages(browser.outbox)
    assert len(messages) == 2 and messages[1]["to"] == citizen["mobile"]
    new = last_code(browser.outbox)
    if new == old:  # one chance in a million
        pytest.skip("the new code happens to equal the old one")
    response = enter_code(browser, page, old)
    assert response.status_code == 200
    assert field_error(response.get_data(as_text=True), "otp")
    response = browser.follow(enter_code(browser, response, new))
    assert Forms(response.get_data(as_text=True)).with_field("decision")


def test_resend_for_a_non_matching_pair_sends_nothing(app, rp, browser, citizens, settings, clock):
    page = send_pair(browser, rp, citizens[1]["national_id"], citizens[0]["mobile"])
    clock.advance(settings.otp_resend_after + 1)
    response = browser.follow(resend(browser, page))
    assert response.status_code == 200
    assert sms_messages(browser.outbox) == []


def test_code_is_single_use(app, rp, browser, citizen):
    page = send_pair(browser, rp, citizen["national_id"], citizen["mobile"])
    code = last_code(browser.outbox)
    consent = browser.follow(enter_code(browser, page, code))
    assert Forms(consent.get_data(as_text=True)).with_field("decision")
    replay = enter_code(browser, page, code)  # the same form again, in the same browser
    assert replay.status_code == 303 and replay.headers["Location"].endswith("/consent")  # on to where it is
    assert login_sessions(rp) == 1  # nothing was done twice
    stranger = new_browser(app, browser)  # and in any other browser, the sign-in does not exist
    token = csrf_of(identify_page(stranger, rp, ui_locales="en"), "national_id")  # a CSRF token of its own
    refused = stranger.client.post(action_of(page, "otp"), data={"csrf_token": token, "otp": code})
    assert refused.status_code == 400 and "This sign-in has expired" in refused.get_data(as_text=True)
    assert login_sessions(rp) == 1


# --- the interaction belongs to one browser ---

def test_interaction_from_another_browser_is_rejected(app, rp, browser, citizen):
    page = identify_page(browser, rp)
    path = action_of(page, "national_id")  # the victim's identify step
    assert page_step(browser.get(path)) == "identify"  # its own browser finds it there
    intruder = new_browser(app, browser)
    assert intruder.get(path).status_code == 400
    # even with a CSRF token of its own, the intruder cannot post to the victim's interaction
    token = csrf_of(identify_page(intruder, rp, ui_locales="en"), "national_id")
    response = intruder.client.post(path, data={"csrf_token": token, "national_id": citizen["national_id"],
                                                "mobile": citizen["mobile"]})
    assert response.status_code == 400 and "This sign-in has expired" in response.get_data(as_text=True)
    assert sms_messages(browser.outbox) == []


def test_verify_step_from_another_browser_is_rejected(app, rp, browser, citizen):
    page = send_pair(browser, rp, citizen["national_id"], citizen["mobile"])
    code = last_code(browser.outbox)
    intruder = new_browser(app, browser)
    token = csrf_of(identify_page(intruder, rp, ui_locales="en"), "national_id")
    response = intruder.client.post(action_of(page, "otp"), data={"csrf_token": token, "otp": code})
    assert response.status_code == 400 and "This sign-in has expired" in response.get_data(as_text=True)
    assert not at_rp(response, rp) and no_login_sessions(rp)


def test_a_step_reads_its_browser_session_and_interaction_in_one_store_call(app, rp, browser, citizen, monkeypatch):
    """One round trip to Redis for both, where there were two; and what the step wrote is what the next one reads."""
    store = app.extensions["panjereh"].store
    singles, batches, inside = [], [], []
    real_get, real_get_many = store.get, store.get_many

    def get(key):
        if not inside:  # not a read that get_many makes itself (the SQL store's)
            singles.append(key)
        return real_get(key)

    def get_many(keys):
        batches.append(list(keys))
        inside.append(1)
        try:
            return real_get_many(keys)
        finally:
            inside.pop()

    monkeypatch.setattr(store, "get", get)
    monkeypatch.setattr(store, "get_many", get_many)
    page = send_pair(browser, rp, citizen["national_id"], citizen["mobile"])  # /authorize, then the identify step
    interaction = action_of(page, "otp").split("/")[2]
    assert page_step(page) == "verify"
    assert [keys[1:] for keys in batches] == [[f"interaction:{interaction}"]]
    assert batches[0][0].startswith("websession:")
    assert f"interaction:{interaction}" not in singles
    consent = enter_code(browser, page, last_code(browser.outbox))  # reads the state the identify step saved
    assert page_step(consent) == "consent"
    assert batches[-1][1:] == [f"interaction:{interaction}"]


PLAIN_HTTP_REFUSED = "این نشانی را باید با اتصال امن (https) باز کرد."  # "... must be opened over https"


def test_the_sign_in_is_refused_over_plain_http_to_a_public_host(app, rp, browser, citizen):
    """RFC 6749 section 3.1: the authorization endpoint only over TLS, and the pages that take the national ID
    and the code with it. Refused before anything starts or is read (in the citizen's language: Persian
    unless chosen otherwise); the same requests over https go on; health probes still answer."""
    refused = app.test_client().get(rp.authorize_url(), base_url="http://idp.example")
    assert refused.status_code == 400 and PLAIN_HTTP_REFUSED in page_text(refused.get_data(as_text=True))
    assert 'name="national_id"' not in refused.get_data(as_text=True)
    page = browser.get(rp.authorize_url(), base_url="https://idp.example")
    assert page_step(page) == "identify"
    step = action_of(page, "national_id")
    pair = dict(Forms(page.get_data(as_text=True)).with_field("national_id")["fields"],
                national_id=citizen["national_id"], mobile=citizen["mobile"])
    sent = browser.client.post(step, base_url="http://idp.example", data=pair)
    assert sent.status_code == 400 and PLAIN_HTTP_REFUSED in page_text(sent.get_data(as_text=True))
    assert sms_messages(browser.outbox) == []
    as_a_browser = {"Referer": "https://idp.example" + step}  # what the page's Referrer-Policy lets it send
    assert page_step(browser.client.post(step, base_url="https://idp.example", data=pair,
                                         headers=as_a_browser)) == "verify"
    assert app.test_client().get("/healthz", base_url="http://10.0.0.7").status_code == 200


def test_over_https_a_form_is_accepted_as_browsers_send_it(app, rp, browser, citizen):
    """Over https the CSRF check also wants the form's page as the Referer (Flask-WTF's strict check), so
    the pages must let browsers send it to our own origin (and only there): with ``no-referrer`` every form
    sent over https was refused as expired. A post with no Referer, or another site's, is still refused."""
    page = browser.get(rp.authorize_url(), base_url="https://idp.example")
    assert page.headers["Referrer-Policy"] == "same-origin"
    step = action_of(page, "national_id")
    pair = dict(Forms(page.get_data(as_text=True)).with_field("national_id")["fields"],
                national_id=citizen["national_id"], mobile=citizen["mobile"])
    for referer in (None, "https://evil.example/"):
        refused = browser.client.post(step, base_url="https://idp.example", data=pair,
                                      headers={"Referer": referer} if referer else {})
        assert refused.status_code == 400 and page_step(refused) is None
    assert sms_messages(browser.outbox) == []
    sent = browser.client.post(step, base_url="https://idp.example", data=pair,
                               headers={"Referer": "https://idp.example" + step})
    assert page_step(sent) == "verify" and len(sms_messages(browser.outbox)) == 1


def test_unknown_interaction_is_rejected(browser):
    assert browser.get("/interaction/not-a-real-id/identify").status_code == 400


# --- CSRF ---

@pytest.mark.parametrize("token", [None, "forged"])
def test_identify_without_a_valid_csrf_token_is_refused(rp, browser, citizen, token):
    page = identify_page(browser, rp, ui_locales="en")
    pair = {"national_id": citizen["national_id"], "mobile": citizen["mobile"]}
    response = browser.client.post(action_of(page, "national_id"), data=pair | ({"csrf_token": token} if token else {}))
    assert response.status_code == 400 and "the form expired" in response.get_data(as_text=True)
    assert sms_messages(browser.outbox) == []
    # the same form with its token goes on
    assert page_step(browser.client.post(action_of(page, "national_id"),
                                         data=pair | {"csrf_token": csrf_of(page, "national_id")})) == "verify"


def test_code_without_csrf_token_is_refused(rp, browser, citizen):
    page = send_pair(browser, rp, citizen["national_id"], citizen["mobile"], ui_locales="en")
    response = browser.client.post(action_of(page, "otp"), data={"otp": last_code(browser.outbox)})
    assert response.status_code == 400 and "the form expired" in response.get_data(as_text=True)
    assert no_login_sessions(rp)


# --- the session cookie ---

def set_cookie_header(response, name=COOKIE) -> str:
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(name + "="):
            return header
    raise AssertionError(f"no {name} cookie set")


def cookie_attributes(header: str) -> tuple[str, dict]:
    first, *rest = [part.strip() for part in header.split(";")]
    value = first.split("=", 1)[1]
    attributes = {}
    for part in rest:
        key, _, val = part.partition("=")
        attributes[key.lower()] = val
    return value, attributes


def test_session_cookie_is_httponly_lax_and_only_an_id(rp, browser):
    response = browser.get(rp.authorize_url())
    value, attributes = cookie_attributes(set_cookie_header(response))
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "lax"
    assert attributes.get("path") == "/"
    assert re.fullmatch(r"[A-Za-z0-9_-]{32,}", value)  # a random id: no dots, no signed JSON payload
    assert "." not in value and "interaction" not in value
    second = Browser(browser.client.application.test_client(), browser.outbox).get(rp.authorize_url())
    assert cookie_attributes(set_cookie_header(second))[0] != value


def test_session_cookie_rotates_at_sign_in(app, rp, browser, citizen):
    before = browser.client.get_cookie(COOKIE)
    page = send_pair(browser, rp, citizen["national_id"], citizen["mobile"])
    before = browser.client.get_cookie(COOKIE).value
    browser.follow(enter_code(browser, page, last_code(browser.outbox)))
    after = browser.client.get_cookie(COOKIE).value
    assert after != before
    # the pre-login id is worthless now: a browser holding it is not signed in
    attacker = new_browser(app, browser)
    attacker.client.set_cookie(COOKIE, before)
    response = attacker.get(rp.authorize_url(prompt="none"))
    assert query(response.headers["Location"])["error"] == "login_required"
    # while the citizen's browser is (signed in, consent not given yet)
    response = browser.get(rp.authorize_url(prompt="none"))
    assert query(response.headers["Location"])["error"] == "consent_required"


def test_secure_cookie_under_an_https_issuer(settings, tmp_path):
    import dataclasses

    from flask_migrate import upgrade

    from idp.app import create_app

    app = create_app(dataclasses.replace(settings, issuer="https://login.example"))
    with app.app_context():
        upgrade()
        app.extensions["panjereh"].keys.ensure()
    try:
        response = app.test_client().get("/authorize?client_id=x&ui_locales=en")  # sets the language
        _value, attributes = cookie_attributes(set_cookie_header(response))
        assert "secure" in attributes and "httponly" in attributes
        assert attributes["samesite"].lower() == "lax"
    finally:
        with app.app_context():
            from idp.db import db

            db.session.remove()
            db.engine.dispose()


def test_full_login_end_to_end(rp, browser, citizen):
    response = authorize(browser, rp, citizen)
    assert "code" in query(response.headers["Location"])


def test_a_chosen_session_id_is_not_adopted(rp, browser):
    planted = "A" * 43
    browser.client.set_cookie(COOKIE, planted)
    response = browser.get(rp.authorize_url())
    value, _attributes = cookie_attributes(set_cookie_header(response))
    assert value != planted


def audit_trail(app, since_id: int = 0) -> list:
    from idp.db import db
    from idp.models import AuditEvent

    with app.app_context():
        rows = db.session.execute(db.select(AuditEvent).where(AuditEvent.id > since_id)
                                  .order_by(AuditEvent.id)).scalars().all()
        return [(r.event, r.outcome, r.account_id, r.subject_digest, r.client_id, r.details) for r in rows]


def test_a_sign_in_leaves_its_security_events_and_no_national_id(app, rp, browser, citizen):
    page = send_pair(browser, rp, citizen["national_id"], citizen["mobile"])
    response = enter_code(browser, page, wrong(last_code(browser.outbox)))
    browser.follow(browser.submit(browser.follow(enter_code(browser, response, last_code(browser.outbox))),
                                  "decision", button=("decision", "allow")))
    trail = audit_trail(app)
    assert [(event, outcome) for event, outcome, *_ in trail] == [
        ("login.started", "ok"), ("otp.sent", "ok"), ("otp.failed", "wrong"), ("login.succeeded", "ok"),
        ("consent.granted", "ok"), ("code.issued", "ok")]
    assert {client for *_, client, _details in trail} == {rp.client_id}
    account = trail[3][2]
    assert account is not None and all(row[2] == account for row in trail[3:])
    digests = {row[3] for row in trail[1:3]}
    assert len(digests) == 1 and None not in digests  # the typed national ID, only as a keyed digest
    assert citizen["national_id"] not in repr(trail) and citizen["mobile"] not in repr(trail)
    assert trail[3][5]["acr"] and trail[4][5]["scope"]


def test_a_store_outage_as_a_sign_in_starts_is_a_clean_503_that_changes_nothing(app, rp, browser, monkeypatch):
    from idp.adapters.store import StoreUnavailable

    store = app.extensions["panjereh"].store

    def down(*_args, **_kwargs):
        raise StoreUnavailable("connection refused")

    for name in ("put", "add", "delete", "put_many"):  # reads work, writes fail: the store is going away
        monkeypatch.setattr(store, name, down)
    response = browser.get(rp.authorize_url())
    assert response.status_code == 503  # not a 500: the session the view had begun is not written
    assert 'lang="fa"' in response.get_data(as_text=True)
    assert COOKIE not in response.headers.get("Set-Cookie", "")
    assert audit_trail(app) == []  # no "login started" for a sign-in that could not start


def test_requests_for_services_and_static_files_do_not_fetch_the_browser_session(app, rp, browser, citizen,
                                                                               monkeypatch):
    from tests.support import sign_in_tokens

    tokens = sign_in_tokens(browser, rp, citizen)  # the browser now carries a session cookie
    store = app.extensions["panjereh"].store
    reads = []
    real_get = store.get
    monkeypatch.setattr(store, "get", lambda key: (reads.append(key), real_get(key))[1])
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    for path, headers in (("/userinfo", bearer), ("/jwks.json", {}), ("/healthz", {}),
                          ("/.well-known/openid-configuration", {}), ("/static/css/panjereh.css", {})):
        response = browser.get(path, headers=headers)
        response.close()  # a static file is streamed
        assert response.status_code == 200, path
    assert not [key for key in reads if key.startswith("websession:")]
    assert browser.get("/").status_code == 200  # a page does read it
    assert [key for key in reads if key.startswith("websession:")]


def test_a_sessionless_endpoint_cannot_write_a_session(app):
    from flask import request

    with app.test_request_context("/token", method="POST"):
        opened = app.session_interface.open_session(app, request)
        assert not opened
        with pytest.raises(RuntimeError):  # a view there that wrote one would fail loudly, not lose it
            opened["lang"] = "en"


def failing_once(real, statement: str):
    """``real``, whose first call fails as if the database went away (a failover)."""
    from sqlalchemy.exc import OperationalError

    def wrapper(*args):
        wrapper.calls.append(args)
        if len(wrapper.calls) == 1:
            raise OperationalError(statement, {}, Exception("server closed the connection"))
        return real(*args)

    wrapper.calls = []
    return wrapper


def test_a_database_failure_as_the_code_is_checked_leaves_the_code_usable(app, rp, browser, citizen, monkeypatch):
    import idp.views.interaction as views

    page = send_pair(browser, rp, citizen["national_id"], citizen["mobile"])
    code = last_code(browser.outbox)
    account_for = failing_once(views.account_for, "INSERT INTO accounts")
    monkeypatch.setattr(views, "account_for", account_for)
    failed = enter_code(browser, page, code)
    assert failed.status_code == 503
    again = browser.follow(enter_code(browser, page, code))  # the same code, once the database is back
    assert 'name="decision" value="allow"' in again.get_data(as_text=True)  # signed in: on to consent
    assert len(account_for.calls) == 2


def sign_in_rows(app) -> tuple[int, list]:
    from idp.db import db
    from idp.models import LoginSession

    with app.app_context():
        sessions = db.session.execute(db.select(db.func.count()).select_from(LoginSession)).scalar()
    return sessions, [event for event, *_ in audit_trail(app) if event == "login.succeeded"]


def test_a_sign_in_that_loses_the_race_for_its_code_writes_nothing(app, rp, browser, citizen, monkeypatch):
    import idp.views.interaction as views

    page = send_pair(browser, rp, citizen["national_id"], citizen["mobile"])
    real = views.account_for
    store = app.extensions["panjereh"].store

    def other_request_wins(national_id):
        account = real(national_id)
        iid = re.search(r"/interaction/([^/]+)/", page.request.path).group(1)
        challenge_id = app.extensions["panjereh"].interactions.get(iid).challenge_id
        assert store.delete("otp:" + challenge_id)  # the same code, used by a request that got there first
        return account

    monkeypatch.setattr(views, "account_for", other_request_wins)
    lost = enter_code(browser, page, last_code(browser.outbox))
    assert lost.status_code == 302 and "/identify" in lost.headers["Location"]
    assert sign_in_rows(app) == (0, [])  # no session, no "signed in" event: the winner's sign-in is the one


def test_a_failure_after_the_code_is_checked_signs_no_one_in(app, rp, browser, citizen, monkeypatch):
    import idp.views.interaction as views

    page = send_pair(browser, rp, citizen["national_id"], citizen["mobile"])
    monkeypatch.setattr(views, "resume", failing_once(views.resume, "SELECT"))
    assert enter_code(browser, page, last_code(browser.outbox)).status_code == 503
    assert sign_in_rows(app) == (0, [])
    assert browser.get("/account/").status_code == 302  # not signed in


def test_a_first_sign_in_submitted_twice_at_once_is_not_an_outage(app, rp, browser, citizen, monkeypatch):
    from sqlalchemy.exc import IntegrityError

    import idp.views.interaction as views

    def created_by_the_other_request(national_id):
        raise IntegrityError("INSERT INTO accounts", {}, Exception("duplicate key value"))

    page = send_pair(browser, rp, citizen["national_id"], citizen["mobile"])
    monkeypatch.setattr(views, "account_for", created_by_the_other_request)
    response = enter_code(browser, page, last_code(browser.outbox))
    assert response.status_code == 302 and "/identify" in response.headers["Location"]
