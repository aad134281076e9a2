import pytest

from idp.text import (
    InvalidMobile,
    InvalidNationalId,
    is_valid_national_id,
    mask_mobile,
    mobile_to_e164,
    national_id_check_digit,
    normalize_digits,
    normalize_mobile,
    normalize_national_id,
    to_persian_digits,
)

PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def in_all_digit_sets(value):
    return [value, value.translate(PERSIAN), value.translate(ARABIC)]


# Worked by hand with s = sum(d[i] * (10 - i) for i < 9) % 11, e.g.
#   0200203241: 2*9 + 2*6 + 3*4 + 2*3 + 4*2 = 56, 56 % 11 = 1 -> check digit 1
#   9876543210: 90+72+56+42+30+20+12+6+2 = 330, 330 % 11 = 0 -> check digit 0
#   1000000001: 10 % 11 = 10 -> check digit 11 - 10 = 1
#   0000001007: 1*4 = 4 -> check digit 11 - 4 = 7
VALID_IDS = [
    "0499370899",  # s = 2
    "0200203241",  # s = 1
    "1234567891",  # s = 1
    "9876543210",  # s = 0
    "2222222230",  # s = 0
    "1000000001",  # s = 10
    "0000001007",  # s = 4
    "0790419904",
    "0084575948",
    "0067749828",
]


# --- digits ---------------------------------------------------------------

def test_normalize_digits_maps_persian_and_arabic_indic_digits():
    assert normalize_digits("۰۱۲۳۴۵۶۷۸۹") == "0123456789"
    assert normalize_digits("٠١٢٣٤٥٦٧٨٩") == "0123456789"
    assert normalize_digits("کد ۱۲٣4") == "کد 1234"


def test_normalize_digits_leaves_other_characters_alone():
    assert normalize_digits("abc ²½ ١٢") == "abc ²½ 12"
    assert normalize_digits("") == ""


def test_to_persian_digits():
    assert to_persian_digits("09121234567") == "۰۹۱۲۱۲۳۴۵۶۷"
    assert to_persian_digits(2025) == "۲۰۲۵"
    assert to_persian_digits("کد 12") == "کد ۱۲"


# --- national ID ----------------------------------------------------------

@pytest.mark.parametrize("national_id", VALID_IDS)
def test_valid_national_ids_in_every_digit_set(national_id):
    for form in in_all_digit_sets(national_id):
        assert normalize_national_id(form) == national_id
        assert is_valid_national_id(form)


@pytest.mark.parametrize("national_id", VALID_IDS)
def test_check_digit_matches_vectors(national_id):
    assert national_id_check_digit(national_id[:9]) == int(national_id[9])


@pytest.mark.parametrize("first9", ["abc", "12345678", "1234567890", "۱۲۳۴۵۶۷۸۹", ""])
def test_check_digit_requires_nine_ascii_digits(first9):
    with pytest.raises(ValueError):
        national_id_check_digit(first9)


def test_every_single_digit_change_is_rejected():
    # 0499370899 has s = 2; only s = 2 gives check digit 9, so any one
    # substituted digit changes s and the check digit no longer matches.
    original = "0499370899"
    for position in range(10):
        for digit in "0123456789":
            if digit == original[position]:
                continue
            variant = original[:position] + digit + original[position + 1:]
            with pytest.raises(InvalidNationalId) as caught:
                normalize_national_id(variant)
            assert caught.value.reason == "checksum", variant


@pytest.mark.parametrize("national_id", ["0499370898", "0684159415", "1234567890", "0200203240"])
def test_bad_check_digit_in_every_digit_set(national_id):
    for form in in_all_digit_sets(national_id):
        with pytest.raises(InvalidNationalId) as caught:
            normalize_national_id(form)
        assert caught.value.reason == "checksum"
        assert not is_valid_national_id(form)


@pytest.mark.parametrize("digit", "0123456789")
def test_repeated_digit_ids_are_rejected_although_their_check_digit_fits(digit):
    national_id = digit * 10
    assert national_id_check_digit(national_id[:9]) == int(digit)
    with pytest.raises(InvalidNationalId) as caught:
        normalize_national_id(national_id.translate(PERSIAN))
    assert caught.value.reason == "checksum"


