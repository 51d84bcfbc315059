"""The labelled content-policy corpus (issue 24) through ``check_content --json``.

Every item of ``tests/reviews/corpus/`` (templates and signatures, see its README.md) is
checked through the operators' command; the test prints a per-rule precision/recall table
(with ``-s``, and in pytest's terminal summary so CI logs show it) and fails when any rule is
below 98 % on either, when a clean text gets any finding, or when a blocking finding does not
cover the offending characters the item marks.

Besides the files, the corpus holds what the platform has approved: the official templates
(seeded by a migration), and the demo shop's approved template and signatures (``seed_demo``'s
reviews part); a live or pending signature checked again by another shop is a SIG-DUPLICATE.
"""

from __future__ import annotations

import json

import pytest
from django.db import transaction

from reviews.demo import seed_demo_reviews
from reviews.models.review import ReviewState
from reviews.models.signatures import Signature
from reviews.models.templates import MessageTemplate
from reviews.services.signatures import signature_approve, signature_submit
from tests.factories import make_reviewer, make_shop, make_user
from tests.reviews.corpus import harness

MIN_TEMPLATES = 300
MIN_SIGNATURES = 60
MIN_WRITTEN_CLEAN_TEMPLATES = 200  # clean texts written for the purpose (families clean, clean_trap)
# The evasion families of the issue and the clean traps; each must have items.
TEMPLATE_FAMILIES = {
    "clean", "clean_trap", "official", "approved_history", "listed", "pinyin", "homophone", "lookalike",
    "fullwidth", "separator", "link_obfuscation", "number_obfuscation", "review_bait_pattern",
    "offsite_pattern",
}
SIGNATURE_FAMILIES = {
    "sig_clean", "sig_test", "sig_charset", "sig_platform", "sig_neutral", "sig_length", "sig_duplicate",
}
# A second shop whose live signature the duplicate items (signatures_*.jsonl) differ from only by case.
OTHER_LIVE_SIGNATURE = "LilyGarden"
# Families of the items the test builds from the database (they may repeat a file's text).
GENERATED_FAMILIES = {"official", "approved_history", "sig_duplicate"}
# check_content --json prints these keys (its shape is an interface: operators' scripts read it).
RESULT_KEYS = {"text", "ok", "findings", "length", "parts"}
FINDING_KEYS = {"rule", "start", "end", "severity", "message", "hint"}
OPTIONAL_FINDING_KEYS = {"list_version", "spans"}
# pytest-django creates the test database only for a session with marked tests.
pytestmark = pytest.mark.django_db


class CorpusSummary:
    """A pytest plugin printing the table at the end of the run (the terminal summary)."""

    name = "policy-corpus-summary"

    def __init__(self, table: str) -> None:
        self.table = table

    def pytest_terminal_summary(self, terminalreporter) -> None:
        terminalreporter.write_sep("=", "content-policy corpus: precision and recall per rule")
        terminalreporter.write_line(self.table)


def _seed_world() -> None:
    """The demo shop's reviews data (approved template, live and pending signatures), another live one."""
    reviewer = make_reviewer("corpus-reviewer")
    alice = make_user("corpus-alice")
    seed_demo_reviews(shop=make_shop("爱丽丝服饰", owner=alice), merchant=alice, reviewer=reviewer)
    lily = make_user("corpus-lily")
    signature = signature_submit(shop=make_shop("莉莉花园", owner=lily), text=OTHER_LIVE_SIGNATURE, by=lily)
    signature_approve(signature=signature, reviewer=reviewer)


def _approved_items() -> list[harness.Item]:
    """What the platform approved: official and approved custom templates, signatures in use."""
    items = []
    templates = MessageTemplate.objects.filter(state=ReviewState.APPROVED).order_by("pk")
    for template in templates:
        family = "official" if template.origin == "official" else "approved_history"
        items.append(harness.generated_item(
            harness.TEMPLATE, text=template.text, expect=[], family=family,
            note=template.name, source=f"MessageTemplate #{template.pk}",
        ))
    signatures = Signature.objects.filter(state__in=[ReviewState.PENDING, ReviewState.APPROVED])
    for signature in signatures.order_by("pk"):
        items.append(harness.generated_item(
            harness.SIGNATURE, text=signature.text, expect=["SIG-DUPLICATE"], family="sig_duplicate",
            note="a signature in use, submitted by another shop", source=f"Signature #{signature.pk}",
        ))
    return items


@pytest.fixture(scope="module")
def report(request, django_db_setup, django_db_blocker) -> harness.Report:
    """The whole corpus checked once, in a transaction rolled back afterwards."""
    items = harness.load_items(harness.TEMPLATE) + harness.load_items(harness.SIGNATURE)
    with django_db_blocker.unblock(), transaction.atomic():
        _seed_world()
        items += _approved_items()
        outcomes = harness.run(items)
        transaction.set_rollback(True)
    result = harness.Report(outcomes)
    table = result.table()
    print("\n" + table)
    plugins = request.config.pluginmanager
    if plugins.get_plugin(CorpusSummary.name) is None:
        plugins.register(CorpusSummary(table), name=CorpusSummary.name)
    return result


