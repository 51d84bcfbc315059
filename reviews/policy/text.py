"""Views of a text that the content rules match on, each mapping back to the input.

Findings point at the text the merchant typed, so every derived text keeps, for
each of its characters, the span of the input it came from:

- ``normalized``: NFKC + case folding (``reviews.normalization``);
- ``compact``: the normalised text without whitespace, zero-width characters and
  "interference" marks (``*``, ``_``, ``-``, ``~``, ``·``, ``•``, symbols); the
  unsubscribe and completeness rules read it;
- ``evasion_view``: what word lists and patterns match on. The compact text, and also
  without punctuation put *between* the characters of a word (微.信, 好，评，返，现: a
  "gap", see ``MatchText.gaps``), digits used as letters inside a Latin word (ta0bao),
  look-alikes and homophones replaced by what they stand for (``confusables``: 薇信 → 微信,
  扣扣 → qq), and, when the text has Latin letters, a pinyin view (``PinyinView``: 微信 as
  "wei xin", "weixin", "wei信");
- ``digits_view``: phone numbers written with separators, full-width digits, Chinese
  numerals (一三八…, 壹叁捌…, 幺) or letters for digits (O/0, l/1);
- ``link_view``: domains written with 点, 。 or "dot" for the dot.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Protocol

from reviews.normalization import NormalizedText, fold, is_ascii_alnum, is_cjk, normalize
from reviews.policy import pinyin

__all__ = [
    "MatchText", "PinyinView", "compact", "compact_term", "digits_view", "evasion_view", "is_ascii_alnum",
    "is_cjk", "link_view", "normalize", "normalized", "NormalizedText",
]

# Characters merchants (or spammers) put between the characters of a banned
# word; matching ignores them.
INTERFERENCE = set("*_-~·•+=^#@&|/\\'\"`")
# Punctuation that ends a clause when used properly. A word split by one of these (快，手慢无)
# may be two clauses; split by any other mark (微.信, 微、信, 淘—宝) it is an evasion.
CLAUSE_MARKS = set("，。！？；：,!?;:")
# A variable token (``${name}``, as ``reviews.policy.variables.TOKEN_RE``) stands in the evasion
# view as this character, repeated.
TOKEN_RE = re.compile(r"\$\{[^{}\s$]{0,40}\}")
TOKEN_CHAR = "\ufffc"
# Digits written for letters inside a Latin word (ta0bao, we1xin).
DIGIT_AS_LETTER = {"0": "o", "1": "i"}
VIEW_CACHE = 512  # texts whose views are kept (a check reads each view several times)


KEEP, SKIP, PUNCT = 0, 1, 2


@lru_cache(maxsize=16384)
def _char_class(char: str) -> int:
    """KEEP a character, SKIP it (spaces, interference marks, invisible and combining
    characters, symbols), or drop it as PUNCTuation that leaves a gap."""
    if char.isspace() or char in INTERFERENCE:
        return SKIP
    category = unicodedata.category(char)
    if category in {"Cf", "Mn", "So", "Sk"}:
        return SKIP
    return PUNCT if category.startswith("P") else KEEP


def _skipped(char: str) -> bool:
    return _char_class(char) == SKIP


def is_ascii_letter(char: str) -> bool:
    return char.isascii() and char.isalpha()


@dataclass(frozen=True)
class PinyinView:
    """The evasion view with every 汉字 replaced by its pinyin syllable, for matching a term's
    pinyin against what the merchant wrote in Latin letters.

    ``parent[k]`` is the index in the evasion view of ``text[k]``; a match may begin at a
    position in ``starts`` and end at one in ``ends`` (syllable edges; inside a run of Latin
    letters only where the run can be cut into pinyin syllables there); ``latin[k]`` says the
    character is a Latin letter (a match without one is a plain homophone, never reported);
    ``pieces`` holds (start, end) of every run of Latin letters typed without a break."""

    text: str
    parent: tuple[int, ...]
    parent_ends: tuple[int, ...]  # where in the evasion view ``text[k]`` ends (with letters fuzzy dropped)
    starts: frozenset[int]
    ends: frozenset[int]
    latin: tuple[bool, ...]
    pieces: frozenset[tuple[int, int]]

    def accepts(self, start: int, end: int, *, syllables: int) -> bool:
        if start not in self.starts or end not in self.ends or not any(self.latin[start:end]):
            return False
        # A one-syllable term (群 → qun) only as a whole Latin run: "qun" yes, "renqun" no.
        return syllables > 1 or (start, end) in self.pieces

    def parent_span(self, start: int, end: int) -> tuple[int, int]:
        return self.parent[start], self.parent_ends[end - 1]


@dataclass(frozen=True)
class MatchText:
    """A derived text plus ``origin[i]`` = index in the original of ``text[i]``.

    ``ends[i]`` (when set) is where the original characters behind ``text[i]`` end: a
    replacement (企鹅 → qq) covers more than one typed character. ``gaps`` holds the positions
    ``i`` where punctuation typed between ``text[i-1]`` and ``text[i]`` was dropped."""

    original: str
    text: str
    origin: tuple[int, ...]
    ends: tuple[int, ...] | None = None
    gaps: frozenset[int] = frozenset()
    pinyin: PinyinView | None = None
    clause_gaps: frozenset[int] = frozenset()  # the gaps made of clause marks only (，。！？…)

    def end_of(self, index: int) -> int:
        return self.ends[index] if self.ends is not None else self.origin[index] + 1

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map [start, end) of this text to the original text."""
        return (self.origin[start], self.end_of(end - 1))

    def before(self, start: int) -> str:
        """The normalised original character just before the match at ``start`` ('' at the edge)."""
        index = self.origin[start] - 1
        if index < 0:
            return ""
        return fold(self.original[index])[-1:]

    def after(self, end: int) -> str:
        """The normalised original character just after the match ending at ``end``."""
        index = self.end_of(end - 1)
        if index >= len(self.original):
            return ""
        return fold(self.original[index])[:1]

    def crosses_gap(self, start: int, end: int, allowed: frozenset[int] = frozenset()) -> bool:
        """Punctuation was dropped inside [start, end), other than at offsets in ``allowed``
        (where the term itself has punctuation: no.1)."""
        return any(p in self.gaps and (p - start) not in allowed for p in range(start + 1, end))

    def separated_word(self, start: int, end: int, allowed: frozenset[int] = frozenset()) -> bool:
        """[start, end) reads as one word whose characters the merchant split with punctuation:
        no punctuation inside (other than the term's own), or a mark that never ends a clause
        there (微.信, 微、信, 淘—宝), or clause marks between three or more pieces (五，星，好，评),
        or a clause mark with nothing glued to either end (“加 微，信 ”). Not "快，手慢无"."""
        crossed = [p for p in range(start + 1, end) if p in self.gaps and (p - start) not in allowed]
        if not crossed:
            return True
        if any(p not in self.clause_gaps for p in crossed) or len(crossed) >= 2:
            return True
        return not self.glued(start, end)

    def glued(self, start: int, end: int) -> bool:
        """The match continues a word of the typed text on either side (a letter, digit or 汉字
        right before or after it, with no separator)."""
        return _word_char(self.before(start)) or _word_char(self.after(end))


