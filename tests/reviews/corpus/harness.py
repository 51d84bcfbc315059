"""Load the labelled corpus, run it through ``check_content --json``, score every rule.

The interface is the operators' command (``manage.py check_content --kind template --json``,
and ``--kind signature``), called in-process with ``call_command``: the same code path, the
same JSON shape, without a process start per run.

An item is *flagged* by a rule when the rule produced a finding of severity ``block``
(the merchant cannot submit). Warnings are reminders for the reviewer: they do not count in
precision and recall, but a clean item (``expect`` empty) must have none either, unless the
item lists the rule in ``warn`` (a documented reminder).
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import CommandError

CORPUS_DIR = Path(__file__).parent
THRESHOLD = 0.98  # the minimum precision and recall per rule
EXIT_BLOCKED = 1  # check_content's exit status when some text is blocked

TEMPLATE, SIGNATURE = "template", "signature"
# File name -> kind; each file holds one JSON object a line (blank lines and lines starting with # skipped).
FILE_PATTERNS = {TEMPLATE: "templates_*.jsonl", SIGNATURE: "signatures_*.jsonl"}
TEXT_FIELD = {TEMPLATE: "text", SIGNATURE: "signature"}
RULE_PREFIX = {TEMPLATE: "TPL-", SIGNATURE: "SIG-"}
KNOWN_FIELDS = {"text", "signature", "expect", "warn", "family", "note", "marks"}
FAMILY_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class CorpusError(ValueError):
    """A corpus line is malformed (the message names the file and line)."""


@dataclass(frozen=True)
class Item:
    kind: str  # template or signature
    text: str  # as typed
    expect: frozenset[str]  # rules that must block
    family: str
    note: str
    source: str  # file:line, or where a generated item came from
    warn: frozenset[str] = frozenset()  # rules allowed to warn on a clean item
    marks: tuple[str, ...] = ()  # substrings the blocking findings must cover

    @property
    def clean(self) -> bool:
        return not self.expect


@dataclass
class Outcome:
    item: Item
    ok: bool
    blocked: frozenset[str]  # rules with a block finding
    warned: frozenset[str]  # rules with only warn findings
    findings: list[dict]
    result: dict = field(default_factory=dict)  # the command's JSON object for the item, as printed

    @property
    def missed(self) -> frozenset[str]:
        return self.item.expect - self.blocked

    @property
    def extra(self) -> frozenset[str]:
        return self.blocked - self.item.expect

    @property
    def correct(self) -> bool:
        return self.blocked == self.item.expect


def _item(kind: str, data: dict, source: str) -> Item:
    if not isinstance(data, dict):
        raise CorpusError(f"{source}: a line must be a JSON object")
    unknown = set(data) - KNOWN_FIELDS
    if unknown:
        raise CorpusError(f"{source}: unknown fields {sorted(unknown)}")
    text = data.get(TEXT_FIELD[kind])
    if not isinstance(text, str) or not text.strip():
        raise CorpusError(f"{source}: {TEXT_FIELD[kind]!r} must be a non-blank string")
    if "\n" in text or "\r" in text:
        # check_content reads one text a line.
        raise CorpusError(f"{source}: a text cannot contain a line break")
    expect = data.get("expect")
    if not isinstance(expect, list) or not all(isinstance(r, str) for r in expect):
        raise CorpusError(f"{source}: 'expect' must be a list of rule ids ([] for a clean text)")
    warn = data.get("warn", [])
    for rule in [*expect, *warn]:
        if not rule.startswith(RULE_PREFIX[kind]):
            raise CorpusError(f"{source}: rule {rule!r} is not a {kind} rule ({RULE_PREFIX[kind]}*)")
    family = data.get("family")
    if not isinstance(family, str) or not FAMILY_RE.match(family):
        raise CorpusError(f"{source}: 'family' must be a lower-case identifier")
    marks = tuple(data.get("marks", ()))
    for mark in marks:
        if mark not in text:
            raise CorpusError(f"{source}: mark {mark!r} is not in the text")
    if marks and not expect:
        raise CorpusError(f"{source}: a clean item has nothing to mark")
    return Item(
        kind=kind, text=text, expect=frozenset(expect), family=family, note=data.get("note", ""),
        source=source, warn=frozenset(warn), marks=marks,
    )


def load_items(kind: str, directory: Path = CORPUS_DIR) -> list[Item]:
    """Every item of ``kind`` in the corpus files, in file and line order."""
    items: list[Item] = []
    for path in sorted(directory.glob(FILE_PATTERNS[kind])):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            source = f"{path.name}:{number}"
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusError(f"{source}: not JSON ({exc})") from exc
            items.append(_item(kind, data, source))
    return items


def generated_item(
    kind: str, *, text: str, expect: Iterable[str], family: str, note: str, source: str
) -> Item:
    """An item built by the test from data (official templates, approved history)."""
    return Item(kind=kind, text=text, expect=frozenset(expect), family=family, note=note, source=source)


def check_through_command(kind: str, texts: list[str]) -> list[dict]:
    """``manage.py check_content --kind KIND --json`` over ``texts`` (one a line), parsed."""
    stdout = io.StringIO()
    try:
        call_command(
            "check_content", "--kind", kind, "--json",
            stdin=io.StringIO("".join(f"{t}\n" for t in texts)), stdout=stdout,
        )
    except CommandError as exc:
        if exc.returncode != EXIT_BLOCKED:
            raise
    results = [json.loads(line) for line in stdout.getvalue().splitlines() if line.strip()]
    if len(results) != len(texts):
        raise AssertionError(f"check_content printed {len(results)} results for {len(texts)} texts")
    return results


def run(items: list[Item]) -> list[Outcome]:
    """Check every item through the command (one call per kind), in order."""
    outcomes: dict[int, Outcome] = {}
    for kind in (TEMPLATE, SIGNATURE):
        indexed = [(i, item) for i, item in enumerate(items) if item.kind == kind]
        if not indexed:
            continue
        results = check_through_command(kind, [item.text for _i, item in indexed])
        for (index, item), result in zip(indexed, results, strict=True):
            if result["text"] != item.text:
                raise AssertionError(f"{item.source}: the command answered for another text")
            findings = result["findings"]
            blocked = frozenset(f["rule"] for f in findings if f["severity"] == "block")
            warned = frozenset(f["rule"] for f in findings) - blocked
            outcomes[index] = Outcome(
                item=item, ok=result["ok"], blocked=blocked, warned=warned, findings=findings, result=result
            )
    return [outcomes[i] for i in range(len(items))]


@dataclass
class RuleScore:
    rule: str
    tp: int = 0
    fp: int = 0
    fn: int = 0
    support: int = 0  # items expected to be flagged by the rule

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def passes(self) -> bool:
        return self.precision >= THRESHOLD and self.recall >= THRESHOLD


def score(outcomes: list[Outcome]) -> dict[str, RuleScore]:
    """Per rule: true positives, false positives (flagged, not expected), misses."""
    scores: dict[str, RuleScore] = {}
    for outcome in outcomes:
        for rule in outcome.item.expect | outcome.blocked:
            entry = scores.setdefault(rule, RuleScore(rule))
            expected, flagged = rule in outcome.item.expect, rule in outcome.blocked
            entry.support += expected
            entry.tp += expected and flagged
            entry.fp += flagged and not expected
            entry.fn += expected and not flagged
    return dict(sorted(scores.items()))


def unclean(outcomes: list[Outcome]) -> list[Outcome]:
    """Clean items with any finding: a block, or a warning the item does not list."""
    return [o for o in outcomes if o.item.clean and (o.blocked or o.warned - o.item.warn)]


def _covered(text: str, mark: str, spans: list[tuple[int, int]]) -> bool:
    start = text.index(mark)
    return all(
        text[i].isspace() or any(s <= i < e for s, e in spans) for i in range(start, start + len(mark))
    )


def unmarked(outcomes: list[Outcome]) -> list[tuple[Outcome, str]]:
    """Marks (offending substrings) not covered by a blocking finding of an expected rule."""
    missing = []
    for outcome in outcomes:
        spans = [
            (f["start"], f["end"]) for f in outcome.findings
            if f["severity"] == "block" and f["rule"] in outcome.item.expect
        ]
        for mark in outcome.item.marks:
            if not _covered(outcome.item.text, mark, spans):
                missing.append((outcome, mark))
    return missing


def _file_of(source: str) -> str:
    """The corpus file of an item ("templates_x.jsonl:12"), or "database" for a generated one."""
    name = source.rsplit(":", 1)[0]
    return name if name.endswith(".jsonl") else "database"


@dataclass
class Report:
    outcomes: list[Outcome]
    scores: dict[str, RuleScore] = field(init=False)

    def __post_init__(self) -> None:
        self.scores = score(self.outcomes)

    @property
    def failing_rules(self) -> list[RuleScore]:
        return [s for s in self.scores.values() if not s.passes]

    def table(self) -> str:
        counts = Counter(o.item.kind for o in self.outcomes)
        clean = Counter(o.item.kind for o in self.outcomes if o.item.clean)
        lines = [
            f"Content-policy corpus: {counts[TEMPLATE]} templates ({clean[TEMPLATE]} clean), "
            f"{counts[SIGNATURE]} signatures ({clean[SIGNATURE]} clean); "
            f"flagged = a block finding; minimum {THRESHOLD:.0%} precision and recall per rule",
            f"{'rule':<18}{'support':>8}{'TP':>6}{'FP':>6}{'FN':>6}{'precision':>11}{'recall':>9}  ",
        ]
        for s in self.scores.values():
            mark = "" if s.passes else "  << below threshold"
            lines.append(
                f"{s.rule:<18}{s.support:>8}{s.tp:>6}{s.fp:>6}{s.fn:>6}"
                f"{s.precision:>11.1%}{s.recall:>9.1%}{mark}"
            )
        lines.append(f"clean items with a finding: {len(unclean(self.outcomes))}")
        lines += self._grouped("family", lambda o: (o.item.kind, o.item.family))
        lines += self._grouped("file", lambda o: (o.item.kind, _file_of(o.item.source)))
        return "\n".join(lines)

    def _grouped(self, title: str, key) -> list[str]:
        """Items and wrong items (a rule missed or extra, or a clean item with a warning) per group."""
        groups: dict[tuple[str, str], list[Outcome]] = defaultdict(list)
        for o in self.outcomes:
            groups[key(o)].append(o)
        lines = [f"{'kind':<10}{title:<36}{'items':>6}{'wrong':>7}"]
        for (kind, name), group in sorted(groups.items()):
            flagged_clean = unclean(group)
            wrong = sum(not o.correct or o in flagged_clean for o in group)
            lines.append(f"{kind:<10}{name:<36}{len(group):>6}{wrong:>7}")
        return lines

    def mistakes(self, limit: int = 80) -> str:
        """The wrong items, for a failure message: where, expected, got."""
        wrong = [o for o in self.outcomes if not o.correct] + [
            o for o in unclean(self.outcomes) if o.correct
        ]
        lines = [
            f"{o.item.source} [{o.item.family}] expect={sorted(o.item.expect)} "
            f"blocked={sorted(o.blocked)} warned={sorted(o.warned)}: {o.item.text}"
            for o in wrong[:limit]
        ]
        if len(wrong) > limit:
            lines.append(f"… and {len(wrong) - limit} more")
        return "\n".join(lines)