def test_it_holds_enough_items_of_every_family(report):
    items = [o.item for o in report.outcomes]
    templates = [i for i in items if i.kind == harness.TEMPLATE]
    signatures = [i for i in items if i.kind == harness.SIGNATURE]
    assert len(templates) >= MIN_TEMPLATES
    assert len(signatures) >= MIN_SIGNATURES
    written_clean = [i for i in templates if i.clean and i.family in {"clean", "clean_trap"}]
    assert len(written_clean) >= MIN_WRITTEN_CLEAN_TEMPLATES
    assert TEMPLATE_FAMILIES <= {i.family for i in templates}
    assert SIGNATURE_FAMILIES <= {i.family for i in signatures}
    for kind_items in (templates, signatures):
        texts = [i.text for i in kind_items if i.family not in GENERATED_FAMILIES]
        duplicates = {t for t in texts if texts.count(t) > 1}
        assert not duplicates, f"items listed twice: {sorted(duplicates)}"


def test_it_covers_every_rule_the_issue_names(report):
    expected = {rule for o in report.outcomes for rule in o.item.expect}
    assert expected >= {
        "TPL-OFFSITE", "TPL-LINK", "TPL-ADLAW", "TPL-REVIEW-BAIT", "TPL-IMPERSONATE",
        "SIG-PLATFORM", "SIG-NEUTRAL", "SIG-CHARSET", "SIG-DUPLICATE",
    }


def test_it_keeps_every_rule_at_98_percent_precision_and_recall(report):
    failing = [
        f"{s.rule}: precision {s.precision:.1%}, recall {s.recall:.1%}" for s in report.failing_rules
    ]
    assert not failing, "\n".join(failing) + "\n\n" + report.table() + "\n\n" + report.mistakes()


def test_it_leaves_every_clean_text_without_a_finding(report):
    flagged = harness.unclean(report.outcomes)
    details = [
        f"{o.item.source} [{o.item.family}] {o.item.text} -> "
        + "; ".join(f"{f['rule']} {f['severity']} {o.item.text[f['start']:f['end']]!r}" for f in o.findings)
        for o in flagged
    ]
    assert not flagged, "\n".join(details)


def test_it_marks_the_characters_the_merchant_typed(report):
    missing = [f"{o.item.source} {mark!r} in {o.item.text}" for o, mark in harness.unmarked(report.outcomes)]
    assert not missing, "\n".join(missing)
    for outcome in report.outcomes:
        for finding in outcome.findings:
            assert 0 <= finding["start"] <= finding["end"] <= len(outcome.item.text)
            assert finding["message"] and finding["hint"]
        assert outcome.ok == (not outcome.blocked)


def test_it_reads_the_commands_json_in_todays_shape(report):
    for outcome in report.outcomes:
        assert set(outcome.result) == RESULT_KEYS, outcome.item.source
        if outcome.item.kind == harness.SIGNATURE:
            assert outcome.result["length"] is None and outcome.result["parts"] is None
        else:
            assert isinstance(outcome.result["length"], int) and outcome.result["parts"] >= 1
        for finding in outcome.findings:
            assert FINDING_KEYS <= set(finding) <= FINDING_KEYS | OPTIONAL_FINDING_KEYS, outcome.item.source


def test_it_refuses_a_malformed_line(tmp_path):
    path = tmp_path / "templates_bad.jsonl"
    line = {"text": "夏季新品上市", "expect": ["SIG-PLATFORM"], "family": "clean"}
    path.write_text(json.dumps(line, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(harness.CorpusError, match="templates_bad.jsonl:1"):
        harness.load_items(harness.TEMPLATE, tmp_path)
    line = {"text": "夏季新品上市", "expect": [], "family": "clean", "marks": ["夏"]}
    path.write_text(json.dumps(line, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(harness.CorpusError, match="nothing to mark"):
        harness.load_items(harness.TEMPLATE, tmp_path)


def test_it_scores_a_miss_and_a_false_alarm():
    clean = harness.generated_item(harness.TEMPLATE, text="a", expect=[], family="clean", note="", source="x")
    bad = harness.generated_item(
        harness.TEMPLATE, text="b", expect=["TPL-OFFSITE"], family="listed", note="", source="y"
    )
    offsite, nothing = frozenset({"TPL-OFFSITE"}), frozenset()
    outcomes = [
        harness.Outcome(item=clean, ok=False, blocked=offsite, warned=nothing, findings=[]),
        harness.Outcome(item=bad, ok=True, blocked=nothing, warned=nothing, findings=[]),
        harness.Outcome(item=bad, ok=False, blocked=offsite, warned=nothing, findings=[]),
    ]
    scored = harness.score(outcomes)["TPL-OFFSITE"]
    assert (scored.tp, scored.fp, scored.fn, scored.support) == (1, 1, 1, 2)
    assert scored.precision == 0.5 and scored.recall == 0.5 and not scored.passes
    assert harness.unclean(outcomes) == [outcomes[0]]


def test_it_requires_the_blocking_spans_to_cover_every_marked_character():
    item = harness.Item(
        kind=harness.TEMPLATE, text="请加 微 信领取", expect=frozenset({"TPL-OFFSITE"}), family="separator",
        note="", source="x", marks=("微 信",),
    )
    finding = {"rule": "TPL-OFFSITE", "severity": "block", "start": 3, "end": 6}
    covered = harness.Outcome(
        item=item, ok=False, blocked=frozenset({"TPL-OFFSITE"}), warned=frozenset(), findings=[finding]
    )
    assert harness.unmarked([covered]) == []
    half = harness.Outcome(
        item=item, ok=False, blocked=frozenset({"TPL-OFFSITE"}), warned=frozenset(),
        findings=[{**finding, "end": 4}],
    )
    warned = harness.Outcome(
        item=item, ok=True, blocked=frozenset(), warned=frozenset({"TPL-OFFSITE"}),
        findings=[{**finding, "severity": "warn"}],
    )
    assert harness.unmarked([half, warned]) == [(half, "微 信"), (warned, "微 信")]

