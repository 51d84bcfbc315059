"""Phone normalisation: mainland China mobile numbers only, one 11-digit form."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from campaigns.phones import (
    PREFIX_DIGITS,
    _mobile_prefix_valid,
    mask_phone,
    mobile_number_valid,
    normalize_phone,
)

# Prefixes of mainland mobile networks (China Mobile, Unicom, Telecom, Broadnet).
MOBILE_PREFIXES = [
    "134",
    "135",
    "136",
    "138",
    "139",
    "150",
    "151",
    "158",
    "182",
    "187",
    "130",
    "131",
    "132",
    "155",
    "156",
    "166",
    "185",
    "186",
    "133",
    "153",
    "177",
    "180",
    "181",
    "189",
    "199",
    "192",
]


@pytest.mark.parametrize(
    "raw",
    [
        "13812345678",
        " 13812345678 ",
        "138 1234 5678",
        "138-1234-5678",
        "+8613812345678",
        "+86 138 1234 5678",
        "+86-138-1234-5678",
        "008613812345678",
        "0086 138 1234 5678",
        "8613812345678",
        "86 138 1234 5678",
        "１３８１２３４５６７８",  # full-width digits
        "(+86) 138.1234.5678",
    ],
)
def test_it_normalises_the_ways_people_write_a_mobile_number(raw):
    assert normalize_phone(raw) == "13812345678"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "+",
        "1381234567",  # 10 digits
        "138123456789",  # 12 digits
        "02112345678",  # Shanghai landline
        "010-12345678",  # Beijing landline
        "12012345678",  # no such mobile network
        "+1 650 253 0000",  # United States
        "+852 9123 4567",  # Hong Kong mobile: not mainland
        "138-CALL-NOW1",  # letters are never read as digits
        "13812345678 ext 1",
        "138１2345678x",
        "４００-８２０-８８２０",
    ],
)
def test_it_refuses_anything_that_is_not_a_mainland_mobile_number(raw):
    assert normalize_phone(raw) is None


def test_it_refuses_non_strings():
    assert normalize_phone(None) is None  # type: ignore[arg-type]
    assert normalize_phone(13812345678) is None  # type: ignore[arg-type]


@given(st.text(max_size=60))
@example("+86")
@example("0086")
@example("\x00")
@example("+" + "9" * 300)
def test_it_never_crashes_and_returns_none_or_11_digits_starting_with_1(raw):
    result = normalize_phone(raw)
    assert result is None or (len(result) == 11 and result.isdigit() and result.startswith("1"))


@given(st.text(alphabet="0123456789 -+()．０１２３４５６７８９", max_size=24))
def test_it_is_idempotent_on_phone_like_text(raw):
    result = normalize_phone(raw)
    if result is not None:
        assert normalize_phone(result) == result
        assert len(result) == 11 and result.startswith("1")


@given(
    prefix=st.sampled_from(MOBILE_PREFIXES),
    rest=st.text(alphabet="0123456789", min_size=8, max_size=8),
    style=st.sampled_from(["{n}", "+86{n}", "+86 {a} {b} {c}", "0086-{a}-{b}-{c}", "86{n}", "{a} {b} {c}"]),
)
def test_it_gives_every_written_form_of_a_number_the_same_result(prefix, rest, style):
    number = prefix + rest
    written = style.format(n=number, a=number[:3], b=number[3:7], c=number[7:])
    assert normalize_phone(written) == normalize_phone(number) == number


def test_it_masks_phones_for_display():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("123") == "123"


def test_it_judges_every_11_digit_number_by_its_prefix_exactly_as_phonenumbers_does():
    # The fast path answers per 5-digit prefix; phonenumbers' verdict must not depend on the
    # other 6 digits, for every prefix (a metadata upgrade that breaks this fails here).
    assert PREFIX_DIGITS == 5
    suffixes = ["000000", "999999", "123456", "500009", "090807"]
    wrong = [
        prefix + suffix
        for prefix in (str(p) for p in range(10_000, 20_000))
        for suffix in suffixes
        if mobile_number_valid(prefix + suffix) != _mobile_prefix_valid(prefix)
    ]
    assert wrong == []
    assert normalize_phone("16101234567") == "16101234567"  # 1610x: a 5-digit branch of the pattern
    assert normalize_phone("16111234567") is None
    assert normalize_phone("17405123456") == "17405123456"
    assert normalize_phone("17406123456") is None
