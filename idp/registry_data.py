"""A deterministic synthetic civil registry, for the demo and the tests.

The real registry is loaded from a CSV file with the columns in
``CSV_COLUMNS``; this module writes files of the same shape, filled with
plausible citizens: Persian names in Persian script, valid national IDs,
unique mobile numbers and adult birth dates.

Rows are streamed, so ten million of them need no more memory than ten.
National IDs and mobile numbers are unique by construction: each is derived
from the row index through a seeded bijection (``SeededPermutation``), so no
set of already-issued values is kept. Emails use the reserved example
domains (RFC 2606) and so never reach a real mailbox.
"""

import csv
import random
from datetime import date, timedelta
from typing import Iterator

from idp.text import national_id_check_digit

CSV_COLUMNS = (
    "national_id",
    "first_name",
    "last_name",
    "birth_date",
    "mobile",
    "father_name",
    "gender",
    "email",
)
REQUIRED_COLUMNS = CSV_COLUMNS[:5]

DEFAULT_SEED = 1404

# Ages are counted at a fixed date (Nowruz 1404) so output never depends on
# the day it is generated; every citizen is 18 to 90 years old on that day.
REFERENCE_DATE = date(2025, 3, 21)
MIN_AGE, MAX_AGE = 18, 90

# Mobile numbers: 26 real operator prefixes, each followed by 7 free digits.
MOBILE_PREFIXES = tuple(
    [f"091{d}" for d in range(10)]
    + [f"099{d}" for d in range(5)]
    + ["0930", "0933", "0935", "0936", "0937", "0938", "0939"]
    + [f"090{d}" for d in range(1, 5)]
)
_MOBILE_SUBSCRIBERS = 10**7

# The first nine digits of a national ID, minus the ten repeated-digit
# prefixes 000000000, 111111111, ... 999999999 (which give the rejected IDs
# 0000000000 ... 9999999999).
_REPDIGIT_STEP = 111_111_111
_NATIONAL_ID_PREFIXES = 10**9 - 10

CAPACITY = min(_NATIONAL_ID_PREFIXES, len(MOBILE_PREFIXES) * _MOBILE_SUBSCRIBERS)

_EMAIL_DOMAINS = ("example.com", "example.org", "example.net")


def _names(table: str) -> tuple[tuple[str, str], ...]:
    """Parse lines of ``<Persian name> <Latin transliteration>`` pairs."""
    return tuple(tuple(line.split()) for line in table.strip().splitlines())


MALE_FIRST_NAMES = _names("""
    علی ali
    محمد mohammad
    حسین hossein
    حسن hassan
    رضا reza
    مهدی mahdi
    امیر amir
    محمدرضا mohammadreza
    علیرضا alireza
    مصطفی mostafa
    سعید saeed
    حمید hamid
    مجید majid
    احمد ahmad
    جواد javad
    کاظم kazem
    ابوالفضل abolfazl
    امیرحسین amirhossein
    محسن mohsen
    مرتضی morteza
    بهروز behrouz
    داریوش dariush
    کوروش kourosh
    فرهاد farhad
    بهزاد behzad
    پیمان peyman
    آرش arash
    بابک babak
    کیوان keyvan
    سیاوش siavash
    نیما nima
    پویا pouya
    سینا sina
    یاسر yaser
    هادی hadi
    اکبر akbar
    یوسف yousef
    رامین ramin
    شهرام shahram
    مسعود masoud
    ایمان iman
    میلاد milad
""")

FEMALE_FIRST_NAMES = _names("""
    فاطمه fatemeh
    زهرا zahra
    مریم maryam
    زینب zeinab
    معصومه masoumeh
    سارا sara
    نرگس narges
    الهام elham
    لیلا leila
    مهسا mahsa
    نگار negar
    پریسا parisa
    شیرین shirin
    مینا mina
    سمیرا samira
    آزاده azadeh
    نازنین nazanin
    فرشته fereshteh
    سمیه somayeh
    اعظم azam
    طاهره tahereh
    راحله raheleh
    مهناز mahnaz
    شهناز shahnaz
    پروین parvin
    هانیه hanieh
    ریحانه reyhaneh
    کوثر kowsar
    یاسمن yasaman
    نیلوفر niloufar
    ترانه taraneh
    بهاره bahareh
    سپیده sepideh
    فرناز farnaz
    مهتاب mahtab
    آیدا aida
    هستی hasti
    ستاره setareh
    رویا roya
    شبنم shabnam
    الناز elnaz
    گلناز golnaz
""")

LAST_NAMES = _names("""
    محمدی mohammadi
    حسینی hosseini
    احمدی ahmadi
    رضایی rezaei
    موسوی mousavi
    کریمی karimi
    جعفری jafari
    صادقی sadeghi
    رحیمی rahimi
    هاشمی hashemi
    قاسمی ghasemi
    عباسی abbasi
    نوری nouri
    کاظمی kazemi
    ابراهیمی ebrahimi
    مرادی moradi
    اکبری akbari
    حیدری heidari
    امیری amiri
    سلیمانی soleimani
    نجفی najafi
    یوسفی yousefi
    زمانی zamani
    طاهری taheri
    شریفی sharifi
    بهرامی bahrami
    فرهادی farhadi
    کرمانی kermani
    تهرانی tehrani
    شیرازی shirazi
    اصفهانی esfahani
    تبریزی tabrizi
    رستمی rostami
    صفری safari
    قربانی ghorbani
    خسروی khosravi
    نظری nazari
    اسدی asadi
    ملکی maleki
    فتحی fathi
    باقری bagheri
    سلطانی soltani
    توکلی tavakoli
    مختاری mokhtari
    انصاری ansari
    جلالی jalali
    پارسا parsa
    فراهانی farahani
    دهقان dehghan
    کیانی kiani
    حسین‌زاده hosseinzadeh
    علی‌پور alipour
    قلی‌زاده gholizadeh
    محمدپور mohammadpour
    میرزایی mirzaei
    شجاعی shojaei
    افشار afshar
    نیک‌نام niknam
    بابایی babaei
    یزدانی yazdani
    عسگری asgari
    اکبرزاده akbarzadeh
""")


