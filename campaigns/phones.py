"""Mainland China mobile numbers: the one normalised form every module uses.

A phone number is stored and compared as its 11 national digits (``13812345678``).
Anything that is not a valid mainland mobile number is refused
(``INVALID-PHONE``) rather than guessed at.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberType

INVALID_PHONE = "INVALID-PHONE"

CN_REGION = "CN"
CN_COUNTRY_CODE = 86
MOBILE_LENGTH = 11

# What a typed or imported number may contain: digits, a leading +, and the
# separators people put between digit groups. Letters are refused on purpose:
# phonenumbers would read "1-800-FLOWERS" style letters as digits.
_ALLOWED = re.compile(r"^[0-9 \-().+\u00a0]{1,40}$")
_DIGITS = re.compile(r"^\+?[0-9]+$")
_SEPARATORS = re.compile(r"[ \-().\u00a0]")


def normalize_phone(raw: str) -> str | None:
    """The 11-digit national form of a mainland China mobile number, or None.

    Spaces, dashes, dots, brackets, full-width digits and the prefixes +86, 0086
    and 86 are accepted; the number must then be a valid mobile number of region
    CN according to ``phonenumbers``. Never raises, whatever the input.
    """
    if not isinstance(raw, str):
        return None
    if len(raw) == MOBILE_LENGTH and raw.isascii() and raw.isdigit() and raw[0] == "1":
        # Already in the stored form (every phone the send pipeline reads): the answer is the
        # same as below, without the Unicode normalisation and the regular expressions.
        return raw if _mobile_prefix_valid(raw[:PREFIX_DIGITS]) else None
    text = unicodedata.normalize("NFKC", raw).strip()
    if not _ALLOWED.fullmatch(text):
        return None
    digits = _SEPARATORS.sub("", text)
    if not _DIGITS.fullmatch(digits):
        return None
    if len(digits) == MOBILE_LENGTH and digits.isdigit() and digits.startswith("1"):
        # Fast path for the common, already-national form (imports, batches of 1,000):
        # whether an 11-digit number starting with 1 is a valid mobile number depends only on
        # its first PREFIX_DIGITS digits (the CN patterns end in free digits), so the answer of
        # ``phonenumbers`` is computed once per prefix. tests/campaigns/test_phones.py checks
        # this against ``phonenumbers`` for every prefix, so a metadata upgrade that breaks
        # the assumption fails the tests instead of misjudging numbers.
        return digits if _mobile_prefix_valid(digits[:PREFIX_DIGITS]) else None
    number = _parse(digits)
    if number is None or number.country_code != CN_COUNTRY_CODE or number.italian_leading_zero:
        return None
    # MOBILE (not UNKNOWN) also means valid: number_type matches the region's patterns.
    if phonenumbers.number_type(number) != PhoneNumberType.MOBILE:
        return None
    national = str(number.national_number)
    if len(national) != MOBILE_LENGTH or not national.startswith("1"):
        return None
    return national


# Digits that decide the validity of an 11-digit number starting with 1 (CN mobile patterns
# are 1(?:610\d|740[0-5])\d{6} and 1(?:[38]\d|4[57]|...)\d{8} in phonenumbers 9.x).
PREFIX_DIGITS = 5


@cache  # at most 10,000 prefixes (10000-19999)
def _mobile_prefix_valid(prefix: str) -> bool:
    return mobile_number_valid(prefix + "0" * (MOBILE_LENGTH - len(prefix)))


def mobile_number_valid(digits: str) -> bool:
    """``phonenumbers``' own verdict on 11 national digits (the slow path the cache answers for)."""
    number = PhoneNumber(country_code=CN_COUNTRY_CODE, national_number=int(digits))
    return phonenumbers.number_type(number) == PhoneNumberType.MOBILE


def _parse(digits: str) -> PhoneNumber | None:
    try:
        number = phonenumbers.parse(digits, CN_REGION)
    except NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def mask_phone(phone: str) -> str:
    """A phone for display to people who need not see it whole: 138****5678."""
    if len(phone) != MOBILE_LENGTH:
        return phone
    return f"{phone[:3]}****{phone[-4:]}"
