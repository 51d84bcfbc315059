"""Word-list matching that sees through evasions, with exceptions as data.

A compiled list holds the terms and exceptions of one published revision, each in the form the
evasion view shows it (``reviews.policy.text.evasion_view``: NFKC, case folded, no separators,
look-alikes replaced through the confusables table), plus the pinyin of every term with 汉字.
Matching a text (``CompiledList.hits`` on the text's evasion view):

1. every occurrence of every term (overlapping occurrences included), found through one
   trie-shaped regular expression, so the cost grows with the text, barely with the list;
   a term that begins or ends with a Latin letter (digit) only matches where the typed text
   does not continue with another letter (digit): QQ in "QQ号", vx in "vx123456", but 加V not
   in "加VIP" and top1 not in "top10" (a lower→upper case change starts a new word: TestShop);
2. an occurrence spanning punctuation the merchant put between its characters counts when the
   marks cannot be clause ends there (微.信, 微、信, 淘—宝), when they split it into three or
   more pieces (五，星，好，评), or when nothing is glued to either end; so two clauses never
   join into a word: "快，手慢无" is not 快手 (``MatchText.separated_word``);
3. the pinyin of every term with 汉字 against the pinyin view: "wei xin", "weixin", "wei信"
   match 微信, and so do near-homophones "wei xing", "hao pin" (zh/ch/sh read as z/c/s, -ng
   as -n) (at syllable edges; at least one Latin letter, so 维新 is never 微信; a
   one-syllable term like 群 only as a whole Latin word); and a term of 汉字 with one of them
   written as its initial (抖y, 微x, 京d客服) as a Latin-edged term;
4. every occurrence of every exception (allowed phrase), typed without punctuation inside;
   a term occurrence lying entirely inside an exception occurrence is dropped (第一 inside
   第一次, 群 inside 人群, QQ inside QQ音乐);
5. occurrences inside a longer occurrence are dropped, overlapping ones are merged into one hit
   (加微信号 is one hit, not 加微信 + 微信号 + 微信).

Compiled lists are cached per process by (list id, version, updated_at) and the confusables
table's version; a publish of either bumps a version, so every process sees the change on its
next check. ``CompiledList.build`` also compiles a *proposed* revision without publishing it (the
reviewers' dry run), and ``published_lists(confusables=...)`` recompiles the lists with a
proposed confusables table.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from django.db.models import Subquery

from reviews.models.confusables import TABLE_ID, ConfusableTable
from reviews.models.policy import WordList, WordListRevision
from reviews.policy import pinyin
from reviews.policy.confusables import EMPTY, Confusables, published_confusables
from reviews.policy.text import MatchText, evasion_view, is_ascii_alnum, is_cjk, latin_continues

BLOCK, WARN = "block", "warn"


@dataclass(frozen=True)
class Hit:
    start: int  # in the match text
    end: int
    terms: tuple[str, ...]
    severity: str


@dataclass(frozen=True)
class _Entry:
    key: str  # the term (or exception) in the evasion view's form
    severity: str
    gaps: frozenset[int] = frozenset()  # offsets where the term itself has punctuation (no.1)
    syllables: int = 0  # for a pinyin form: how many 汉字 the term has
    standalone: bool = False  # a one-initial form: its Latin edge must touch no letter or digit (3D一体)


class _Index:
    """The keys of a list, found in a text by one regular expression shaped as a trie of the keys
    (the ``re`` engine skips, at C speed, every position no key begins at; its cost grows with
    the text, barely with the number of keys). At a match, the longest key is found; the
    shorter keys that are prefixes of it are looked up in a dict."""

    def __init__(self, entries: Iterable[tuple[str, _Entry]]) -> None:
        self.entries: dict[str, _Entry] = dict(entries)
        self.pattern = re.compile(_trie_pattern(sorted(self.entries))) if self.entries else None
        self.prefixes = {
            key: tuple(key[:k] for k in range(len(key) - 1, 0, -1) if key[:k] in self.entries)
            for key in self.entries
        }

    def __bool__(self) -> bool:
        return self.pattern is not None

    def scan(self, text: str) -> Iterator[tuple[int, str, _Entry]]:
        if self.pattern is None:
            return
        entries, prefixes, search = self.entries, self.prefixes, self.pattern.search
        match = search(text)
        while match is not None:
            start, key = match.start(), match.group()
            yield start, key, entries[key]
            for shorter in prefixes[key]:
                yield start, shorter, entries[shorter]
            match = search(text, start + 1)


def _trie_pattern(keys: list[str]) -> str:
    """A regular expression matching the longest of ``keys`` (sorted) at a position."""
    groups: dict[str, list[str]] = {}
    ends_here = False
    for key in keys:
        if not key:
            ends_here = True
            continue
        groups.setdefault(key[0], []).append(key[1:])
    branches = [re.escape(first) + _trie_pattern(rests) for first, rests in groups.items()]
    if not branches:
        return ""
    if ends_here:
        return "(?:" + "|".join(branches) + ")?"
    return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"


@dataclass(frozen=True, eq=False)
class CompiledList:
    rule: str
    version: int
    message: str
    hint: str
    terms: tuple[tuple[str, str], ...]  # (term as matched, severity)
    exceptions: tuple[str, ...]  # phrases as matched
    confusables: Confusables = EMPTY
    latin_boundaries: bool = True
    _terms: _Index = field(default=None, repr=False)
    _exceptions: _Index = field(default=None, repr=False)
    _pinyin_terms: _Index = field(default=None, repr=False)
    _pinyin_exceptions: _Index = field(default=None, repr=False)

    @classmethod
    def build(
        cls, *, rule: str, version: int, message: str, hint: str, terms, exceptions,
        confusables: Confusables | None = None, latin_boundaries: bool = True,
    ) -> CompiledList:
        """Compile ``terms`` ([(term, severity)]) and ``exceptions`` ([phrase]). ``confusables``
        defaults to the published table (one query while it is cached); ``latin_boundaries=False``
        lets a Latin term match inside a longer Latin word (the brand JD in "JDshop")."""
        table = published_confusables() if confusables is None else confusables
        compiled: dict[str, _Entry] = {}
        for term, severity in terms:
            # A term is matched as the table reads it (vx → 微信) and as written, for where the
            # table does not replace it (the brand jd inside "JDshop").
            for view in {evasion_view(term, table), evasion_view(term)}:
                if not view.text:
                    continue
                known = compiled.get(view.text)
                # The same term listed twice (after normalisation): the stricter severity wins.
                strict = BLOCK if BLOCK in (severity, known.severity if known else WARN) else WARN
                gaps = view.gaps | (known.gaps if known else frozenset())
                compiled[view.text] = _Entry(view.text, strict, gaps)
        phrases: dict[str, _Entry] = {}
        for phrase in exceptions:
            for view in {evasion_view(phrase, table), evasion_view(phrase)}:
                if view.text:
                    phrases[view.text] = _Entry(view.text, "", view.gaps)
        spelled = dict(compiled)
        for key, entry in compiled.items():
            for form in _one_initial_forms(key):
                spelled.setdefault(form, _Entry(entry.key, entry.severity, standalone=True))
        return cls(
            rule=rule, version=version, message=message, hint=hint,
            terms=tuple(sorted((key, e.severity) for key, e in compiled.items())),
            exceptions=tuple(sorted(phrases)), confusables=table, latin_boundaries=latin_boundaries,
            _terms=_Index(spelled.items()), _exceptions=_Index(phrases.items()),
            _pinyin_terms=_Index(_pinyin_entries(compiled.values())),
            _pinyin_exceptions=_Index(_pinyin_entries(phrases.values())),
        )

    def view(self, text: str) -> MatchText:
        """``text``'s evasion view with this list's confusables table (cached per text)."""
        return evasion_view(text, self.confusables)

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, severity) of every hit, as spans of ``text`` as typed."""
        view = self.view(text)
        return [(*view.span(h.start, h.end), h.severity) for h in self.hits(view)]

    def hits(self, view: MatchText) -> list[Hit]:
        """The hits in ``view`` (an ``evasion_view`` of the text), positions in ``view.text``."""
        found: list[tuple[int, int, str, str]] = []
        for start, key, entry in self._terms.scan(view.text):
            end = start + len(key)
            if self.latin_boundaries and _continues_latin(view, start, end, key):
                continue
            if entry.standalone and _touches_alnum(view, start, end, key):
                continue
            if not view.separated_word(start, end, entry.gaps):
                continue
            found.append((start, end, entry.key, entry.severity))
        found += self._pinyin_hits(view, self._pinyin_terms)
        if not found:
            return []
        allowed = [
            (start, start + len(key)) for start, key, entry in self._exceptions.scan(view.text)
            if not view.crosses_gap(start, start + len(key), entry.gaps)
        ]
        allowed += [(s, e) for s, e, _key, _sev in self._pinyin_hits(view, self._pinyin_exceptions)]
        found = [f for f in found if not any(a <= f[0] and f[1] <= b for a, b in allowed)]
        # Drop occurrences strictly inside a longer one.
        found = [f for f in found if not any(_strictly_inside(f, o) for o in found)]
        return _merge(found)

    @staticmethod
    def _pinyin_hits(view: MatchText, index: _Index) -> list[tuple[int, int, str, str]]:
        spelled = view.pinyin
        if spelled is None or not index:
            return []
        found = []
        for start, key, entry in index.scan(spelled.text):
            end = start + len(key)
            if not spelled.accepts(start, end, syllables=entry.syllables):
                continue
            first, last = spelled.parent_span(start, end)
            if not view.separated_word(first, last):
                continue
            found.append((first, last, entry.key, entry.severity))
        return found


