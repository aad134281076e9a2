"""Translations: every user-facing message has a Persian translation, the
translations keep their placeholders and Persian typography, the committed
``.mo`` files match their ``.po`` files, and the pages render in the chosen
language and direction.

After changing user-facing strings run ``make translations``, translate the
new entries in ``idp/translations/fa/LC_MESSAGES/messages.po`` and compile
(``pybabel compile -d idp/translations``); these tests say what is missing.
"""

from __future__ import annotations

import re
from collections import defaultdict
from io import BytesIO
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from tests.support import Forms, sms_messages

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "idp"
TRANSLATIONS = PACKAGE / "translations"
FA_PO = TRANSLATIONS / "fa" / "LC_MESSAGES" / "messages.po"
LOCALES = ("fa", "en")

# the keywords of `make translations` (-k _l) plus the Flask-Babel names that pybabel does not know
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "lazy_ngettext": (1, 2),
            "lazy_pgettext": ((1, "c"), 2)}

# %(name)s, %(count)d, %(x)05.2f ... (and the positional %s, which must not appear either)
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[#0 +\-]*(?:\d+|\*)?(?:\.\d+)?[diouxXeEfFgGcrsa]")
ZWNJ = "\u200c"


# --- helpers -------------------------------------------------------------------------------------


def _mapping():
    """babel.cfg's mapping, its patterns made relative to the ``idp`` package.

    babel.cfg names files from the project root (``idp/**.py``); either way the
    messages are those of the ``idp`` package's code and templates.
    """
    with open(ROOT / "babel.cfg", encoding="utf-8") as fileobj:
        method_map, options_map = parse_mapping_cfg(fileobj, filename=str(ROOT / "babel.cfg"))

    def relative(pattern: str) -> str:
        return pattern[len("idp/"):] if pattern.startswith("idp/") else pattern

    return ([(relative(pattern), method) for pattern, method in method_map],
            {relative(pattern): options for pattern, options in options_map.items()})


def _key(message, context=None):
    """The catalog key: the singular msgid (plurals are keyed by it) and the context."""
    msgid = message[0] if isinstance(message, (tuple, list)) else message
    return msgid, context


def _placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text.replace("%%", "")))


def _strings(message) -> tuple[str, ...]:
    return message.string if isinstance(message.string, (tuple, list)) else (message.string,)


def _ids(message) -> tuple[str, ...]:
    return tuple(message.id) if isinstance(message.id, (tuple, list)) else (message.id,)


def _where(locations) -> str:
    return ", ".join(f"{filename}:{lineno}" for filename, lineno in locations)


def _read_po(path: Path):
    with open(path, "rb") as fileobj:
        return read_po(fileobj, locale=path.parts[-3])


def _messages(catalog) -> dict:
    """{(msgid, context): msgstr} for every translated, non-fuzzy entry (the header left out)."""
    return {(m.id if isinstance(m.id, str) else tuple(m.id), m.context): m.string if isinstance(m.string, str)
            else tuple(m.string)
            for m in catalog if m.id and not m.fuzzy and any(_strings(m))}


@pytest.fixture(scope="module")
def source_messages() -> dict:
    """{(msgid, context): [(file, line), ...]} for every message in idp's code and templates."""
    method_map, options_map = _mapping()
    found = defaultdict(list)
    for filename, lineno, message, _comments, context in extract_from_dir(
            str(PACKAGE), method_map, options_map, keywords=KEYWORDS):
        found[_key(message, context)].append((f"idp/{filename}", lineno))
    return dict(found)


@pytest.fixture(scope="module")
def fa_catalog():
    assert FA_PO.exists(), f"no Persian catalog at {FA_PO.relative_to(ROOT)}"
    return _read_po(FA_PO)


def _fa_messages(fa_catalog):
    return [m for m in fa_catalog if m.id and any(_strings(m))]


# --- catalog completeness ---------------------------------------------------------------------------


def test_messages_are_extracted(source_messages):
    # guards the extraction itself: an empty result would make the next test pass vacuously
    assert len(source_messages) >= 50, f"only {len(source_messages)} messages extracted from idp/"
    assert ("Panjereh", None) in source_messages
    assert ("National ID", None) in source_messages, "lazy_gettext (_l) messages of idp/forms.py not extracted"
    assert ("Share your data?", None) in source_messages, "template messages not extracted"