def _word_char(char: str) -> bool:
    return bool(char) and (is_cjk(char) or char.isalnum())


@lru_cache(maxsize=VIEW_CACHE)
def compact(text: str) -> MatchText:
    """NFKC + casefold, then drop whitespace and interference characters."""
    normalized_ = normalize(text)
    chars: list[str] = []
    origin: list[int] = []
    for char, index in zip(normalized_.text, normalized_.origin, strict=True):
        if _skipped(char):
            continue
        chars.append(char)
        origin.append(index)
    return MatchText(original=text, text="".join(chars), origin=tuple(origin))


@lru_cache(maxsize=VIEW_CACHE)
def normalized(text: str) -> MatchText:
    """NFKC + casefold only (separators matter)."""
    result = normalize(text)
    return MatchText(original=text, text=result.text, origin=result.origin)


def compact_term(term: str) -> str:
    """A word-list term without whitespace and interference marks (NFKC + casefold)."""
    return compact(term).text


# --- the evasion view -----------------------------------------------------------


class ReplacementPass(Protocol):
    first_chars: re.Pattern  # matches a character some variant begins with

    def candidates(self, char: str) -> tuple[tuple[str, str, bool], ...]:
        """(variant, canonical, latin_edged) pairs whose variant begins with ``char``, longest first."""


