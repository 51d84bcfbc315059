"""The compiled confusables table (``reviews.models.confusables``): variant → canonical spelling.

``Confusables`` is what ``reviews.policy.text.evasion_view`` replaces with: single characters,
then words; for each first character, the variants beginning with it, longest first (so 企鹅号
can win over 企鹅). A variant
with a Latin edge (vx, pdd) only replaces a whole Latin word: vx in "加vx123", not in "vxyz".

``published_confusables()`` is the latest published revision, compiled once per version and
process. A proposal's effect is measured with ``Confusables.with_pairs`` (nothing is published):
compile the word lists with it (``reviews.policy.wordlists.published_lists(confusables=...)``)
and check texts as usual.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from reviews.models.confusables import TABLE_ID, ConfusableRevision, ConfusableTable
from reviews.policy.text import evasion_view, is_ascii_alnum, plain_key

Pair = tuple[str, str, str]  # (variant, canonical, kind) as published
KEEP = "keep"  # ConfusableKind.KEEP: the variant stays as written
NEVER = re.compile(r"(?!)")  # matches nothing


@dataclass(frozen=True)
class Pass:
    """Variants replaced in one left-to-right pass: by first character, longest first."""

    index: dict[str, tuple[tuple[str, str, bool], ...]]
    first_chars: re.Pattern  # a character some variant begins with

    @classmethod
    def build(cls, kept: dict[str, tuple[str, bool]]) -> Pass:
        index: dict[str, list[tuple[str, str, bool]]] = {}
        for key, (target, latin_edged) in kept.items():
            index.setdefault(key[0], []).append((key, target, latin_edged))
        frozen = {
            first: tuple(sorted(entries, key=lambda e: (-len(e[0]), e[0])))
            for first, entries in index.items()
        }
        first_chars = re.compile("[" + "".join(map(re.escape, sorted(frozen))) + "]") if frozen else NEVER
        return cls(index=frozen, first_chars=first_chars)

    def candidates(self, char: str) -> tuple[tuple[str, str, bool], ...]:
        return self.index.get(char, ())


@dataclass(frozen=True, eq=False)
class Confusables:
    """One compiled revision of the table (hashed by identity: views are cached per table).

    Replacement runs in two passes: single characters first (東 → 东, Cyrillic о → o), then
    words, so a word variant also meets its variant characters (晶東 → 晶东 → 京东)."""

    version: int
    pairs: tuple[Pair, ...]
    updated_at: object = None
    passes: tuple[Pass, ...] = ()

    @classmethod
    def build(cls, pairs: Iterable[Iterable[str]], *, version: int, updated_at: object = None) -> Confusables:
        """Compile ``pairs`` ([variant, canonical, kind?]); a variant that is empty or the same as its
        canonical spelling after normalisation is left out, the first of two equal variants wins."""
        kept: dict[str, tuple[str, bool]] = {}
        published: list[Pair] = []
        for pair in pairs:
            variant, canonical, *rest = list(pair)
            key, _gaps = plain_key(variant)
            target, _gaps = plain_key(canonical)
            kind = rest[0] if rest else ""
            keep = kind == KEEP
            if keep:
                target = key  # kept as written: shields the phrase from shorter variants
            if not key or not target or (key == target and not keep) or key in kept:
                continue
            kept[key] = (target, is_ascii_alnum(key[0]) or is_ascii_alnum(key[-1]))
            published.append((variant, canonical, kind))
        characters = {k: v for k, v in kept.items() if len(k) == 1}
        words = {k: v for k, v in kept.items() if len(k) > 1}
        passes = tuple(Pass.build(part) for part in (characters, words) if part)
        return cls(version=version, pairs=tuple(published), updated_at=updated_at, passes=passes)

    def with_pairs(self, extra: Iterable[Iterable[str]]) -> Confusables:
        """This table plus ``extra`` pairs (a proposal), unpublished: version -1 marks it."""
        return Confusables.build([*[list(p) for p in extra], *self.pairs], version=-1)

    def canonical(self, text: str) -> str:
        """``text`` as the matcher sees it with this table (for admin previews and tests)."""
        return evasion_view(text, self).text


EMPTY = Confusables.build([], version=0)

_cache: dict[tuple, Confusables] = {}
_cache_lock = threading.Lock()


def published_confusables(*, version: int | None = None, updated_at: object = None) -> Confusables:
    """The latest published revision, compiled (cached per version). ``version``/``updated_at``
    are the table row's when the caller already read them (no query then while cached)."""
    if version is None:
        row = ConfusableTable.objects.filter(pk=TABLE_ID).values("version", "updated_at").first()
        if row is None:
            return EMPTY
        version, updated_at = row["version"], row["updated_at"]
    if not version:
        return EMPTY
    key = (version, updated_at)
    compiled = _cache.get(key)
    if compiled is not None:
        return compiled
    revision = ConfusableRevision.objects.filter(table_id=TABLE_ID, version=version).first()
    if revision is None:
        return EMPTY
    compiled = Confusables.build(revision.pairs, version=version, updated_at=updated_at)
    with _cache_lock:
        _cache.clear()  # only the latest revision is ever read again
        _cache[key] = compiled
    return compiled
