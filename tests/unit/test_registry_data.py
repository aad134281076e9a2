import csv
import re
from datetime import date
from itertools import islice

import pytest

from idp import registry_data
from idp.registry_data import (
    CAPACITY,
    CSV_COLUMNS,
    DEMO_CITIZENS,
    FEMALE_FIRST_NAMES,
    LAST_NAMES,
    MALE_FIRST_NAMES,
    REFERENCE_DATE,
    SeededPermutation,
    demo_citizens,
    generate_citizens,
    write_csv,
)
from idp.text import is_valid_national_id, normalize_mobile, normalize_national_id

SAMPLE_SIZE = 20_000
# Persian letters (including پ چ ژ گ ک ی and آ) with the zero-width non-joiner.
PERSIAN_NAME = re.compile(r"[\u0621-\u063A\u0641-\u0648\u067E\u0686\u0698\u06A9\u06AF\u06CC\u0622\u200c]+")


@pytest.fixture(scope="module")
def sample():
    return list(generate_citizens(SAMPLE_SIZE))


def age_on(birth_date, day):
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


# --- the name tables ------------------------------------------------------

def test_name_tables_are_large_distinct_and_in_persian_script():
    assert len(MALE_FIRST_NAMES) >= 40
    assert len(FEMALE_FIRST_NAMES) >= 40
    assert len(LAST_NAMES) >= 60
    tables = MALE_FIRST_NAMES + FEMALE_FIRST_NAMES + LAST_NAMES
    persian = [name for name, _ in tables]
    latin = [name for _, name in tables]
    assert len(set(persian)) == len(persian)
    assert len(set(latin)) == len(latin)
    for name in persian:
        assert PERSIAN_NAME.fullmatch(name), name
        assert "ي" not in name and "ك" not in name  # Arabic yeh and kaf
    for name in latin:
        assert re.fullmatch(r"[a-z]+", name), name


# --- the permutation behind uniqueness -----------------------------------

@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 1000, 4097])
def test_seeded_permutation_is_a_bijection(size):
    permutation = SeededPermutation(size, "test")
    assert sorted(permutation(index) for index in range(size)) == list(range(size))


def test_seeded_permutation_depends_on_the_key_and_rejects_out_of_range():
    first, second = SeededPermutation(10_000, "a"), SeededPermutation(10_000, "b")
    assert [first(i) for i in range(20)] != [second(i) for i in range(20)]
    assert [first(i) for i in range(20)] != list(range(20))
    with pytest.raises(IndexError):
        first(10_000)
    with pytest.raises(IndexError):
        first(-1)


def test_national_id_prefixes_skip_repeated_digits_at_block_edges():
    step = 111_111_111
    prefixes = [registry_data._national_id(index)[:9] for index in
                (0, step - 2, step - 1, 2 * (step - 1) - 1, 2 * (step - 1), 9 * (step - 1) - 1)]
    assert prefixes == ["000000001", "111111110", "111111112", "222222221", "222222223", "999999998"]
    for index in (0, step - 2, step - 1, 9 * (step - 1) - 1):
        assert is_valid_national_id(registry_data._national_id(index))


# --- generated rows -------------------------------------------------------

def test_generation_is_deterministic_and_seeded(sample):
    assert list(generate_citizens(200)) == sample[:200]
    assert list(generate_citizens(200, seed=registry_data.DEFAULT_SEED)) == sample[:200]
    other = list(generate_citizens(200, seed=7))
    assert other != sample[:200]
    assert not {row["national_id"] for row in other} & {row["national_id"] for row in sample[:200]}


def test_generation_streams():
    rows = generate_citizens(10_000_000)
    assert iter(rows) is rows
    assert list(islice(rows, 3)) == list(generate_citizens(3))


def test_count_bounds():
    assert list(generate_citizens(0)) == []
    with pytest.raises(ValueError):
        next(generate_citizens(-1))
    with pytest.raises(ValueError):
        next(generate_citizens(CAPACITY + 1))
    assert CAPACITY >= 10_000_000


def test_rows_have_exactly_the_csv_columns_as_strings(sample):
    for row in sample:
        assert tuple(row) == CSV_COLUMNS
        assert all(isinstance(value, str) for value in row.values())
        assert all(row[column] for column in CSV_COLUMNS[:5])


def test_national_ids_are_valid_canonical_and_unique(sample):
    national_ids = [row["national_id"] for row in sample]
    assert len(set(national_ids)) == SAMPLE_SIZE
    for national_id in national_ids:
        assert normalize_national_id(national_id) == national_id


def test_mobiles_are_canonical_and_unique(sample):
    mobiles = [row["mobile"] for row in sample]
    assert len(set(mobiles)) == SAMPLE_SIZE
    for mobile in mobiles:
        assert normalize_mobile(mobile) == mobile
        assert mobile[:4] in registry_data.MOBILE_PREFIXES


def test_gender_matches_first_name_and_fathers_are_male(sample):
    male = {name for name, _ in MALE_FIRST_NAMES}
    female = {name for name, _ in FEMALE_FIRST_NAMES}
    last = {name for name, _ in LAST_NAMES}
    for row in sample:
        assert row["gender"] in ("male", "female")
        assert row["first_name"] in (male if row["gender"] == "male" else female)
        assert row["father_name"] in male
        assert row["last_name"] in last
    men = sum(row["gender"] == "male" for row in sample)
    assert 0.45 < men / SAMPLE_SIZE < 0.55


def test_birth_dates_are_iso_and_adult(sample):
    ages = []
    for row in sample:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["birth_date"])
        ages.append(age_on(date.fromisoformat(row["birth_date"]), REFERENCE_DATE))
    assert min(ages) == 18
    assert max(ages) == 90


def test_about_half_have_unique_example_emails(sample):
    emails = [row["email"] for row in sample if row["email"]]
    assert 0.45 < len(emails) / SAMPLE_SIZE < 0.55
    assert len(set(emails)) == len(emails)
    for email in emails:
        assert re.fullmatch(r"[a-z]+\.[a-z]+\d+@example\.(com|org|net)", email), email


def test_demo_citizens_are_the_first_two_rows(sample):
    assert demo_citizens() == sample[:2]
    assert list(DEMO_CITIZENS) == sample[:2]
    assert demo_citizens(seed=7) == list(generate_citizens(2, seed=7))


# --- CSV ------------------------------------------------------------------

def test_write_csv_round_trips(tmp_path, sample):
    path = tmp_path / "registry.csv"
    assert write_csv(path, 500) == 500
    raw = path.read_bytes()
    assert raw.startswith(b"national_id,first_name,last_name,birth_date,mobile,father_name,gender,email\r\n")
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows == sample[:500]


def test_write_csv_with_a_seed(tmp_path):
    path = tmp_path / "seeded.csv"
    write_csv(str(path), 3, seed=99)
    with open(path, encoding="utf-8", newline="") as handle:
        assert list(csv.DictReader(handle)) == list(generate_citizens(3, seed=99))
