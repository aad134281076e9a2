"""The citizen's authenticator app (TOTP) and recovery codes, through the account pages.

Enrolment needs a fresh (10 minutes) sign-in; the secret is shown once as an inline QR code and as
text, confirmed by a first code, then kept encrypted; ten single-use recovery codes are shown once and
kept as hashes; a code's time-step works once; removing the app needs a fresh loa3 sign-in.
"""

from __future__ import annotations

import json
import re
import time
from zoneinfo import ZoneInfo

import jdatetime
import pyotp
from sqlalchemy import text

from tests.support import (Browser, Forms, at_rp, backdate_sign_ins, choose_language, enrol_authenticator,
                           follow_trace, is_page_with, jwt_unverified, last_code, next_totp, query, recovery_codes,
                           sign_in_tokens, sms_messages, totp_secret, walk, wrong_code)

LOA2, LOA3 = "urn:panjereh:loa:2", "urn:panjereh:loa:3"
ESSENTIAL_LOA3 = json.dumps({"id_token": {"acr": {"essential": True, "values": [LOA3]}}})
PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
TEHRAN = ZoneInfo("Asia/Tehran")


def rows(app, sql: str, **params):
    from idp.db import db

    with app.app_context():
        return db.session.execute(text(sql), params).all()


def new_device(app, browser, user_agent: str | None = None) -> Browser:
    client = app.test_client()
    if user_agent:
        client.environ_base["HTTP_USER_AGENT"] = user_agent
    return Browser(client, browser.outbox)


def active_authenticators(app) -> int:
    return rows(app, "SELECT count(*) FROM authenticators WHERE removed_at IS NULL")[0][0]


def step_up(browser, rp, factor):
    """Ask ``rp`` for loa3 from a signed-in browser; returns the final response and the pages seen."""
    return walk(browser, browser.get(rp.authorize_url(claims=ESSENTIAL_LOA3)), factor=factor)


def acr_of(rp, response) -> str:
    assert at_rp(response, rp), (response.status_code, response.headers.get("Location"))
    token = rp.redeem(query(response.headers["Location"])["code"])
    assert token.status_code == 200
    return jwt_unverified(token.get_json()["id_token"])[1]["acr"]


def remove_form(browser) -> dict:
    page = browser.get("/account/")
    assert page.status_code == 200
    return Forms(page.get_data(as_text=True)).with_field("csrf_token")["fields"]


# --- enrolment ---------------------------------------------------------------------------------------


def test_enrolment_sends_a_citizen_who_is_not_signed_in_through_an_account_sign_in(app, browser, citizen):
    choose_language(browser, "en")
    response = browser.get("/account/authenticator")
    assert response.status_code == 302
    response, paths = follow_trace(browser, response)
    assert paths[-1].endswith("/identify")
    page = response.get_data(as_text=True)
    assert is_page_with(response, "national_id")
    assert "your Panjereh account" in page  # not a service: the citizen's own account
    assert "Signing in to E-Tax" not in page
    response = browser.follow(browser.submit(response, "national_id", {"national_id": citizen["national_id"],
                                                                       "mobile": citizen["mobile"]}))
    assert is_page_with(response, "otp") and "your Panjereh account" in response.get_data(as_text=True)
    response, _paths = follow_trace(browser, browser.submit(response, "otp", {"otp": last_code(
        browser.outbox, citizen["mobile"])}))
    assert response.status_code == 200 and 'id="totp-secret"' in response.get_data(as_text=True)


def test_enrolment_page_shows_an_inline_qr_code_and_the_secret_as_text(app, rp, browser, citizen):
    sign_in_tokens(browser, rp, citizen)
    response = browser.get("/account/authenticator")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    qr = re.search(r'<div class="qr"[^>]*>(.*?)</div>', page, re.S)
    assert qr and "<svg" in qr.group(1) and "<path" in qr.group(1)
    assert "<img" not in qr.group(1)
    # nothing is fetched from elsewhere (the QR code is not drawn by an outside service)
    assert not re.search(r'(?:src|href|action)="(?:https?:)?//', page), re.findall(r'(?:src|href)="[^"]*"', page)
    assert "img-src 'self' data:" in response.headers["Content-Security-Policy"]
    secret = totp_secret(page)
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert pyotp.TOTP(secret).now()  # a valid base32 secret
    # the same secret until it is confirmed (a reload does not change what the app was given)
    assert totp_secret(browser.get("/account/authenticator").get_data(as_text=True)) == secret