MAX_INITIAL_TERM = 6  # longer terms get no one-initial forms (they are rare and many)


def _one_initial_forms(key: str) -> list[str]:
    """``key`` with one of its 汉字 written as the initial of its pinyin (抖音 → 抖y, d音; 京东客服
    → 京d客服): the half-Latin spelling merchants use. Only for terms of two to six 汉字, one
    initial at a time, so a whole word of initials (tb, dy, hp) never comes from here."""
    if not 2 <= len(key) <= MAX_INITIAL_TERM or not all(is_cjk(char) for char in key):
        return []
    forms = []
    for index, char in enumerate(key):
        reading = pinyin.syllable(char)
        if reading:
            forms.append(key[:index] + reading[0] + key[index + 1:])
    return forms


def _pinyin_entries(entries: Iterable[_Entry]) -> Iterator[tuple[str, _Entry]]:
    """The pinyin forms of the entries that have 汉字 (微信 → weixin)."""
    for entry in entries:
        syllables = sum(1 for char in entry.key if is_cjk(char) and pinyin.syllable(char))
        if not syllables:
            continue
        for form in pinyin.term_pinyins(entry.key):
            spelled, _kept = pinyin.fuzzy(form)  # as the pinyin view spells it (zh → z, ng → n)
            if spelled != entry.key:
                yield spelled, _Entry(entry.key, entry.severity, syllables=syllables)