class Replacements(Protocol):
    """What ``evasion_view`` needs of a confusables table (``reviews.policy.confusables``): its
    passes, applied one after the other."""

    version: int
    passes: tuple[ReplacementPass, ...]


def plain_key(text: str) -> tuple[str, frozenset[int]]:
    """``text`` as the evasion view sees it before look-alikes are replaced: compact, without
    punctuation, digits-as-letters read as letters; with the positions where punctuation was."""
    chars, _starts, _ends, gaps, _clause = _stripped(text)
    return "".join(chars), frozenset(gaps)


def _stripped(text: str) -> tuple[list[str], list[int], list[int], set[int], set[int]]:
    norm = normalize(text)
    token_at = {m.start(): m.end() for m in TOKEN_RE.finditer(text)}
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    gaps: set[int] = set()
    other_marks: set[int] = set()  # gaps holding a mark that is not a clause mark
    pending: list[str] = []
    source, origin = norm.text, norm.origin
    position, size = 0, len(source)
    while position < size:
        char, index = source[position], origin[position]
        token_end = token_at.get(index)
        if token_end is not None:
            # A variable token is opaque (one placeholder per typed character, so distances stay
            # as typed): no word joins across it, and its Latin name (${shop_name}) is no pinyin.
            pending = []
            while position < size and origin[position] < token_end:
                chars.append(TOKEN_CHAR)
                starts.append(origin[position])
                ends.append(origin[position] + 1)
                position += 1
            continue
        position += 1
        kind = _char_class(char)
        if kind == SKIP:
            continue
        if kind == PUNCT:
            if chars:
                pending.append(text[index])
            continue
        if pending:
            gaps.add(len(chars))
            if any(mark not in CLAUSE_MARKS for mark in pending):
                other_marks.add(len(chars))
            pending = []
        chars.append(char)
        starts.append(index)
        ends.append(index + 1)
    for i, char in enumerate(chars):
        if char in DIGIT_AS_LETTER and 0 < i < len(chars) - 1:
            if is_ascii_letter(chars[i - 1]) and is_ascii_letter(chars[i + 1]):
                chars[i] = DIGIT_AS_LETTER[char]
    return chars, starts, ends, gaps, gaps - other_marks


def latin_continues(original: str, index: int, neighbour: int) -> bool:
    """The typed character at ``neighbour`` continues the Latin word of the one at ``index``
    (both letters, or both digits, with no case change lower→upper marking a new word)."""
    if not (0 <= neighbour < len(original)):
        return False
    a, b = fold(original[index])[:1], fold(original[neighbour])[:1]
    if not (a and b and is_ascii_alnum(a) and is_ascii_alnum(b)) or a.isdigit() != b.isdigit():
        return False
    pair = (original[neighbour], original[index])
    left, right = pair if neighbour < index else pair[::-1]
    return not (left.islower() and right.isupper())  # camelCase: TestShop is two words


