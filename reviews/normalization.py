"""Text normalisation for the content rules, keeping a map back to the input.

Rules compare text after NFKC (full-width ＪＤ → JD, compatibility ideographs →
unified) and case folding (JD → jd). Findings must point at the text the
merchant typed, so ``normalize`` works character by character and remembers,
for every normalised character, the index of the input character it came from.
(Per-character NFKC does not compose combining sequences; such characters are
not allowed in signatures anyway.)
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class NormalizedText:
    original: str
    text: str
    origin: tuple[int, ...]  # origin[i] = index in ``original`` of ``text[i]``

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map a span [start, end) of the normalised text to the original text."""
        if not self.text:
            return (0, len(self.original))
        if start >= len(self.text):
            return (len(self.original), len(self.original))
        first = self.origin[start]
        last = self.origin[max(start, end - 1)] + 1
        return (first, last)


@lru_cache(maxsize=16384)
def fold(char: str) -> str:
    """One character after NFKC and case folding (cached: texts repeat the same few thousand)."""
    return unicodedata.normalize("NFKC", char).casefold()


@lru_cache(maxsize=512)
def normalize(text: str) -> NormalizedText:
    """NFKC + case folding, with the origin of every resulting character (cached per text:
    every view of a text starts from it)."""
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        folded = fold(char)
        chars.append(folded)
        origin.extend([index] * len(folded))
    return NormalizedText(original=text, text="".join(chars), origin=tuple(origin))


def normalize_key(text: str) -> str:
    """The comparison key of a text (what uniqueness is decided on)."""
    return normalize(text).text


def is_cjk(char: str) -> bool:
    """A CJK unified ideograph (汉字), including the extension blocks."""
    code = ord(char)
    return (
        0x4E00 <= code <= 0x9FFF  # CJK Unified Ideographs
        or 0x3400 <= code <= 0x4DBF  # Extension A
        or 0x20000 <= code <= 0x3134F  # Extensions B–G
        or 0xF900 <= code <= 0xFAFF  # Compatibility Ideographs (NFKC maps most away)
    )


def is_ascii_alnum(char: str) -> bool:
    return char.isascii() and char.isalnum()