def test_enrolment_needs_a_sign_in_of_the_last_ten_minutes(app, rp, browser, citizen):
    sign_in_tokens(browser, rp, citizen)
    backdate_sign_ins(app, 9 * 60)
    assert browser.get("/account/authenticator").status_code == 200  # still fresh
    backdate_sign_ins(app, 2 * 60)  # 11 minutes now
    sent = len(sms_messages(browser.outbox))
    response, paths = follow_trace(browser, browser.get("/account/authenticator"))
    assert paths[-1].endswith("/identify") and is_page_with(response, "national_id")
    response, seen = walk(browser, response, citizen)
    assert seen == ["identify", "verify"] and len(sms_messages(browser.outbox)) == sent + 1
    assert 'id="totp-secret"' in response.get_data(as_text=True)


def test_confirming_with_a_code_enrols_and_shows_ten_recovery_codes_once(app, rp, browser, citizen):
    sign_in_tokens(browser, rp, citizen)
    secret, codes = enrol_authenticator(browser)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"\d{10}", code) for code in codes)
    assert active_authenticators(app) == 1
    # shown once: the enrolment page now leads to the account page, which shows no code
    response, _paths = follow_trace(browser, browser.get("/account/authenticator"))
    page = response.get_data(as_text=True)
    assert response.request.path == "/account/" and 'id="recovery-codes"' not in page
    assert not any(code[:5] in page and code[5:] in page for code in codes)
    assert secret not in page.replace(" ", "")


def test_a_wrong_code_enrols_nothing(app, rp, browser, citizen):
    sign_in_tokens(browser, rp, citizen)
    choose_language(browser, "en")
    page = browser.get("/account/authenticator")
    secret = totp_secret(page.get_data(as_text=True))
    good = pyotp.TOTP(secret)
    bad = next(code for code in ("000000", "123456", "999999")
               if code not in {good.at(time.time() + d) for d in (-30, 0, 30)})
    response = browser.submit(page, "otp", {"otp": bad})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "does not match" in html and 'id="recovery-codes"' not in html
    assert active_authenticators(app) == 0
    assert rows(app, "SELECT count(*) FROM recovery_codes")[0][0] == 0
    # the same secret can still be confirmed
    assert totp_secret(html) == secret
    done = browser.submit(response, "otp", {"otp": good.now()})
    assert len(recovery_codes(done.get_data(as_text=True))) == 10


def test_the_secret_and_recovery_codes_are_not_stored_in_clear(app, rp, browser, citizen):
    sign_in_tokens(browser, rp, citizen)
    secret, codes = enrol_authenticator(browser)
    (stored,), = rows(app, "SELECT secret_encrypted FROM authenticators")
    stored = bytes(stored)
    for form in (secret, secret.lower()):
        assert form.encode() not in stored
    import base64

    assert base64.b32decode(secret) not in stored
    hashes = [row[0] for row in rows(app, "SELECT code_hash FROM recovery_codes")]
    assert len(hashes) == 10
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes)
    assert not {h for h in hashes for code in codes if code in h}


# --- using the app and the recovery codes ----------------------------------------------------------


def test_a_time_step_works_once(app, rp, browser, citizen):
    sign_in_tokens(browser, rp, citizen)
    page = browser.get("/account/authenticator")
    secret = totp_secret(page.get_data(as_text=True))
    used = pyotp.TOTP(secret).now()
    browser.submit(page, "otp", {"otp": used})  # enrolment used this step
    response, seen = step_up(browser, rp, used)
    assert seen == ["factor"] and is_page_with(response, "recovery_code")  # replay refused
    fresh_code = next_totp(secret)
    response, seen = walk(browser, response, factor=fresh_code)
    assert seen == ["factor"] and acr_of(rp, response) == LOA3
    # and that step cannot be replayed either, from another device
    other = new_device(app, browser)
    response, seen = walk(other, other.get(rp.authorize_url(claims=ESSENTIAL_LOA3)), citizen, factor=fresh_code)
    assert seen == ["identify", "verify", "factor"] and is_page_with(response, "recovery_code")