def _replace(
    original: str, chars: list[str], starts: list[int], ends: list[int], gaps: set[int], clause: set[int],
    table: ReplacementPass,
) -> tuple[list[str], list[int], list[int], set[int], set[int]]:
    text = "".join(chars)
    out_chars: list[str] = []
    out_starts: list[int] = []
    out_ends: list[int] = []
    out_gaps: set[int] = set()
    out_clause: set[int] = set()
    i = 0  # next character of ``chars`` not yet copied

    def copy_to(stop: int) -> None:
        offset = len(out_chars) - i
        out_chars.extend(chars[i:stop])
        out_starts.extend(starts[i:stop])
        out_ends.extend(ends[i:stop])
        out_gaps.update(p + offset for p in gaps if i <= p < stop)
        out_clause.update(p + offset for p in clause if i <= p < stop)

    for match in table.first_chars.finditer(text):
        at = match.start()
        if at < i:
            continue  # inside a variant already replaced
        for variant, canonical, latin_edged in table.candidates(text[at]):
            j = at + len(variant)
            if not text.startswith(variant, at):
                continue
            if latin_edged and (
                latin_continues(original, starts[at], starts[at] - 1)
                or latin_continues(original, ends[j - 1] - 1, ends[j - 1])
            ):
                continue
            copy_to(at)
            inner = [p for p in range(at + 1, j) if p in gaps]
            for k, char in enumerate(canonical):
                if (k == 0 and at in gaps) or (k == 1 and inner):
                    out_gaps.add(len(out_chars))
                    if (k == 0 and at in clause) or (k == 1 and all(p in clause for p in inner)):
                        out_clause.add(len(out_chars))
                out_chars.append(char)
                out_starts.append(starts[at])
                out_ends.append(ends[j - 1])
            i = j
            break
    copy_to(len(chars))
    return out_chars, out_starts, out_ends, out_gaps, out_clause


@lru_cache(maxsize=VIEW_CACHE)
def evasion_view(text: str, table: Replacements | None = None) -> MatchText:
    """The view word lists and patterns match on (see the module docstring); ``table`` is the
    confusables table (``reviews.policy.confusables``), none for no replacements."""
    chars, starts, ends, gaps, clause = _stripped(text)
    for step in table.passes if table is not None else ():
        chars, starts, ends, gaps, clause = _replace(text, chars, starts, ends, gaps, clause, step)
    view = MatchText(
        original=text, text="".join(chars), origin=tuple(starts), ends=tuple(ends), gaps=frozenset(gaps),
        clause_gaps=frozenset(clause),
    )
    if any(is_ascii_letter(c) for c in chars):
        view = replace(view, pinyin=_pinyin_view(view))
    return view


def _pinyin_view(view: MatchText) -> PinyinView:
    chars: list[str] = []
    parent: list[int] = []
    parent_ends: list[int] = []
    latin: list[bool] = []
    starts: set[int] = set()
    ends: set[int] = set()
    pieces: set[tuple[int, int]] = set()
    text = view.text
    i = 0
    while i < len(text):
        char = text[i]
        if is_ascii_letter(char):
            # A piece: Latin letters typed one after the other (a space or mark ends it).
            j = i + 1
            while j < len(text) and is_ascii_letter(text[j]) and view.end_of(j - 1) == view.origin[j]:
                j += 1
            offset = len(chars)
            spelled, kept = pinyin.fuzzy(text[i:j])
            moved = [0] * (j - i + 1)  # where each cut of the typed piece lands in ``spelled``
            for position, source in enumerate(kept):
                moved[source + 1] = position + 1
            for cut in range(1, j - i + 1):
                moved[cut] = max(moved[cut], moved[cut - 1])
            for cut in pinyin.boundaries(text[i:j]):
                if cut < j - i:
                    starts.add(offset + moved[cut])
                if cut > 0:
                    ends.add(offset + moved[cut])
            pieces.add((offset, offset + len(spelled)))
            chars.extend(spelled)
            parent.extend(i + source for source in kept)
            # A kept letter also covers the letters dropped after it (the g of "xing").
            parent_ends.extend(i + following for following in (*kept[1:], j - i))
            latin.extend([True] * len(spelled))
            i = j
            continue
        reading = pinyin.syllable(char) if is_cjk(char) else None
        piece = pinyin.fuzzy(reading)[0] if reading else char
        starts.add(len(chars))
        chars.extend(piece)
        parent.extend([i] * len(piece))
        parent_ends.extend([i + 1] * len(piece))
        latin.extend([False] * len(piece))
        ends.add(len(chars))
        i += 1
    return PinyinView(
        text="".join(chars), parent=tuple(parent), parent_ends=tuple(parent_ends), starts=frozenset(starts),
        ends=frozenset(ends),
        latin=tuple(latin), pieces=frozenset(pieces),
    )


