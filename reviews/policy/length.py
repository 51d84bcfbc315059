"""Length and billed parts of a message as received (DOMAIN.md "Length and billing").

A message as received is ``【signature】`` + body + the unsubscribe suffix
(marketing and unsubscribable notifications only). A link never runs into the suffix
(``…/s1拒收请回复R``): links come only from variables, and ``reviews.policy.variables.render``
puts a space after every link value, so the body already ends ``…/s1 `` (and SQL that frames a
stored body, the dispatch statement, builds the same text). Every character counts 1.
One part up to 70 characters, else ``ceil(n / 67)``; at most 500 characters.
"""

from __future__ import annotations

import math

from django.conf import settings

from reviews.choices import UNSUBSCRIBABLE_CLASSES

SINGLE_PART_MAX = 70  # characters that still fit one SMS
MULTI_PART_SIZE = 67  # characters per part of a concatenated SMS
MAX_MESSAGE_LENGTH = 500  # TPL-LENGTH
MAX_SIGNATURE_CHARS = 9  # the longest signature (9 汉字) when no shop's signature is known
SIGNATURE_OPEN, SIGNATURE_CLOSE = "【", "】"
DEFAULT_UNSUBSCRIBE_SUFFIX = "拒收请回复R"


def count_parts(length: int) -> int:
    """Billed parts of a message of ``length`` characters: 1 up to 70, else ceil(n / 67)."""
    if length < 0:
        raise ValueError("length must not be negative")
    if length <= SINGLE_PART_MAX:
        return 1
    return math.ceil(length / MULTI_PART_SIZE)


def chars_left_in_part(length: int) -> int:
    """How many more characters fit before the message needs one more part."""
    parts = count_parts(length)
    if parts == 1:
        return SINGLE_PART_MAX - length
    return parts * MULTI_PART_SIZE - length


def unsubscribe_suffix() -> str:
    """The configured unsubscribe suffix (setting ``SMS_UNSUBSCRIBE_SUFFIX``, default 拒收请回复R)."""
    return getattr(settings, "SMS_UNSUBSCRIBE_SUFFIX", DEFAULT_UNSUBSCRIBE_SUFFIX)


def suffix_for(message_class: str, suffix: str | None = None) -> str:
    """The suffix a message of this class ends with ('' for non-unsubscribable notifications)."""
    if message_class not in UNSUBSCRIBABLE_CLASSES:
        return ""
    return unsubscribe_suffix() if suffix is None else suffix


def signature_prefix(signature: str | None) -> str:
    """``【signature】``; with no signature, a placeholder of the maximum length (9 characters)."""
    if signature is None:
        signature = "签" * MAX_SIGNATURE_CHARS
    return f"{SIGNATURE_OPEN}{signature}{SIGNATURE_CLOSE}"


def full_message(*, signature: str, body: str, message_class: str, suffix: str | None = None) -> str:
    """The message as received: ``【signature】`` + body + suffix (for unsubscribable classes)."""
    return f"{SIGNATURE_OPEN}{signature}{SIGNATURE_CLOSE}{body}{suffix_for(message_class, suffix)}"