def test_recovery_codes_are_single_use(app, rp, browser, citizen):
    sign_in_tokens(browser, rp, citizen)
    _secret, codes = enrol_authenticator(browser)
    response, seen = step_up(browser, rp, codes[0][:5] + "-" + codes[0][5:])  # typed as shown
    assert seen == ["factor"] and acr_of(rp, response) == LOA3
    other = new_device(app, browser)
    response, seen = walk(other, other.get(rp.authorize_url(claims=ESSENTIAL_LOA3)), citizen, factor=codes[0])
    assert seen[-1] == "factor" and is_page_with(response, "recovery_code")  # used once already
    response, seen = walk(other, response, factor=codes[1])
    assert seen == ["factor"] and acr_of(rp, response) == LOA3
    choose_language(other, "en")
    assert "8 recovery codes left" in other.get("/account/").get_data(as_text=True)


# --- removing the app ------------------------------------------------------------------------------


def test_removing_the_app_needs_the_factor_from_a_loa2_session(app, rp, browser, citizen):
    sign_in_tokens(browser, rp, citizen)
    secret, _codes = enrol_authenticator(browser)
    fields = remove_form(browser)
    assert browser.client.post("/account/authenticator/remove", data={"decision": "remove"}).status_code == 400
    response = browser.client.post("/account/authenticator/remove", data={**fields, "decision": "remove"})
    response, paths = follow_trace(browser, response)
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["factor"], paths  # no new SMS sign-in: it is fresh
    assert active_authenticators(app) == 1  # not removed yet
    response, seen = walk(browser, response, factor=next_totp(secret))
    assert seen == ["factor"]
    if active_authenticators(app):  # back on the account page: now at a fresh loa3, the button works at once
        assert response.request.path == "/account/"
        response = browser.client.post("/account/authenticator/remove", data={**remove_form(browser),
                                                                               "decision": "remove"})
        assert response.status_code == 302 and response.headers["Location"].endswith("/account/")
    assert active_authenticators(app) == 0
    assert rows(app, "SELECT count(*) FROM recovery_codes WHERE used_at IS NULL")[0][0] == 0
    choose_language(browser, "en")
    assert "Add an authenticator app" in browser.get("/account/").get_data(as_text=True)
    # loa3 cannot be reached any more by a new sign-in
    other = new_device(app, browser)
    response, seen = walk(other, other.get(rp.authorize_url(claims=ESSENTIAL_LOA3)), citizen)
    assert seen == ["identify", "verify"]
    assert query(response.headers["Location"])["error"] == "unmet_authentication_requirements"


def test_removing_the_app_after_ten_minutes_needs_sms_and_the_app_again(app, rp, browser, citizen):
    sign_in_tokens(browser, rp, citizen)
    _secret, codes = enrol_authenticator(browser)
    response, _seen = step_up(browser, rp, codes[0])  # loa3 ...
    assert acr_of(rp, response) == LOA3
    backdate_sign_ins(app, 11 * 60)  # ... but no longer fresh
    response = browser.client.post("/account/authenticator/remove", data={**remove_form(browser),
                                                                           "decision": "remove"})
    response, seen = walk(browser, response, citizen, factor=codes[1])
    assert seen == ["identify", "verify", "factor"]
    if active_authenticators(app):
        browser.client.post("/account/authenticator/remove", data={**remove_form(browser), "decision": "remove"})
    assert active_authenticators(app) == 0


# --- the account page ------------------------------------------------------------------------------


def test_account_page_lists_sessions_with_local_dates(app, rp, browser, citizen):
    laptop = new_device(app, browser, "Laptop-Browser/1.0")
    phone = new_device(app, browser, "Phone-Browser/2.0")
    sign_in_tokens(laptop, rp, citizen)
    sign_in_tokens(phone, rp, citizen)
    from idp.db import db
    from idp.models import LoginSession

    with app.app_context():
        moments = [s.created_at.astimezone(TEHRAN) for s in db.session.execute(
            db.select(LoginSession).where(LoginSession.ended_at.is_(None))).scalars()]
    assert len(moments) == 2

    persian = laptop.get("/account/").get_data(as_text=True)  # Persian by default
    for moment in moments:
        jalali = jdatetime.datetime.fromgregorian(datetime=moment).strftime("%Y/%m/%d %H:%M")
        assert jalali.translate(PERSIAN_DIGITS) in persian
        assert moment.strftime("%Y-%m-%d") not in persian
    assert re.search(r"۱۴[۰-۹]{2}/[۰-۹]{2}/[۰-۹]{2}", persian)
    assert "Laptop-Browser/1.0" in persian and "Phone-Browser/2.0" in persian

    choose_language(laptop, "en")
    english = laptop.get("/account/").get_data(as_text=True)
    for moment in moments:
        assert moment.strftime("%Y-%m-%d %H:%M") in english
        jalali = jdatetime.datetime.fromgregorian(datetime=moment).strftime("%Y/%m/%d")
        assert jalali not in english and jalali.translate(PERSIAN_DIGITS) not in english
    assert english.count("this device") == 1


