"""The administrators' console in a real browser (Debian's Chromium through Playwright), against the
process stack of ``tests/e2e/stack.py``.

Two administrators (granted with ``idp admins grant``, each adding an authenticator app on
``/account/authenticator``) sign in at loa3: the first on a phone in Persian, the second on a
desktop in English. The first registers a service (the form's errors explain the rules, the
secret is shown once); the console will not let them approve their own activation; the second
approves it. The service gets a token; the first suspends it: its next sign-in ends on an error
page and its token is inactive at introspection. Every console page is saved as a screenshot
under ``test-artifacts/screenshots/admin/``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from urllib.parse import urlencode

import pyotp
import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import SCREENSHOTS, PageWatch
from tests.browser.test_citizen_path import KNOWN_CONSOLE_ERRORS, assert_fits_the_phone, assert_language, sms_code
from tests.e2e.stack import idp_command, run
from tests.support import step_in, wait_for_step

#: citizens of the stack's registry kept for this test (others use 1-12): no session or consent to share
FIRST_ADMIN, SECOND_ADMIN = 30, 31
DESKTOP = {"width": 1280, "height": 900}
REDIRECT_URI = "http://127.0.0.1:9/callback"  # never followed: the test stops at the provider's pages


@pytest.fixture(scope="module")
def administrators(stack):
    """Two citizens with the administrator role, and a resource server that may introspect tokens."""
    idp = idp_command()
    people = [stack.citizens[FIRST_ADMIN], stack.citizens[SECOND_ADMIN]]
    for person in people:
        run(idp + ["admins", "grant", person["national_id"]], stack.env, "idp admins grant")
    out = run(idp + ["clients", "add", "--json", "--name", "Customs API gateway", "--agency", "ministry-of-economy",
                     "--grant-type", "client_credentials", "--scope", "introspection"], stack.env, "idp clients add")
    gateway = json.loads(out.strip().splitlines()[-1])
    return people, (gateway["client_id"], gateway["client_secret"])


@pytest.fixture
def desktop(chromium):
    """A desktop-sized English browser context (the second administrator), screenshots in admin/desktop-en/."""
    shots_dir = SCREENSHOTS / "admin" / "desktop-en"
    shots_dir.mkdir(parents=True, exist_ok=True)
    for old in shots_dir.glob("*.png"):
        old.unlink()
    context = chromium.new_context(viewport=DESKTOP, locale="en-US", device_scale_factor=1)
    context.set_default_timeout(15_000)
    yield PageWatch(context.new_page(), shots_dir)
    context.close()


def sign_in_as_administrator(stack, watch: PageWatch, person: dict) -> None:
    """SMS sign-in on the account page, add an authenticator app, then open the console with its code (loa3)."""
    page = watch.page
    page.goto(stack.issuer + "/account/authenticator")
    page.wait_for_url(re.compile(r"/interaction/[^/]+/identify"))
    page.locator("#national_id").fill(person["national_id"])
    page.locator("#mobile").fill(person["mobile"])
    page.locator("form:has(#national_id) button[type=submit]").click()
    wait_for_step(page, "verify")
    page.locator("#otp").fill(sms_code(stack, person["mobile"]))
    page.locator("form:has(#otp) button[type=submit]").click()
    page.wait_for_url(stack.issuer + "/account/authenticator")
    secret = page.locator("#totp-secret").inner_text().replace(" ", "").strip()
    totp = pyotp.TOTP(secret)
    page.locator("#otp").fill(totp.now())
    page.locator("form:has(#otp) button[type=submit]").click()
    expect(page.locator("#recovery-codes")).to_be_visible()

    page.goto(stack.issuer + "/admin/")
    page.wait_for_url(re.compile(r"/interaction/[^/]+/factor"))
    page.locator("#otp").fill(totp.at(time.time() + 30))  # the enrolment used this time-step's code
    page.locator("form:has(#otp) button[type=submit]").click()
    page.wait_for_url(stack.issuer + "/admin/")
    expect(page.locator("#counts")).to_be_visible()


def authorize_url(stack, client_id: str) -> str:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(secrets.token_bytes(32)).digest()).rstrip(b"=").decode()
    return stack.issuer + "/authorize?" + urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI, "scope": "openid profile",
        "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8), "code_challenge": challenge,
        "code_challenge_method": "S256"})


def introspect(stack, token: str, client_id: str, secret: str) -> requests.Response:
    return requests.post(stack.issuer + "/introspect", data={"token": token}, auth=(client_id, secret), timeout=10)


def assert_clean(watch: PageWatch) -> None:
    assert watch.foreign_requests() == [], f"requests to non-local hosts: {watch.foreign_requests()}"
    assert watch.page_errors == [], f"JavaScript errors: {watch.page_errors}"
    errors = [e for e in watch.console_errors if not KNOWN_CONSOLE_ERRORS.match(e)
              and "status of 400" not in e]  # the suspended service's /authorize answers 400, on purpose
    assert errors == [], f"console errors (a CSP violation shows here): {errors}"


def test_two_administrators_register_approve_and_suspend_a_service(stack, administrators, phone, desktop):
    (first, second), (gateway_id, gateway_secret) = administrators
    watch = phone("fa", "admin")
    page = watch.page

    # --- the first administrator, on a phone, in Persian ---
    sign_in_as_administrator(stack, watch, first)
    assert_language(page, "fa")
    assert_fits_the_phone(page, "dashboard")
    watch.shot("dashboard")

    page.locator('.console-nav a[href="/admin/agencies"]').click()
    page.wait_for_url(stack.issuer + "/admin/agencies")
    expect(page.locator("#agency-list")).to_contain_text("ministry-of-economy")
    assert_fits_the_phone(page, "agencies")
    watch.shot("agencies")
    page.locator('#agency-list a[href="/admin/agencies/ministry-of-economy"]').click()
    expect(page.locator("#agency-services")).to_contain_text("e2e-tax")
    assert_fits_the_phone(page, "agency")
    watch.shot("agency")
    page.locator("form:has(#expires_in) button[type=submit]").click()
    expect(page.locator("#initial-access-token")).to_be_visible()
    assert len(page.locator("#initial-access-token").inner_text().strip()) >= 32
    assert_fits_the_phone(page, "initial access token")
    watch.shot("initial-access-token")

    page.locator('.console-nav a[href="/admin/services"]').click()
    expect(page.locator("#service-list")).to_contain_text("e2e-health")
    assert_fits_the_phone(page, "services")
    watch.shot("services")

    # register a service: the addresses are checked first, each error next to its field
    page.goto(stack.issuer + "/admin/services/new?agency=ministry-of-economy")
    page.locator("#client_name").fill("E-Customs")
    page.locator("#client_name_fa").fill("گمرک الکترونیک")
    page.locator("#redirect_uris").fill("http://customs.example/callback\nhttps://customs.example/callback#top\n"
                                        "https://*.customs.example/callback")
    page.locator("#scope").fill("openid profile tax:read")
    page.locator('input[name="grant_types"][value="client_credentials"]').check()
    page.locator("form:has(#client_name) button[type=submit]").click()
    error = page.locator("#redirect_uris-error")
    expect(error).to_be_visible()
    for uri in ("http://customs.example/callback", "https://customs.example/callback#top",
                "https://*.customs.example/callback"):
        expect(error).to_contain_text(uri)
    expect(page.locator("#error-summary")).to_be_visible()
    assert_fits_the_phone(page, "service form with errors")
    watch.shot("register-errors")
    page.locator("#redirect_uris").fill(REDIRECT_URI)
    page.locator("form:has(#client_name) button[type=submit]").click()
    client_id = page.locator("#client-id").inner_text().strip()
    client_secret = page.locator("#client-secret").inner_text().strip()
    assert client_id and len(client_secret) >= 32
    assert_fits_the_phone(page, "service registered")
    watch.shot("registered")

    # the proposer cannot approve the activation: the button is disabled, and says why
    page.locator('.console-nav a[href="/admin/proposals"]').click()
    proposal = page.locator("article.proposal", has=page.locator(f'a[href="/admin/services/{client_id}"]'))
    approve = proposal.locator('form[action$="/approve"] button')
    expect(approve).to_be_disabled()
    why = proposal.locator(".help")
    expect(why).to_be_visible()
    proposal_id = proposal.get_attribute("id").removeprefix("proposal-")
    assert_fits_the_phone(page, "proposals")
    watch.shot("proposals-own")
    assert requests.get(authorize_url(stack, client_id), allow_redirects=False, timeout=10).status_code == 400

    # --- the second administrator, on a desktop, in English, approves ---
    desk = desktop.page
    desk.goto(stack.issuer + "/language/en?next=/")
    sign_in_as_administrator(stack, desktop, second)
    assert_language(desk, "en")
    desktop.shot("dashboard")
    desk.locator('.console-nav a[href="/admin/proposals"]').click()
    desktop.shot("proposals")
    desk.locator(f"#approve-{proposal_id}").click()
    expect(desk.locator(".alert-success")).to_contain_text(f"Proposal {proposal_id} is approved and applied")
    desktop.shot("approved")
    desk.goto(stack.issuer + f"/admin/services/{client_id}")
    expect(desk.locator("h1 .badge--active")).to_be_visible()
    desktop.shot("service")
    desk.goto(stack.issuer + "/admin/record")
    desk.locator("#record details").first.locator("summary").click()
    desktop.shot("record")
    assert_clean(desktop)

    # the service works: a sign-in starts, and it gets an agency-to-agency token
    started = requests.get(authorize_url(stack, client_id), allow_redirects=False, timeout=10)
    assert started.status_code == 200 and step_in(started.text) == "identify"
    issued = requests.post(stack.issuer + "/token", data={"grant_type": "client_credentials", "scope": "tax:read"},
                           auth=(client_id, client_secret), timeout=10)
    assert issued.status_code == 200, issued.text
    token = issued.json()["access_token"]
    assert introspect(stack, token, client_id, client_secret).json()["active"] is True

    # --- the first administrator suspends it, after a confirmation ---
    page.goto(stack.issuer + f"/admin/services/{client_id}")
    expect(page.locator("h1 .badge--active")).to_be_visible()
    assert_fits_the_phone(page, "service")
    watch.shot("service")
    page.locator("#suspend").click()
    expect(page.locator("#confirm")).to_be_visible()
    assert_fits_the_phone(page, "confirm suspension")
    watch.shot("confirm-suspend")
    page.locator("#confirm").click()
    page.wait_for_url(stack.issuer + f"/admin/services/{client_id}")
    expect(page.locator("h1 .badge--suspended")).to_be_visible()
    expect(page.locator("#live-tokens")).to_have_text(re.compile("^[0۰]$"))
    watch.shot("suspended")

    # its next sign-in ends on an error page, never at the service; its token is inactive. (Each provider
    # process re-reads its cached clients when the table changed, at most IDP_CLIENT_CACHE_SECONDS = 1 s later.)
    deadline = time.monotonic() + 5
    while requests.get(authorize_url(stack, client_id), allow_redirects=False, timeout=10).status_code != 400:
        assert time.monotonic() < deadline, "the suspended service still starts sign-ins after 5 seconds"
        time.sleep(0.2)
    page.goto(authorize_url(stack, client_id))
    expect(page.locator("#error-code")).to_have_text("invalid_client")
    watch.shot("authorize-refused")
    assert introspect(stack, token, gateway_id, gateway_secret).json() == {"active": False}
    # the suspended service itself can no longer authenticate to ask
    assert introspect(stack, token, client_id, client_secret).status_code == 401

    # the remaining console pages, for the record
    for path, step in ((f"/admin/services/{client_id}/edit", "edit"), (f"/admin/services/{client_id}/keys", "keys"),
                       (f"/admin/services/{client_id}/rotate-secret", "confirm-rotate"),
                       (f"/admin/services/{client_id}/reactivate", "confirm-reactivate"),
                       ("/admin/proposals", "proposals-decided"), ("/admin/record", "record"),
                       ("/admin/agencies/new", "new-agency")):
        page.goto(stack.issuer + path)
        assert_language(page, "fa")
        assert_fits_the_phone(page, step)
        watch.shot(step)
    assert_clean(watch)