# --- phone numbers ------------------------------------------------------------------

# Characters read as a digit in a phone number. Letters only count inside a run of such
# characters that holds real digits too (see ``digits_view``).
CHINESE_DIGITS = {
    **dict.fromkeys("零〇○洞", "0"), **dict.fromkeys("一壹幺", "1"), **dict.fromkeys("二贰两", "2"),
    **dict.fromkeys("三叁", "3"), **dict.fromkeys("四肆", "4"), **dict.fromkeys("五伍", "5"),
    **dict.fromkeys("六陆", "6"), **dict.fromkeys("七柒拐", "7"), **dict.fromkeys("八捌", "8"),
    **dict.fromkeys("九玖勾", "9"),
}
LETTER_DIGITS = {"o": "0", "l": "1", "i": "1"}
# Marks a number may be broken with (at most ``MAX_SEPARATORS`` in a row between two digits).
NUMBER_SEPARATORS = set(" \t-_.·•,，、。/|*~()（）[]【】—–―‐‑−")
MAX_SEPARATORS = 3
MIN_REAL_DIGITS = 2  # letters read as digits only in a run with real digits too (l38OOl38OOO)
NOT_A_DIGIT = "x"
MIN_PHONE_DIGITS = 10  # the shortest number matched: 400 numbers and landlines with area code
DIGIT_LIKE_RE = re.compile("[0-9" + "".join(CHINESE_DIGITS) + "".join(LETTER_DIGITS) + "]")


@lru_cache(maxsize=VIEW_CACHE)
def digits_view(text: str) -> MatchText:
    """The text with every digit-like character as an ASCII digit and separators between two
    digits dropped, for the phone-number patterns. Anything else is ``x`` (so numbers never join
    across words), except ``+`` (a country code). Letters O/o, l/I stand for digits only in a
    run that has real digits too (never inside a word like "hello")."""
    norm = normalize(text)
    if len(DIGIT_LIKE_RE.findall(norm.text)) < MIN_PHONE_DIGITS:
        return MatchText(original=text, text="", origin=())  # too few digits for any number
    digit_like: list[str | None] = []
    for char in norm.text:
        if char.isdigit() and char.isascii():
            digit_like.append(char)
        elif char in CHINESE_DIGITS:
            digit_like.append(CHINESE_DIGITS[char])
        elif char in LETTER_DIGITS:
            digit_like.append("?")  # decided below, by its run
        else:
            digit_like.append(None)
    _settle_letters(norm.text, digit_like)
    chars: list[str] = []
    origin: list[int] = []
    index = 0
    size = len(norm.text)
    while index < size:
        char, value = norm.text[index], digit_like[index]
        if value is not None:
            chars.append(value)
            origin.append(norm.origin[index])
            index += 1
            continue
        if char in NUMBER_SEPARATORS or unicodedata.category(char) == "Cf":
            run_end = index
            while run_end < size and digit_like[run_end] is None and (
                norm.text[run_end] in NUMBER_SEPARATORS or unicodedata.category(norm.text[run_end]) == "Cf"
            ):
                run_end += 1
            visible = sum(1 for c in norm.text[index:run_end] if unicodedata.category(c) != "Cf")
            between_digits = (
                chars and chars[-1].isdigit() and run_end < size and digit_like[run_end] is not None
            )
            if between_digits and visible <= MAX_SEPARATORS:
                index = run_end
                continue
        chars.append("+" if char == "+" else NOT_A_DIGIT)
        origin.append(norm.origin[index])
        index += 1
    return MatchText(original=text, text="".join(chars), origin=tuple(origin))