def test_every_message_has_a_persian_translation(source_messages, fa_catalog):
    missing = []
    for (msgid, context), locations in sorted(source_messages.items(), key=lambda item: item[1][0]):
        entry = fa_catalog.get(msgid, context=context)
        if entry is None:
            missing.append(f"{_where(locations)}: {msgid!r} (not in the catalog: run `make translations`)")
        elif entry.fuzzy:
            missing.append(f"{_where(locations)}: {msgid!r} (fuzzy)")
        elif not all(s.strip() for s in _strings(entry)):
            missing.append(f"{_where(locations)}: {msgid!r} (empty)")
    assert not missing, (f"{len(missing)} message(s) without a Persian translation in "
                         f"{FA_PO.relative_to(ROOT)}:\n  " + "\n  ".join(missing))


def test_catalog_header_is_persian(fa_catalog):
    assert str(fa_catalog.locale) == "fa"
    assert not fa_catalog.fuzzy, "the Persian catalog's header is marked fuzzy: pybabel compile would skip it"


# --- the translations themselves -----------------------------------------------------------------


def test_translations_keep_the_placeholders(fa_catalog):
    wrong = []
    for message in _fa_messages(fa_catalog):
        expected = set().union(*(_placeholders(i) for i in _ids(message)))
        for string in _strings(message):
            got = _placeholders(string)
            if got != expected:
                wrong.append(f"{message.id!r}: expected {sorted(expected)}, got {sorted(got)} in {string!r}")
                continue
            # exactly what Flask-Babel does: ``gettext(msgid, **variables)`` is ``msgstr % variables``
            if expected:
                try:
                    string % defaultdict(lambda: 1)
                except (TypeError, ValueError, KeyError) as exc:
                    wrong.append(f"{message.id!r}: {string!r} cannot be formatted ({exc})")
            elif "%" in string.replace("%%", "") and "%" not in "".join(_ids(message)):
                wrong.append(f"{message.id!r}: stray '%' in {string!r}")
    assert not wrong, "placeholders differ between msgid and Persian msgstr:\n  " + "\n  ".join(wrong)


def test_translations_keep_line_breaks_and_edges(fa_catalog):
    wrong = []
    for message in _fa_messages(fa_catalog):
        msgid = _ids(message)[0]
        for string in _strings(message):
            if string.count("\n") != msgid.count("\n"):
                wrong.append(f"{msgid!r}: {msgid.count(chr(10))} line break(s), "
                             f"{string!r} has {string.count(chr(10))}")
            if string != string.strip() and msgid == msgid.strip():
                wrong.append(f"{msgid!r}: leading/trailing whitespace in {string!r}")
            if "  " in string and "  " not in msgid:
                wrong.append(f"{msgid!r}: double space in {string!r}")
            # Jinja marks translations safe (Markup): markup the msgid does not have would reach the page raw
            if any(string.count(c) != msgid.count(c) for c in "<>&"):
                wrong.append(f"{msgid!r}: HTML characters (<, >, &) differ in {string!r}")
    assert not wrong, "\n  ".join(["Persian translations whose shape differs from the msgid:", *wrong])


_LATIN_PUNCTUATION = {",": "،", "?": "؟", ";": "؛"}
_ARABIC_LETTERS = {"\u064a": "ی (U+06CC)", "\u0643": "ک (U+06A9)", "\u0649": "ی (U+06CC)"}
_ARABIC_INDIC_DIGITS = re.compile("[\u0660-\u0669]")
# the prefixes می/نمی written apart from their verb with a space instead of a zero-width non-joiner
_DETACHED_MI = re.compile(r"(?:^|(?<=[\s«(]))(?:ن?می|ن?مي) (?=[\u0600-\u06ff])")


def test_persian_typography(fa_catalog):
    problems = []
    for message in _fa_messages(fa_catalog):
        for string in _strings(message):
            text = PLACEHOLDER.sub("", string)
            for latin, persian in _LATIN_PUNCTUATION.items():
                if latin in text:
                    problems.append(f"{string!r}: use «{persian}» instead of {latin!r}")
            for arabic, persian in _ARABIC_LETTERS.items():
                if arabic in text:
                    problems.append(f"{string!r}: Arabic letter U+{ord(arabic):04X}, use {persian}")
            if _ARABIC_INDIC_DIGITS.search(text):
                problems.append(f"{string!r}: Arabic-Indic digits, use Persian digits (۰-۹)")
            if _DETACHED_MI.search(text):
                problems.append(f"{string!r}: write می/نمی with a zero-width non-joiner (می{ZWNJ}شود)")
            if not re.search("[\u0600-\u06ff]", text):
                problems.append(f"{message.id!r}: translation {string!r} has no Persian letters")
    assert not problems, "Persian typography:\n  " + "\n  ".join(problems)


