"""Word-list matching with exceptions as data.

A compiled list holds the terms and exceptions of one published revision,
in the form they are matched in (``text.compact_term``). Matching a text:

1. every occurrence of every term (overlapping occurrences included);
   a term that begins or ends with a Latin letter (digit) only matches where the
   original text does not continue with another letter (digit): QQ in "QQ号",
   vx in "vx123456", but 加V not in "加VIP" and top1 not in "top10";
2. every occurrence of every exception (allowed phrase);
3. a term occurrence lying entirely inside an exception occurrence is dropped
   (第一 inside 第一次, 群 inside 人群, QQ inside QQ音乐);
4. occurrences inside a longer occurrence are dropped, overlapping ones are
   merged into one hit (加微信号 is one hit, not 加微信 + 微信号 + 微信).

Compiled lists are cached per process by (list id, version, updated_at); a
publish bumps the version, so every process sees the new terms on its next check.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from reviews.models.policy import WordList, WordListRevision
from reviews.policy.text import MatchText, compact_term, is_ascii_alnum

BLOCK, WARN = "block", "warn"


@dataclass(frozen=True)
class Hit:
    start: int  # in the match text
    end: int
    terms: tuple[str, ...]
    severity: str


@dataclass(frozen=True)
class CompiledList:
    rule: str
    version: int
    message: str
    hint: str
    terms: tuple[tuple[str, str], ...]  # (compact term, severity)
    exceptions: tuple[str, ...]  # compact phrases

    @classmethod
    def build(cls, *, rule: str, version: int, message: str, hint: str, terms, exceptions) -> CompiledList:
        compiled_terms: dict[str, str] = {}
        for term, severity in terms:
            key = compact_term(term)
            if not key:
                continue
            # The same term listed twice (after normalisation): the stricter severity wins.
            if compiled_terms.get(key) != BLOCK:
                compiled_terms[key] = severity
        compiled_exceptions = {compact_term(phrase) for phrase in exceptions} - {""}
        return cls(
            rule=rule, version=version, message=message, hint=hint,
            terms=tuple(sorted(compiled_terms.items())),
            exceptions=tuple(sorted(compiled_exceptions)),
        )

    def hits(self, text: MatchText) -> list[Hit]:
        haystack = text.text
        found: list[tuple[int, int, str, str]] = []
        for term, severity in self.terms:
            for start in _occurrences(haystack, term):
                end = start + len(term)
                if _at_latin_boundary(text, start, end, term):
                    found.append((start, end, term, severity))
        if not found:
            return []
        allowed = [(s, s + len(p)) for p in self.exceptions for s in _occurrences(haystack, p)]
        found = [f for f in found if not any(a <= f[0] and f[1] <= b for a, b in allowed)]
        # Drop occurrences strictly inside a longer one.
        found = [f for f in found if not any(_strictly_inside(f, o) for o in found)]
        return _merge(found)


def _strictly_inside(inner: tuple, outer: tuple) -> bool:
    """``inner`` lies within ``outer`` and is shorter."""
    return outer[0] <= inner[0] and inner[1] <= outer[1] and (outer[1] - outer[0]) > (inner[1] - inner[0])


def _occurrences(haystack: str, needle: str):
    start = haystack.find(needle)
    while start != -1:
        yield start
        start = haystack.find(needle, start + 1)


def _same_latin_class(a: str, b: str) -> bool:
    """Both ASCII letters or both ASCII digits (a Latin word would continue)."""
    if not (a and b and is_ascii_alnum(a) and is_ascii_alnum(b)):
        return False
    return a.isdigit() == b.isdigit()


def _at_latin_boundary(text: MatchText, start: int, end: int, term: str) -> bool:
    """A term's Latin edge must not continue a Latin word: 加V not in 加VIP, but vx in vx123456."""
    if _same_latin_class(term[0], text.before(start)):
        return False
    if _same_latin_class(term[-1], text.after(end)):
        return False
    return True


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


def published_lists() -> list[CompiledList]:
    """The compiled latest revision of every word list (cached per version)."""
    lists = list(WordList.objects.values("id", "rule", "version", "message", "hint", "updated_at"))
    result = []
    for row in lists:
        if row["version"] == 0:
            continue  # never published: nothing to match yet
        key = (row["id"], row["version"], row["updated_at"])
        compiled = _cache.get(key)
        if compiled is None:
            revision = WordListRevision.objects.filter(wordlist_id=row["id"], version=row["version"]).first()
            if revision is None:
                continue
            compiled = CompiledList.build(
                rule=row["rule"], version=row["version"], message=row["message"], hint=row["hint"],
                terms=[(t, s) for t, s in revision.terms], exceptions=revision.exceptions,
            )
            with _cache_lock:
                for stale in [k for k in _cache if k[0] == row["id"]]:
                    _cache.pop(stale, None)
                _cache[key] = compiled
        result.append(compiled)
    return result
