"""Mainland China mobile numbers: the one normalised form every module uses.

A phone number is stored and compared as its 11 national digits (``13812345678``).
Anything that is not a valid mainland mobile number is refused
(``INVALID-PHONE``) rather than guessed at.
"""

from __future__ import annotations

import re
import unicodedata

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
    text = unicodedata.normalize("NFKC", raw).strip()
    if not _ALLOWED.fullmatch(text):
        return None
    digits = _SEPARATORS.sub("", text)
    if not _DIGITS.fullmatch(digits):
        return None
    if len(digits) == MOBILE_LENGTH and digits.isdigit() and digits.startswith("1"):
        # Fast path for the common, already-national form (imports, batches of 1,000):
        # skip the general parser, which costs several times more than the check itself.
        number = PhoneNumber(country_code=CN_COUNTRY_CODE, national_number=int(digits))
    else:
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