# --- compiled catalogs -------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_compiled_catalog_is_up_to_date(locale):
    po = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"
    mo = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.mo"
    assert po.exists(), f"no catalog {po.relative_to(ROOT)}"
    assert mo.exists(), f"{mo.relative_to(ROOT)} is missing: run `pybabel compile -d idp/translations`"
    fresh = BytesIO()
    write_mo(fresh, _read_po(po))  # what `pybabel compile` writes (fuzzy entries left out)
    fresh.seek(0)
    with open(mo, "rb") as fileobj:
        committed = _messages(read_mo(fileobj))
    expected = _messages(read_mo(fresh))
    stale = sorted(str(k[0]) for k in expected.keys() ^ committed.keys()) + sorted(
        str(k[0]) for k in expected.keys() & committed.keys() if expected[k] != committed[k])
    assert not stale, (f"{mo.relative_to(ROOT)} is out of date with its .po "
                       f"(run `pybabel compile -d idp/translations`); differing messages:\n  " + "\n  ".join(stale))


# --- rendering ----------------------------------------------------------------------------------------


def _html_attrs(html: str) -> str:
    found = re.search(r"<html\b[^>]*>", html)
    assert found, html[:300]
    return found.group(0)


def test_home_page_renders_in_persian_then_english(app):
    client = app.test_client()

    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'dir="rtl"' in _html_attrs(html) and 'lang="fa"' in _html_attrs(html)
    assert "پنجره" in html  # "Panjereh"
    assert "ورود یکپارچهٔ خدمات دولتی" in html  # "Government single sign-on"
    assert "One sign-in for every government service" not in html

    switched = client.get("/language/en?next=/")
    assert switched.status_code == 302 and switched.headers["Location"].endswith("/")

    html = client.get("/").get_data(as_text=True)
    assert 'dir="ltr"' in _html_attrs(html) and 'lang="en"' in _html_attrs(html)
    assert "One sign-in for every government service" in html
    assert "Government single sign-on" in html
    assert "پنجره" not in html

    client.get("/language/fa?next=/")
    html = client.get("/").get_data(as_text=True)
    assert 'dir="rtl"' in _html_attrs(html) and 'lang="fa"' in _html_attrs(html)


def test_python_messages_render_in_the_chosen_language(app):
    client = app.test_client()
    page = client.get("/no-such-page")
    assert page.status_code == 404
    html = page.get_data(as_text=True)
    assert "صفحه پیدا نشد" in html and "Page not found" not in html

    client.get("/language/en?next=/")
    html = client.get("/no-such-page").get_data(as_text=True)
    assert "Page not found" in html and 'dir="ltr"' in _html_attrs(html)


def test_sign_in_forms_and_sms_are_in_persian(app, rp, browser, citizen, settings):
    page = browser.follow(browser.get(rp.authorize_url()))
    html = page.get_data(as_text=True)
    assert 'name="national_id"' in html and 'lang="fa"' in _html_attrs(html)
    assert "ورود با کد ملی" in html  # "Sign in with your national ID"
    assert "کد ملی" in html and "National ID" not in html  # the lazy_gettext field label

    # the validators' lazy messages, rendered after a submission
    empty = browser.submit(page, "national_id", {"national_id": "", "mobile": ""})
    html = empty.get_data(as_text=True)
    assert "کد ملی خود را وارد کنید." in html and "Enter your national ID." not in html

    # the SMS is written in the citizen's language and still carries the code
    browser.follow(browser.submit(page, "national_id", {"national_id": citizen["national_id"],
                                                        "mobile": citizen["mobile"]}))
    texts = [m["text"] for m in sms_messages(Path(settings.sms_outbox))]
    assert texts and "کد ورود به پنجره" in texts[-1], texts
    assert re.search(r"(?<!\d)\d{6}(?!\d)", texts[-1])


def test_sign_in_page_follows_ui_locales_en(app, rp, browser):
    page = browser.follow(browser.get(rp.authorize_url(ui_locales="en")))
    html = page.get_data(as_text=True)
    assert 'lang="en"' in _html_attrs(html) and 'dir="ltr"' in _html_attrs(html)
    assert "Sign in with your national ID" in html
    assert Forms(html).with_field("national_id")