@pytest.mark.parametrize(
    "value",
    [
        "049937089",  # 9 digits
        "04993708990",  # 11 digits
        "۰۴۹۹۳۷۰۸۹",  # 9 Persian digits
        "٠٤٩٩٣٧٠٨٩٩٠",  # 11 Arabic-Indic digits
        "",
        "   ",
        "049937089a",
        "0499370899.",
        "+499370899",
        "0499370899\x00",
        "０４９９３７０８９９",  # fullwidth digits are not accepted
        "049937089²",  # a Unicode digit that is not 0-9
        None,
        499370899,
    ],
)
def test_malformed_national_ids_have_reason_format(value):
    with pytest.raises(InvalidNationalId) as caught:
        normalize_national_id(value)
    assert caught.value.reason == "format"
    assert not is_valid_national_id(value)


@pytest.mark.parametrize(
    "value",
    [
        " 0499370899 ",
        "049-937089-9",
        "049 937 089 9",
        "\t0499370899\n",
        "۰۴۹\u200c۹۳۷۰۸۹۹",  # zero-width non-joiner
        "۰۴۹\u00a0۹۳۷\u2009۰۸۹۹",  # no-break space, thin space
        "\u200f۰۴۹۹۳۷۰۸۹۹\u200e",  # right-to-left / left-to-right marks
        "٠٤٩\u2013٩٣٧\u2014٠٨٩\u2212٩",  # en dash, em dash, minus sign
        "۰۴۹ـ۹۳۷ـ۰۸۹ـ۹",  # tatweel
        "049\u2010937\u2011089\u20159",
        "04۹۹٣٧0899",  # mixed digit sets
    ],
)
def test_separators_are_stripped_from_national_ids(value):
    assert normalize_national_id(value) == "0499370899"


def test_national_id_errors_are_value_errors_without_the_input():
    with pytest.raises(ValueError) as caught:
        normalize_national_id("0499370898")
    assert isinstance(caught.value, InvalidNationalId)
    assert "0499370898" not in str(caught.value)
    assert "checksum" in str(caught.value)


# --- mobile ---------------------------------------------------------------

MOBILE_FORMS = [
    "09121234567",
    "+989121234567",
    "00989121234567",
    "989121234567",
    "9121234567",
    "0912 123 4567",
    "0912-123-4567",
    "(0912) 123-4567",
    "+98 (912) 123 45 67",
    "+98\u00a0912\u200c123\u20134567",
]


@pytest.mark.parametrize("form", MOBILE_FORMS)
def test_mobile_forms_in_every_digit_set_map_to_one_canonical_form(form):
    for variant in in_all_digit_sets(form):
        assert normalize_mobile(variant) == "09121234567"


def test_mobile_with_nine_and_eight_in_the_subscriber_part():
    # "98" inside the number must not be mistaken for the country code.
    assert normalize_mobile("9891234567") == "09891234567"
    assert normalize_mobile("989891234567") == "09891234567"
    assert normalize_mobile("+989981234567") == "09981234567"


@pytest.mark.parametrize(
    "value",
    [
        "02112345678",  # Tehran landline
        "+982112345678",
        "00982112345678",
        "2112345678",
        "0912123456",  # too short
        "091212345678",  # too long
        "912123456",
        "+9891212345678",
        "0989121234567",
        "+09121234567",
        "+9809121234567",
        "0912123456a",
        "0912.123.4567",
        "phone",
        "",
        "+",
        "００９１２１２３４５６７",  # fullwidth digits
        None,
        9121234567,
    ],
)
def test_malformed_mobiles_are_rejected(value):
    with pytest.raises(InvalidMobile) as caught:
        normalize_mobile(value)
    assert caught.value.reason == "format"
    assert "format" in str(caught.value)


@pytest.mark.parametrize("form", MOBILE_FORMS)
def test_mobile_to_e164(form):
    assert mobile_to_e164(form) == "+989121234567"
    assert mobile_to_e164(form.translate(PERSIAN)) == "+989121234567"


def test_mobile_to_e164_rejects_landlines():
    with pytest.raises(InvalidMobile):
        mobile_to_e164("02112345678")


def test_mask_mobile():
    assert mask_mobile("09121234567") == "0912***4567"
    assert mask_mobile("+98 935 765 4321") == "0935***4321"
    assert mask_mobile("۰۹۱۲۱۲۳۴۵۶۷") == "0912***4567"


def test_mask_mobile_hides_the_middle_digits():
    masked = mask_mobile("09121112223")
    assert "111222" not in masked
    assert masked.count("*") == 3