def _continues_latin(view: MatchText, start: int, end: int, key: str) -> bool:
    """A Latin edge of ``key`` continues a Latin word of the typed text: 加V in 加VIP."""
    first, last = view.origin[start], view.end_of(end - 1) - 1
    if is_ascii_alnum(key[0]) and latin_continues(view.original, first, first - 1):
        return True
    return is_ascii_alnum(key[-1]) and latin_continues(view.original, last, last + 1)


def _touches_alnum(view: MatchText, start: int, end: int, key: str) -> bool:
    """A Latin edge of ``key`` has a letter or digit typed right next to it."""
    before = view.before(start) if is_ascii_alnum(key[0]) else ""
    after = view.after(end) if is_ascii_alnum(key[-1]) else ""
    return any(c and c.isascii() and c.isalnum() for c in (before, after))


def _strictly_inside(inner: tuple, outer: tuple) -> bool:
    """``inner`` lies within ``outer`` and is shorter."""
    return outer[0] <= inner[0] and inner[1] <= outer[1] and (outer[1] - outer[0]) > (inner[1] - inner[0])


def _merge(found: list[tuple[int, int, str, str]]) -> list[Hit]:
    hits: list[Hit] = []
    for start, end, term, severity in sorted(found):
        if hits and start < hits[-1].end:
            last = hits.pop()
            terms = last.terms if term in last.terms else last.terms + (term,)
            sev = BLOCK if BLOCK in (last.severity, severity) else WARN
            hits.append(Hit(last.start, max(last.end, end), terms, sev))
        else:
            hits.append(Hit(start, end, (term,), severity))
    return hits


_cache: dict[tuple, CompiledList] = {}
_cache_lock = threading.Lock()


def published_lists(*, confusables: Confusables | None = None) -> list[CompiledList]:
    """The compiled latest revision of every word list (one query while cached).

    ``confusables`` compiles them with another table instead of the published one (a proposal's
    dry run); such lists are not cached."""
    table_row = ConfusableTable.objects.filter(pk=TABLE_ID)
    rows = list(
        WordList.objects.annotate(
            table_version=Subquery(table_row.values("version")[:1]),
            table_updated=Subquery(table_row.values("updated_at")[:1]),
        ).values("id", "rule", "version", "message", "hint", "updated_at", "table_version", "table_updated")
    )
    result = []
    for row in rows:
        if row["version"] == 0:
            continue  # never published: nothing to match yet
        table = confusables or published_confusables(
            version=row["table_version"] or 0, updated_at=row["table_updated"]
        )
        key = (row["id"], row["version"], row["updated_at"], table.version, table.updated_at)
        compiled = _cache.get(key) if confusables is None else None
        if compiled is None:
            revision = WordListRevision.objects.filter(wordlist_id=row["id"], version=row["version"]).first()
            if revision is None:
                continue
            compiled = CompiledList.build(
                rule=row["rule"], version=row["version"], message=row["message"], hint=row["hint"],
                terms=[(t, s) for t, s in revision.terms], exceptions=revision.exceptions, confusables=table,
            )
            if confusables is None:
                with _cache_lock:
                    for stale in [k for k in _cache if k[0] == row["id"]]:
                        _cache.pop(stale, None)
                    _cache[key] = compiled
        result.append(compiled)
    return result
