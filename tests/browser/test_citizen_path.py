"""The citizen's path in a real browser, at a phone's size, in Persian and in English.

Portal home -> sign in -> identify (national ID typed in Persian digits) -> SMS
code -> consent -> back on the portal, signed in. Every page visited is saved
as a full-page screenshot under ``test-artifacts/screenshots/<lang>/``.
"""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from idp.text import to_persian_digits
from tests.e2e.stack import CITIZEN_FOR
from tests.support import OTP_RUN, wait_for_step

DIRECTION = {"fa": "rtl", "en": "ltr"}
# Arabic-script letters, including Persian's پ چ ژ ک گ ی (digits are not letters: they prove nothing)
PERSIAN_LETTERS = re.compile(r"[\u0621-\u063A\u0641-\u064A\u067E\u0686\u0698\u06A9\u06AF\u06CC]")


# The portal's pages declare no icon, so Chromium asks for /favicon.ico and logs its 404 as a console
# error (whether it does so in a given context depends on its favicon cache). That known defect has its
# own strict-xfail test below; the path test ignores exactly that message and nothing else.
KNOWN_CONSOLE_ERRORS = re.compile(r"^Failed to load resource: the server responded with a status of 404 .*"
                                  r"\(http://127\.0\.0\.1:\d+/favicon\.ico\)$")


def sms_code(stack, mobile: str) -> str:
    texts = [m["text"] for m in stack.sms_lines() if m["to"] == mobile]
    assert texts, f"no SMS to {mobile}"
    return OTP_RUN.search(texts[-1]).group(1)


def assert_language(page, lang: str) -> None:
    root = page.locator("html")
    expect(root).to_have_attribute("dir", DIRECTION[lang])
    expect(root).to_have_attribute("lang", re.compile(rf"^{lang}\b"))


def assert_fits_the_phone(page, where: str) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, f"{where}: the page is {overflow}px wider than the phone's screen"


def assert_in_language(text: str, lang: str, what: str) -> None:
    text = text.strip()
    assert text, f"{what} is empty"
    if lang == "fa":
        assert PERSIAN_LETTERS.search(text), f"{what} is not in Persian: {text!r}"
    else:
        assert not PERSIAN_LETTERS.search(text), f"{what} is not in English: {text!r}"


@pytest.mark.parametrize("lang", ["fa", "en"])
def test_citizen_signs_in_on_a_phone(stack, phone, lang):
    person = stack.citizens[CITIZEN_FOR[f"browser_{lang}"]]
    watch = phone(lang)
    page = watch.page
    typed = to_persian_digits  # the citizen's keyboard types Persian digits

    # 1. the portal's home page
    page.goto(stack.tax_url + ("/?lang=en" if lang == "en" else "/"))
    assert_language(page, lang)
    sign_in = page.locator("#sign-in")
    expect(sign_in).to_be_visible()
    assert_in_language(sign_in.inner_text(), lang, "the sign-in button")
    assert_fits_the_phone(page, "portal home")
    watch.shot("portal-home")

    # 2. sign in -> the provider's identify page
    sign_in.click()
    wait_for_step(page, "identify")
    assert page.url.startswith(stack.issuer + "/")
    assert_language(page, lang)
    for field in ("national_id", "mobile"):
        label = page.locator(f'label[for="{field}"]')
        expect(label).to_be_visible()
        assert_in_language(label.inner_text(), lang, f"the {field} label")
        expect(page.locator(f"#{field}")).to_be_visible()
    assert_fits_the_phone(page, "identify")
    watch.shot("identify")

    national_id = page.locator("#national_id")
    national_id.click()
    national_id.press_sequentially(typed(person["national_id"]))
    expect(national_id).to_have_value(typed(person["national_id"]))
    page.locator("#mobile").press_sequentially(typed(person["mobile"]) if lang == "fa" else person["mobile"])
    watch.shot("identify-filled")
    sms_before = stack.sms_count()
    page.locator("form:has(#national_id) button[type=submit]").click()

    # 3. the code page
    wait_for_step(page, "verify")
    assert_language(page, lang)
    expect(page.locator('label[for="otp"]')).to_be_visible()
    assert_in_language(page.locator('label[for="otp"]').inner_text(), lang, "the code label")
    assert stack.sms_count() == sms_before + 1
    assert_fits_the_phone(page, "verify")
    watch.shot("verify")
    code = sms_code(stack, person["mobile"])
    page.locator("#otp").press_sequentially(typed(code) if lang == "fa" else code)
    page.locator("form:has(#otp) button[type=submit]").click()

    # 4. consent
    wait_for_step(page, "consent")
    assert_language(page, lang)
    allow = page.locator('button[name="decision"][value="allow"]')
    expect(allow).to_be_visible()
    expect(page.locator('button[name="decision"][value="deny"]')).to_be_visible()
    assert_in_language(allow.inner_text(), lang, "the allow button")
    expect(page.locator("main")).to_contain_text("سامانه مالیات الکترونیک" if lang == "fa" else "E-Tax Portal")
    assert_fits_the_phone(page, "consent")
    watch.shot("consent")
    allow.click()

    # 5. back on the portal, signed in
    page.wait_for_url(stack.tax_url + "/")
    assert_language(page, lang)
    heading = page.locator("#user-heading")
    expect(heading).to_contain_text(f"{person['first_name']} {person['last_name']}")
    expect(page.locator("dl.facts")).to_contain_text(person["national_id"])
    assert_fits_the_phone(page, "portal signed in")
    watch.shot("signed-in")

    # nothing left the machine, nothing broke in the page
    assert watch.foreign_requests() == [], f"requests to non-local hosts: {watch.foreign_requests()}"
    assert watch.page_errors == [], f"JavaScript errors: {watch.page_errors}"
    console_errors = [e for e in watch.console_errors if not KNOWN_CONSOLE_ERRORS.match(e)]
    assert console_errors == [], f"console errors: {console_errors}"
    assert watch.failed == [], f"failed requests: {watch.failed}"
    assert len(watch.shots) == 6 and all(p.stat().st_size > 0 for p in watch.shots)


