"""Normalisation and validation of the identifiers citizens type in.

Citizens type national IDs and mobile numbers with Persian (۰-۹) or
Arabic-Indic (٠-٩) digits, with spaces, zero-width non-joiners and all kinds
of dashes in between. Everything here turns that input into one canonical
ASCII form, or rejects it with a short machine-readable ``reason``.

Pure functions only: no Flask, no I/O.
"""

import re
import unicodedata

_ASCII_DIGITS = "0123456789"
_PERSIAN_DIGITS = "۰۱۲۳۴۵۶۷۸۹"  # U+06F0..U+06F9
_ARABIC_INDIC_DIGITS = "٠١٢٣٤٥٦٧٨٩"  # U+0660..U+0669

_TO_ASCII = str.maketrans(_PERSIAN_DIGITS + _ARABIC_INDIC_DIGITS, _ASCII_DIGITS * 2)
_TO_PERSIAN = str.maketrans(_ASCII_DIGITS, _PERSIAN_DIGITS)

# ASCII hyphen-minus, U+2010..U+2015 (hyphens and dashes), minus sign,
# Arabic tatweel, small and fullwidth hyphen-minus.
_DASHES = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u0640\ufe58\ufe63\uff0d")
_PARENTHESES = frozenset("()")

_NATIONAL_ID = re.compile(r"[0-9]{10}")
# Groups: the optional country/trunk prefix, then the 10-digit subscriber part.
_MOBILE = re.compile(r"(?:\+98|0098|98|0)?(9[0-9]{9})")

_VISIBLE_MOBILE_DIGITS = 4


class _InvalidInput(ValueError):
    """Base for rejected input; ``reason`` is a short code, never the input itself."""

    what = "value"

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return f"invalid {self.what} ({self.reason})"


class InvalidNationalId(_InvalidInput):
    """A national ID that is not 10 digits (``"format"``) or fails its check digit (``"checksum"``)."""

    what = "national ID"


class InvalidMobile(_InvalidInput):
    """A number that is not an Iranian mobile number (``"format"``)."""

    what = "mobile number"


def normalize_digits(value: str) -> str:
    """Return ``value`` with Persian and Arabic-Indic digits replaced by ASCII digits."""
    return value.translate(_TO_ASCII)


def to_persian_digits(value) -> str:
    """Return ``str(value)`` with ASCII digits replaced by Persian digits, for display."""
    return str(value).translate(_TO_PERSIAN)


def _is_separator(char: str) -> bool:
    """True for whitespace and invisible format characters (ZWNJ, ZWSP, bidi marks, BOM)."""
    return char.isspace() or unicodedata.category(char) == "Cf"


def _compact(value, error: type[_InvalidInput], removable: frozenset = frozenset()) -> str:
    """Normalise digits and drop separators, dashes and the ``removable`` characters."""
    if not isinstance(value, str):
        raise error("format")
    return "".join(
        char
        for char in normalize_digits(value)
        if not (_is_separator(char) or char in _DASHES or char in removable)
    )


def national_id_check_digit(first9: str) -> int:
    """Return the mod-11 check digit for the first nine digits of a national ID."""
    if not re.fullmatch(r"[0-9]{9}", first9):
        raise ValueError("expected exactly nine ASCII digits")
    remainder = sum(int(digit) * (10 - position) for position, digit in enumerate(first9)) % 11
    return remainder if remainder < 2 else 11 - remainder


def normalize_national_id(value) -> str:
    """Return the national ID in ``value`` as 10 ASCII digits, or raise InvalidNationalId."""
    national_id = _compact(value, InvalidNationalId)
    if not _NATIONAL_ID.fullmatch(national_id):
        raise InvalidNationalId("format")
    if len(set(national_id)) == 1 or int(national_id[9]) != national_id_check_digit(national_id[:9]):
        raise InvalidNationalId("checksum")
    return national_id


def is_valid_national_id(value) -> bool:
    """True if ``value`` normalises to a valid national ID."""
    try:
        normalize_national_id(value)
    except InvalidNationalId:
        return False
    return True


def normalize_mobile(value) -> str:
    """Return the mobile number in ``value`` as ``09xxxxxxxxx``, or raise InvalidMobile.

    Accepted forms: ``09xxxxxxxxx``, ``+989xxxxxxxxx``, ``00989xxxxxxxxx``,
    ``989xxxxxxxxx`` and ``9xxxxxxxxx``, in any digit set, with spaces,
    dashes and parentheses anywhere.
    """
    match = _MOBILE.fullmatch(_compact(value, InvalidMobile, _PARENTHESES))
    if match is None:
        raise InvalidMobile("format")
    return "0" + match.group(1)


def mobile_to_e164(mobile) -> str:
    """Return the mobile number in E.164 form, e.g. ``+989121234567``."""
    return "+98" + normalize_mobile(mobile)[1:]


def mask_mobile(mobile) -> str:
    """Return the mobile number with its middle digits hidden, e.g. ``0912***4567``."""
    canonical = normalize_mobile(mobile)
    return canonical[:_VISIBLE_MOBILE_DIGITS] + "***" + canonical[-_VISIBLE_MOBILE_DIGITS:]