def _settle_letters(text: str, digit_like: list[str | None]) -> None:
    """Letters in ``digit_like`` ("?") become digits when their run of letters and digits
    (separators allowed) holds at least as many real digits and the letters are not part of a
    longer word; otherwise they are not digits."""
    index = 0
    while index < len(text):
        if digit_like[index] is None:
            index += 1
            continue
        run_end = index
        while run_end < len(text) and (digit_like[run_end] is not None or text[run_end] in NUMBER_SEPARATORS):
            run_end += 1
        run = range(index, run_end)
        letters = [i for i in run if digit_like[i] == "?"]
        digits = sum(1 for i in run if digit_like[i] not in (None, "?"))
        glued_to_word = any(
            0 <= n < len(text) and is_ascii_letter(text[n]) and text[n] not in LETTER_DIGITS
            for i in letters for n in (i - 1, i + 1)
        )
        for i in letters:
            as_digit = digits >= MIN_REAL_DIGITS and not glued_to_word
            digit_like[i] = LETTER_DIGITS[text[i]] if as_digit else None
        index = run_end


# --- links ----------------------------------------------------------------------------

DOT_WORDS = (
    "点", "。", "dot", "(dot)", "[dot]", "{dot}", "(.)", "[.]", "{.}", "（.）", "（dot）", "【.】", "【dot】",
    "(点)", "（点）", "[点]", "【点】", "{点}",
)
_DOTS_LONGEST_FIRST = sorted(DOT_WORDS, key=len, reverse=True)
LINK_MARKS = (".", "点", "。", "dot", "://")  # a text without any of them holds no link


@lru_cache(maxsize=VIEW_CACHE)
def link_view(text: str) -> MatchText:
    """The normalised text with the obfuscated dots of a domain written as ``.``: ``点``, ``。``,
    ``dot``, ``(dot)``, ``[.]`` … between two Latin labels, spaces around a dot and zero-width
    characters inside a link removed. A dot word becomes a dot only when the label before it or
    the one after it has a letter (so 8点30, 3点半 stay times) and "dot" is its own word."""
    norm = normalize(text)
    source = norm.text
    if not any(mark in source for mark in LINK_MARKS):
        return MatchText(original=text, text=source, origin=norm.origin)  # no dot, no scheme: nothing to do
    chars: list[str] = []
    origin: list[int] = []
    index = 0
    while index < len(source):
        char = source[index]
        if unicodedata.category(char) == "Cf":
            index += 1
            continue
        dot = _dot_at(source, index)
        if dot:
            while chars and chars[-1] == " ":
                chars.pop()
                origin.pop()
            chars.append(".")
            origin.append(norm.origin[index])
            index = _skip_spaces(source, index + dot)
            continue
        chars.append(char)
        origin.append(norm.origin[index])
        index += 1
    return MatchText(original=text, text="".join(chars), origin=tuple(origin))


def _label_char(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char == "-")


def _label_before(source: str, index: int) -> str:
    end = index
    while end > 0 and source[end - 1] == " ":
        end -= 1
    start = end
    while start > 0 and _label_char(source[start - 1]):
        start -= 1
    return source[start:end]


def _label_after(source: str, index: int) -> str:
    start = _skip_spaces(source, index)
    end = start
    while end < len(source) and _label_char(source[end]):
        end += 1
    return source[start:end]


# A domain whose labels are digits (163点com, 3。cn/…) only with these, or with a path after it.
DIGIT_DOMAIN_TLDS = {"com", "cn", "net", "org"}
URL_TLDS = {
    "com", "cn", "net", "org", "cc", "co", "io", "me", "top", "vip", "shop", "xyz", "info", "biz", "tv",
}