class SeededPermutation:
    """A seeded bijection on ``range(size)``.

    A four-round Feistel network permutes the smallest even-bit power of two
    that holds ``size`` values; outputs that fall outside ``range(size)`` are
    fed through again ("cycle walking"), which keeps the map a bijection.
    """

    _ROUNDS = 4

    def __init__(self, size: int, key: str):
        if size < 1:
            raise ValueError("size must be positive")
        self.size = size
        bits = max(2, (size - 1).bit_length())
        self._half_bits = (bits + 1) // 2
        self._half_mask = (1 << self._half_bits) - 1
        rng = random.Random(key)
        self._round_keys = [rng.getrandbits(32) for _ in range(self._ROUNDS)]

    def _feistel(self, value: int) -> int:
        left, right = value >> self._half_bits, value & self._half_mask
        for round_key in self._round_keys:
            mixed = ((right ^ round_key) * 0x9E3779B1) & 0xFFFFFFFF
            left, right = right, left ^ ((mixed ^ (mixed >> 15)) & self._half_mask)
        return (left << self._half_bits) | right

    def __call__(self, index: int) -> int:
        if not 0 <= index < self.size:
            raise IndexError("index outside the permuted range")
        value = self._feistel(index)
        while value >= self.size:
            value = self._feistel(value)
        return value


def _national_id(prefix_index: int) -> str:
    """Return the national ID for the ``prefix_index``-th non-repeated-digit prefix.

    Repeated-digit prefixes sit at multiples of 111111111; each block between
    two of them holds 111111110 usable prefixes.
    """
    block, offset = divmod(prefix_index, _REPDIGIT_STEP - 1)
    first9 = f"{block * _REPDIGIT_STEP + 1 + offset:09d}"
    return first9 + str(national_id_check_digit(first9))


def _mobile(number_index: int) -> str:
    """Return the ``number_index``-th mobile number across ``MOBILE_PREFIXES``."""
    prefix, subscriber = divmod(number_index, _MOBILE_SUBSCRIBERS)
    return f"{MOBILE_PREFIXES[prefix]}{subscriber:07d}"


def generate_citizens(count: int, seed: int = DEFAULT_SEED) -> Iterator[dict]:
    """Yield ``count`` synthetic citizens as dicts keyed by ``CSV_COLUMNS``.

    The same seed always gives the same rows, and a longer run starts with
    the rows of a shorter one. All values are strings; ``email`` is empty for
    about half of the rows.
    """
    if not 0 <= count <= CAPACITY:
        raise ValueError(f"count must be between 0 and {CAPACITY}")
    national_ids = SeededPermutation(_NATIONAL_ID_PREFIXES, f"{seed}:national_id")
    mobiles = SeededPermutation(len(MOBILE_PREFIXES) * _MOBILE_SUBSCRIBERS, f"{seed}:mobile")
    rng = random.Random(f"{seed}:citizens")
    latest_birth = REFERENCE_DATE.replace(year=REFERENCE_DATE.year - MIN_AGE)
    earliest_birth = REFERENCE_DATE.replace(year=REFERENCE_DATE.year - MAX_AGE - 1) + timedelta(days=1)
    birth_span_days = (latest_birth - earliest_birth).days

    for index in range(count):
        gender = rng.choice(("male", "female"))
        first_name, first_latin = rng.choice(MALE_FIRST_NAMES if gender == "male" else FEMALE_FIRST_NAMES)
        last_name, last_latin = rng.choice(LAST_NAMES)
        father_name, _ = rng.choice(MALE_FIRST_NAMES)
        birth_date = earliest_birth + timedelta(days=rng.randint(0, birth_span_days))
        has_email = rng.random() < 0.5
        email_domain = rng.choice(_EMAIL_DOMAINS)
        yield {
            "national_id": _national_id(national_ids(index)),
            "first_name": first_name,
            "last_name": last_name,
            "birth_date": birth_date.isoformat(),
            "mobile": _mobile(mobiles(index)),
            "father_name": father_name,
            "gender": gender,
            # The row number keeps emails unique; names never contain digits.
            "email": f"{first_latin}.{last_latin}{index + 1}@{email_domain}" if has_email else "",
        }


def write_csv(path, count: int, seed: int = DEFAULT_SEED) -> int:
    """Write ``count`` synthetic citizens to a UTF-8 CSV file with a header; return ``count``."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(generate_citizens(count, seed))
    return count


def demo_citizens(seed: int = DEFAULT_SEED) -> list[dict]:
    """Return the two demo citizens: the first two generated rows."""
    return list(generate_citizens(2, seed))


DEMO_CITIZENS = tuple(demo_citizens())
"""The demo citizens for the default seed (the console prints these)."""