def test_account_page_needs_a_sign_in(app, browser):
    response, paths = follow_trace(browser, browser.get("/account/"))
    assert paths and paths[-1].endswith("/identify") and is_page_with(response, "national_id")


def test_account_pages_are_in_persian_by_default(app, rp, browser, citizen):
    english_only = []
    fresh = Browser(app.test_client(), browser.outbox)
    identify = fresh.follow(fresh.get("/account/authenticator")).get_data(as_text=True)
    english_only += [s for s in ("Signing in to your Panjereh account",) if s in identify]
    sign_in_tokens(browser, rp, citizen)
    enrol_page = browser.get("/account/authenticator")
    english_only += [s for s in ("Add an authenticator app", "Cannot scan?")
                     if s in enrol_page.get_data(as_text=True)]
    secret = totp_secret(enrol_page.get_data(as_text=True))
    codes_page = browser.submit(enrol_page, "otp", {"otp": pyotp.TOTP(secret).now()}).get_data(as_text=True)
    english_only += [s for s in ("Your recovery codes", "Keep these codes") if s in codes_page]
    overview = browser.get("/account/").get_data(as_text=True)
    english_only += [s for s in ("Your Panjereh account", "Where you are signed in", "recovery codes left")
                     if s in overview]
    factor, _seen = follow_trace(browser, browser.get(rp.authorize_url(claims=ESSENTIAL_LOA3)))
    english_only += [s for s in ("Confirm with your authenticator app", "recovery code")
                     if s in factor.get_data(as_text=True)]
    wrong = browser.submit(factor, "otp", {"otp": wrong_code(next_totp(secret))}).get_data(as_text=True)
    english_only += [s for s in ("That code is not valid",) if s in wrong]
    assert english_only == []


def test_a_pending_secret_is_never_shown_to_another_citizen(app, rp, browser, citizens):
    a, b = citizens[0], citizens[1]
    sign_in_tokens(browser, rp, a)
    seen_by_a = totp_secret(browser.get("/account/authenticator").get_data(as_text=True))
    # A walks away without confirming or signing out; B signs in on the same browser
    response = browser.login(browser.follow(browser.get(rp.authorize_url(prompt="login"))),
                             b["national_id"], b["mobile"])
    if 'name="decision" value="allow"' in response.get_data(as_text=True):
        response = browser.consent(response)
    assert at_rp(response, rp)
    page = browser.get("/account/authenticator")
    assert page.status_code == 200
    assert b["first_name"] in browser.get("/account/").get_data(as_text=True)  # B's account
    assert totp_secret(page.get_data(as_text=True)) != seen_by_a


def test_guessing_at_the_factor_step_is_limited(app, rp, browser, citizen):
    """NIST SP 800-63B 5.2.2: at most 100 consecutive failed attempts on an account, then no more guesses
    (the SMS code allows 5 per challenge)."""
    sign_in_tokens(browser, rp, citizen)
    secret, codes = enrol_authenticator(browser)
    page, _paths = follow_trace(browser, browser.get(rp.authorize_url(claims=ESSENTIAL_LOA3)))
    valid = {next_totp(secret, steps) for steps in (-1, 0, 1, 2)}
    guesses = (f"{n:06d}" for n in range(1, 10 ** 6) if f"{n:06d}" not in valid)
    for _ in range(101):
        if not is_page_with(page, "recovery_code"):
            break  # the step ended: no more guessing here
        page = browser.submit(page, "otp", {"otp": next(guesses)})
    # whatever the page now, the right code must not still be accepted on the same factor step
    if is_page_with(page, "recovery_code"):
        response, seen = walk(browser, page, factor=codes[0])
        assert not at_rp(response, rp) or "code" not in query(response.headers["Location"])


def test_removal_is_carried_out_after_the_factor_step(app, rp, browser, citizen):
    sign_in_tokens(browser, rp, citizen)
    secret, _codes = enrol_authenticator(browser)
    response = browser.client.post("/account/authenticator/remove", data={**remove_form(browser),
                                                                           "decision": "remove"})
    _response, seen = walk(browser, response, factor=next_totp(secret))
    assert seen == ["factor"]
    assert active_authenticators(app) == 0
