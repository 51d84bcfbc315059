"""Pattern rules: two groups of terms within a short distance (``reviews.models.patterns``).

A pattern matches where a term of the first group and a term of the second group occur with at
most ``max_gap`` characters between them (in either order, or first-group-first when ``ordered``)
and no sentence end (。！？!?; or a line break) between them: 晒图 … 红包, 关注 … 公众号.

Each group is matched like a word list (``reviews.policy.wordlists.CompiledList``): on the same
evasion view of the text the word-list rules use (``reviews.policy.text.evasion_view``: separators,
full-width forms, the confusables table, pinyin), with the pattern's exceptions masking
a term inside an allowed phrase (好评 in 好评如潮) and the Latin-boundary rule. So every trick the
word lists see through (separators, full-width forms, look-alikes) holds for patterns too. Spans
are mapped back to the text as typed.

Compiled patterns are cached per process by (pattern id, version, updated_at); publishing bumps
the version, so every process uses the new definition on its next check.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from django.db.models import Subquery

from reviews.findings import Finding
from reviews.models.confusables import TABLE_ID, ConfusableTable
from reviews.models.patterns import ContentPattern, PatternRevision
from reviews.policy.confusables import Confusables, published_confusables
from reviews.policy.text import MatchText
from reviews.policy.wordlists import CompiledList

# Marks that end a sentence: a pattern never joins words across them.
SENTENCE_END = set("。！？!?；;\n\r")
_TERM_SEPARATORS = re.compile(r"[\n\r、，,；;]+")


def parse_terms(value: str) -> list[str]:
    """The terms of a textarea: one a line (or separated by 、 ， , ；), stripped, in order, unique."""
    return list(dict.fromkeys(t.strip() for t in _TERM_SEPARATORS.split(value or "") if t.strip()))


def parse_lines(value: str) -> list[str]:
    """The example texts of a textarea: one a line, stripped, blank lines skipped."""
    return [line.strip() for line in (value or "").splitlines() if line.strip()]


def pattern_definition(pattern: ContentPattern) -> dict:
    """The draft fields of ``pattern`` as the JSON a ``PatternRevision`` stores."""
    return {
        "rule": pattern.rule,
        "name": pattern.name,
        "first_terms": parse_terms(pattern.first_terms),
        "second_terms": parse_terms(pattern.second_terms),
        "max_gap": pattern.max_gap,
        "ordered": pattern.ordered,
        "exceptions": parse_terms(pattern.exceptions),
        "severity": pattern.severity,
        "message": pattern.message,
        "hint": pattern.hint,
        "active": pattern.active,
    }


@dataclass(frozen=True)
class CompiledPattern:
    pattern_id: int | None
    name: str
    rule: str
    version: int
    first: CompiledList
    second: CompiledList
    max_gap: int
    ordered: bool
    severity: str
    message: str
    hint: str
    active: bool

    @classmethod
    def build(
        cls,
        *,
        definition: dict,
        version: int,
        pattern_id: int | None = None,
        confusables: Confusables | None = None,
    ) -> CompiledPattern:
        """Compile a definition (``pattern_definition``); also used for drafts and proposals.
        ``confusables`` defaults to the published table (as for word lists)."""
        severity = definition["severity"]

        def group(terms: list[str]) -> CompiledList:
            return CompiledList.build(
                rule=definition["rule"],
                version=version,
                message=definition["message"],
                hint=definition["hint"],
                terms=[(t, severity) for t in terms],
                exceptions=definition.get("exceptions", []),
                confusables=confusables,
            )

        return cls(
            pattern_id=pattern_id,
            name=definition.get("name", ""),
            rule=definition["rule"],
            version=version,
            first=group(definition["first_terms"]),
            second=group(definition["second_terms"]),
            max_gap=int(definition["max_gap"]),
            ordered=bool(definition.get("ordered")),
            severity=severity,
            message=definition["message"],
            hint=definition["hint"],
            active=definition.get("active", True),
        )

    def spans(self, view: MatchText) -> list[tuple[int, int]]:
        """Spans [start, end) of ``view.text`` (the text's ``view``) where the pattern matches,
        overlapping ones merged."""
        firsts = self.first.hits(view)
        if not firsts:
            return []
        seconds = self.second.hits(view)
        found = []
        for a in firsts:
            for b in seconds:
                if a.end <= b.start:
                    left, right = a, b
                elif b.end <= a.start and not self.ordered:
                    left, right = b, a
                else:
                    continue  # overlapping, or in the wrong order
                if right.start - left.end > self.max_gap:
                    continue
                if _sentence_ends_between(view, left.end, right.start):
                    continue
                found.append((left.start, right.end))
        return _merge(found)


def _sentence_ends_between(view: MatchText, start: int, end: int) -> bool:
    """A sentence-ending mark (or a line break, which the view drops) in the typed text between
    the match ending at ``start`` and the one beginning at ``end`` (view positions)."""
    typed_from, typed_to = view.span(start - 1, start)[1], view.span(end, end + 1)[0]
    return any(char in SENTENCE_END for char in view.original[typed_from:typed_to])


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def pattern_findings(
    *, text: str, patterns: list[CompiledPattern], masked: list[tuple[int, int]] = ()
) -> list[Finding]:
    """The findings of ``patterns`` in ``text`` (spans in the text as typed), matched on the same
    evasion view as the word lists. A match touching a ``masked`` span (the system's variable
    tokens) is not reported."""
    found = []
    for pattern in patterns:
        if not pattern.active:
            continue
        view = pattern.first.view(text)  # the evasion view (cached per text and confusables table)
        for start, end in pattern.spans(view):
            span = view.span(start, end)
            if any(span[0] < b and a < span[1] for a, b in masked):
                continue
            typed = text[span[0] : span[1]]
            found.append(
                Finding(
                    rule=pattern.rule,
                    start=span[0],
                    end=span[1],
                    severity=pattern.severity,
                    message=pattern.message.replace("{term}", typed),
                    hint=pattern.hint.replace("{term}", typed),
                    list_version=pattern.version,
                )
            )
    return found


_cache: dict[tuple, CompiledPattern] = {}
_cache_lock = threading.Lock()


def published_patterns() -> list[CompiledPattern]:
    """The compiled latest revision of every published, active pattern (one query while cached)."""
    # The groups match through the confusables table: a new table version recompiles them. Its
    # version is read in the same query (as ``published_lists`` does).
    table_row = ConfusableTable.objects.filter(pk=TABLE_ID)
    rows = list(
        ContentPattern.objects.filter(version__gt=0)
        .annotate(
            table_version=Subquery(table_row.values("version")[:1]),
            table_updated=Subquery(table_row.values("updated_at")[:1]),
        )
        .values("id", "version", "updated_at", "table_version", "table_updated")
    )
    if not rows:
        return []
    table = published_confusables(version=rows[0]["table_version"] or 0, updated_at=rows[0]["table_updated"])
    result = []
    for row in rows:
        key = (row["id"], row["version"], row["updated_at"], table.version, table.updated_at)
        compiled = _cache.get(key)
        if compiled is None:
            revision = PatternRevision.objects.filter(pattern_id=row["id"], version=row["version"]).first()
            if revision is None:
                continue
            compiled = CompiledPattern.build(
                definition=revision.definition,
                version=row["version"],
                pattern_id=row["id"],
                confusables=table,
            )
            with _cache_lock:
                for stale in [k for k in _cache if k[0] == row["id"]]:
                    _cache.pop(stale, None)
                _cache[key] = compiled
        if compiled.active:
            result.append(compiled)
    return result


def with_pattern_findings(
    findings: list[Finding], *, text: str, patterns: list[CompiledPattern], masked: list[tuple[int, int]]
) -> list[Finding]:
    """``findings`` plus the patterns' findings, ordered by position. A pattern finding overlapping a
    finding of the same rule (好评返现 and 公众号 are also listed terms) adds nothing and is left out."""
    extra = [
        p
        for p in pattern_findings(text=text, patterns=patterns, masked=masked)
        if not any(f.rule == p.rule and f.start < p.end and p.start < f.end for f in findings)
    ]
    if not extra:
        return findings
    return sorted(findings + extra, key=lambda f: (f.start, f.end, f.rule))