def test_portal_pages_have_an_icon(stack):
    with requests.Session() as http:
        home = http.get(stack.tax_url + "/", timeout=10)
        declared = re.search(r"<link[^>]+rel=\"[^\"]*icon[^\"]*\"", home.text)
        assert declared or http.get(stack.tax_url + "/favicon.ico", timeout=10).status_code == 200


MASKED_GROUP_POSITIONS = """(candidates) => {
    const walker = document.createTreeWalker(document.querySelector("main"), NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const masked = candidates.find((c) => node.data.includes(c));
        if (masked === undefined) continue;
        const at = node.data.indexOf(masked);
        const x = (from, to) => {
            const range = document.createRange();
            range.setStart(node, from);
            range.setEnd(node, to);
            return range.getBoundingClientRect().left;
        };
        return {first: x(at, at + 4), last: x(at + masked.length - 4, at + masked.length), text: node.data};
    }
    return null;
}"""


def test_masked_mobile_reads_left_to_right_on_the_persian_code_page(stack, phone):
    """The citizen must see their own number as written: the first four digits on the left."""
    from idp.text import mask_mobile

    person = stack.citizens[CITIZEN_FOR["browser_bidi"]]
    watch = phone("fa", "fa-masked-mobile")
    page = watch.page
    page.goto(stack.tax_url + "/")
    page.locator("#sign-in").click()
    wait_for_step(page, "identify")
    page.locator("#national_id").fill(person["national_id"])
    page.locator("#mobile").fill(person["mobile"])
    page.locator("form:has(#national_id) button[type=submit]").click()
    wait_for_step(page, "verify")
    assert_language(page, "fa")
    watch.shot("verify")
    masked = mask_mobile(person["mobile"])
    where = page.evaluate(MASKED_GROUP_POSITIONS, [masked, to_persian_digits(masked)])
    assert where is not None, f"the page does not show {masked}"
    sentence = page.locator(".alert p").first.inner_text()
    assert PERSIAN_LETTERS.search(sentence), f"the sentence around {masked} is not in Persian: {sentence!r}"
    assert where["first"] < where["last"], (
        f"{masked} is displayed as {masked[-4:]}***{masked[:4]} (first group at x={where['first']:.0f}, "
        f"last group at x={where['last']:.0f})")
