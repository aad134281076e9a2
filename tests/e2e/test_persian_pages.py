"""The provider's Persian login pages, as served by the running process, contain no untranslated English."""

from __future__ import annotations

import re
from html.parser import HTMLParser


from tests.e2e.citizen import step_of

LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]+")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
SKIPPED = {"script", "style", "template", "noscript"}
SHOWN_ATTRIBUTES = ("aria-label", "placeholder", "alt", "title")


class VisibleText(HTMLParser):
    """Text a citizen sees or hears: text nodes and labelling attributes, minus scripts and other-language parts."""

    def __init__(self, html: str):
        super().__init__()
        self.open: list[tuple[str, bool]] = []
        self.chunks: list[str] = []
        self.feed(html)

    @property
    def skipping(self) -> bool:
        return bool(self.open) and self.open[-1][1]

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        lang = attrs.get("lang")
        skip = (self.skipping or tag in SKIPPED or "hidden" in attrs or attrs.get("type") == "hidden"
                or (lang is not None and not lang.startswith("fa")))  # e.g. the "English" language switch
        if not skip:
            self.chunks.extend(attrs[name] for name in SHOWN_ATTRIBUTES if attrs.get(name))
        if tag not in VOID:
            self.open.append((tag, skip))

    def handle_endtag(self, tag):
        for index in range(len(self.open) - 1, -1, -1):
            if self.open[index][0] == tag:
                del self.open[index:]
                return

    def handle_data(self, data):
        if not self.skipping and data.strip():
            self.chunks.append(data.strip())


def english_words(html: str, allowed: set[str]) -> list[str]:
    text = " ".join(VisibleText(html).chunks)
    for phrase in sorted(allowed, key=len, reverse=True):
        text = text.replace(phrase, " ")
    return LATIN_WORD.findall(text)


def test_the_persian_login_pages_are_all_persian(stack, citizen_browser):
    browser = citizen_browser("persian_pages")
    # The agency's display name is data, not interface text: `idp clients add` has no option for it, so a
    # service registered with the CLI shows its agency slug (reported separately).
    allowed = {stack.clients["tax"]["agency"]}
    found = {}

    browser.get(stack.tax_url + "/")
    page = browser.get(stack.tax_url + "/login")
    found["identify"] = english_words(page.text, allowed)
    page = browser.identify(page)
    found["verify"] = english_words(page.text, allowed)
    code = browser.last_code()
    page = browser.verify(page, f"{(int(code) + 1) % 10**6:06d}")
    assert step_of(page) == "verify" and page.status_code == 200
    found["verify, wrong code"] = english_words(page.text, allowed)
    page = browser.verify(page, code)
    assert step_of(page) == "consent"
    found["consent"] = english_words(page.text, allowed)

    untranslated = {name: words for name, words in found.items() if words}
    assert untranslated == {}, f"English words on Persian pages: {untranslated}"