# Domain endings an obfuscated dot (点, 。, dot) may lead to. After a 。 (which ends sentences),
# words common in marketing text (vip, shop, club, live …) only when a path follows: “iPhone。VIP会员”
# is a sentence, alice点shop a link.
LINK_TLDS = {
    "com", "cn", "net", "org", "cc", "co", "io", "me", "top", "vip", "shop", "xyz", "info", "biz", "tv", "ly",
    "gl", "im", "link", "club", "site", "online", "store", "ink", "ren", "wang", "asia", "hk", "tw", "mobi",
    "app", "ltd", "tech", "fun", "icu", "live", "work", "pro", "red", "kim", "ai",
}
OBFUSCATED_TLDS = {
    "com", "cn", "net", "org", "cc", "co", "io", "me", "top", "xyz", "info", "biz", "tv", "ly", "gl", "im",
    "ink", "wang", "site", "online", "link",
}
MAX_LABELS = 6


def _domain_tail(source: str, index: int, *, strict: bool) -> bool:
    """The labels from ``index`` on (separated by dots or dot words) end in a domain ending; after
    a 。 (``strict``, a sentence end) words common in marketing text (vip, shop …) only with a path."""
    for _ in range(MAX_LABELS):
        index = _skip_spaces(source, index)
        label = _label_after(source, index)
        if not label:
            return False
        index += len(label)
        following = _skip_spaces(source, index)
        word = next((w for w in (*_DOTS_LONGEST_FIRST, ".") if source.startswith(w, following)), "")
        if word and _label_after(source, following + len(word)):
            index = following + len(word)
            continue
        label = label.lower()
        if label in OBFUSCATED_TLDS or (label in URL_TLDS and source[index:index + 1] == "/"):
            return True
        return not strict and label in LINK_TLDS
    return False


def _digit_domain(source: str, index: int, after: str) -> bool:
    """The label ``after`` (starting at or after ``index``) is a top-level domain of a digits
    domain: 163点com, or 3。cn/2aBcD4e (a TLD followed by a path)."""
    label_end = _skip_spaces(source, index) + len(after)
    with_path = source[label_end:label_end + 1] == "/" and after in URL_TLDS
    return after in DIGIT_DOMAIN_TLDS and not source[label_end:label_end + 1].isalnum() or with_path


def _skip_spaces(source: str, index: int) -> int:
    while index < len(source) and source[index] == " ":
        index += 1
    return index


def _dot_at(source: str, index: int) -> int:
    """The length of an obfuscated (or spaced) dot at ``index``, 0 when there is none."""
    if source[index] == " ":
        return 0
    for word in _DOTS_LONGEST_FIRST if source[index] in "点。d([{（【" else ():
        if not source.startswith(word, index):
            continue
        before = _label_before(source, index)
        after = _label_after(source, index + len(word))
        if not before or not after:
            return 0
        after_word = source[index + len(word):index + len(word) + 1]
        if word.isalpha() and word.isascii() and (source[index - 1:index].isalnum() or after_word.isalnum()):
            return 0  # "dot" inside a word (dotcom, anecdote)
        if not _domain_tail(source, index + len(word), strict=word == "。"):
            return 0  # iPhone。VIP会员, 8点AI课: the last label is no domain ending
        if not any(c.isalpha() for c in before) and not _digit_domain(source, index + len(word), after):
            return 0  # 8点30, 12点com: a time, not a domain
        return len(word)
    spaced = source[index - 1:index] == " " and source[index + 1:index + 2] == " "
    if source[index] == "." and (spaced or _label_before(source, index) == "www"):
        before = _label_before(source, index)
        after = _label_after(source, index + 1)
        if before and after and any(c.isalpha() for c in before):
            return 1  # "www . taobao . com": the spaces around the dot go too
    return 0
