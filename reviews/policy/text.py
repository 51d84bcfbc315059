"""Views of a text that the content rules match on, each mapping back to the input.

Findings point at the text the merchant typed, so every derived text keeps, for
each of its characters, the index of the input character it came from:

- ``normalize`` (from ``reviews.normalization``): NFKC + case folding. Links and
  phone numbers are matched on it (full-width ｗｗｗ or １３８… are caught).
- ``compact``: the normalised text without whitespace, zero-width characters
  and "interference" marks (``*``, ``_``, ``-``, ``~``, ``·``, ``•``, symbols),
  so that 加 微 信 or 最*低*价 still match their word-list terms.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from reviews.normalization import NormalizedText, is_ascii_alnum, is_cjk, normalize

__all__ = ["MatchText", "compact", "is_ascii_alnum", "is_cjk", "normalize", "NormalizedText"]

# Characters merchants (or spammers) put between the characters of a banned
# word; matching ignores them. Punctuation is *not* ignored, so words in two
# different clauses (第一。次日…) never join.
INTERFERENCE = set("*_-~·•+=^#@&|/\\'\"`")


def _skipped(char: str) -> bool:
    if char.isspace() or char in INTERFERENCE:
        return True
    category = unicodedata.category(char)
    return category in {"Cf", "Mn", "So", "Sk"}


@dataclass(frozen=True)
class MatchText:
    """A derived text plus ``origin[i]`` = index in the original of ``text[i]``."""

    original: str
    text: str
    origin: tuple[int, ...]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map [start, end) of this text to the original text."""
        return (self.origin[start], self.origin[end - 1] + 1)

    def before(self, start: int) -> str:
        """The normalised original character just before the match at ``start`` ('' at the edge)."""
        index = self.origin[start] - 1
        if index < 0:
            return ""
        return unicodedata.normalize("NFKC", self.original[index]).casefold()[-1:]

    def after(self, end: int) -> str:
        """The normalised original character just after the match ending at ``end``."""
        index = self.origin[end - 1] + 1
        if index >= len(self.original):
            return ""
        return unicodedata.normalize("NFKC", self.original[index]).casefold()[:1]


def compact(text: str) -> MatchText:
    """NFKC + casefold, then drop whitespace and interference characters."""
    normalized = normalize(text)
    chars: list[str] = []
    origin: list[int] = []
    for char, index in zip(normalized.text, normalized.origin, strict=True):
        if _skipped(char):
            continue
        chars.append(char)
        origin.append(index)
    return MatchText(original=text, text="".join(chars), origin=tuple(origin))


def normalized(text: str) -> MatchText:
    """NFKC + casefold only (for links and phone numbers, where separators matter)."""
    result = normalize(text)
    return MatchText(original=text, text=result.text, origin=result.origin)


def compact_term(term: str) -> str:
    """A word-list term in the form it is matched in (same transformation as ``compact``)."""
    return compact(term).text
