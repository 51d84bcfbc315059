"""Reviewer-taught rules: a span of a rejected item proposed as a rule, and a second reviewer
who sees the dry run and publishes (or declines) it.

The proposal's effect is compiled without publishing anything (``proposal_candidate``): a new
word-list term as a one-term ``CompiledList`` with the list's exceptions, run through the same
``rules.rule_wordlists`` the checker runs; a pattern as a ``CompiledPattern``; a confusable as
the word lists compiled with the confusables table plus the proposed pair. ``proposal_dry_run``
runs it over every pending custom template and the last ``DRY_RUN_REVIEWED`` reviewed ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from reviews.errors import AlreadyDecided, ReviewError, ReviewPermissionDenied
from reviews.findings import Finding
from reviews.models.confusables import ConfusableKind
from reviews.models.patterns import (
    MAX_PATTERN_GAP,
    SIGNATURE_RULES,
    ContentPattern,
    ProposalKind,
    ProposalStatus,
    RuleProposal,
)
from reviews.models.policy import Severity, WordList, WordListTerm
from reviews.models.review import ReviewState, may_review
from reviews.models.signatures import NeutralName, PlatformBrandTerm, Signature
from reviews.models.templates import MessageTemplate, TemplateOrigin
from reviews.normalization import normalize
from reviews.policy import rules
from reviews.policy.confusables import published_confusables
from reviews.policy.patterns import CompiledPattern, pattern_findings
from reviews.policy.text import compact_term
from reviews.policy.variables import tokens
from reviews.policy.wordlists import CompiledList, published_lists
from reviews.services.confusables import confusable_add
from reviews.services.patterns import pattern_publish
from reviews.services.wordlists import wordlist_publish
from reviews.signature_rules import active_brand_terms, active_neutral_names, check_neutral, check_platform

# The dry run reads every pending item and this many of the most recently reviewed ones.
DRY_RUN_REVIEWED = 10_000
DRY_RUN_SAMPLES = 10
DEFAULT_PATTERN_GAP = 6
MAX_PROPOSAL_CHARS = 64
MAX_CONFUSABLE_CHARS = 32  # Confusable.variant / canonical
PUBLISH_PERMISSIONS = {
    ProposalKind.TERM: "reviews.change_wordlist",
    ProposalKind.PATTERN: "reviews.change_contentpattern",
    ProposalKind.CONFUSABLE: "reviews.add_confusable",
}
SIGNATURE_TERM_PERMISSIONS = {
    "SIG-NEUTRAL": "reviews.add_neutralname",
    "SIG-PLATFORM": "reviews.add_platformbrandterm",
}


def _publish_permission(proposal: RuleProposal) -> str:
    if proposal.kind == ProposalKind.TERM and proposal.rule in SIGNATURE_TERM_PERMISSIONS:
        return SIGNATURE_TERM_PERMISSIONS[proposal.rule]
    return PUBLISH_PERMISSIONS[proposal.kind]


class ProposalInvalid(ReviewError):
    rule = "PROPOSAL-INVALID"


class ProposalSelfReview(ReviewError):
    """The four-eyes rule: the proposer cannot publish or decline her own proposal."""

    rule = "PROPOSAL-SELF-REVIEW"


# --- proposing -----------------------------------------------------------------


def rule_proposal_create(
    *,
    item: MessageTemplate | Signature,
    reviewer,
    kind: str,
    rule: str,
    start: int,
    end: int,
    canonical: str = "",
    max_gap: int | None = None,
    severity: str = Severity.BLOCK,
) -> RuleProposal:
    """Propose ``item.text[start:end]`` (the span the reviewer selected) as a rule of ``rule``.

    ``kind`` term: the span becomes a term of the rule's word list; confusable: the span is a
    look-alike spelling of ``canonical``; pattern: the span is the first group and ``canonical``
    the second, at most ``max_gap`` characters apart. Refused with ``ProposalInvalid`` (Chinese
    message) for a span outside the text, across a variable, empty once normalised, or a term the
    list already holds. Race: the same proposal made twice at once: the partial unique constraint
    ``ruleproposal_one_pending`` lets one in and the other gets the same refusal as a duplicate.

    A signature teaches its own lists (SIG-NEUTRAL: a neutral name, SIG-PLATFORM: a brand term) or
    a confusable; never a pattern.
    """
    if not may_review(item, reviewer):
        raise ReviewPermissionDenied()
    if kind not in ProposalKind.values:
        raise ProposalInvalid(_("请选择提案类型。"))
    signature = item.review_kind == Signature.review_kind
    if rule not in (SIGNATURE_RULES if signature else WordList.Rule.values):
        raise ProposalInvalid(_("请选择规则。"))
    if signature and kind == ProposalKind.PATTERN:
        raise ProposalInvalid(_("签名不能提出组合规则，请选择禁用词或形近/谐音字词。"))
    if severity not in Severity.values:
        raise ProposalInvalid(_("级别无效。"))
    text = item.text
    if not (0 <= start < end <= len(text)):
        raise ProposalInvalid(_("请先在文本中选中要作为规则的文字。"))
    if any(start < t.end and t.start < end for t in tokens(text)):
        raise ProposalInvalid(_("选中的文字不能包含变量，请只选中商家写的文字。"))
    selected = text[start:end].strip()
    if not any(char.isalnum() for char in selected):
        raise ProposalInvalid(_("选中的文字去掉空格和符号后为空，请重新选择。"))
    if len(selected) > MAX_PROPOSAL_CHARS:
        raise ProposalInvalid(
            _("选中的文字过长（最多%(n)d字），请只选中违规的词。") % {"n": MAX_PROPOSAL_CHARS}
        )
    canonical = (canonical or "").strip()
    if kind == ProposalKind.TERM:
        canonical, max_gap = "", None
        if _listed(rule, selected):
            raise ProposalInvalid(_("“%(t)s”已在词库中。") % {"t": selected})
    elif kind == ProposalKind.CONFUSABLE:
        max_gap = None
        if not compact_term(canonical):
            raise ProposalInvalid(_("形近/谐音提案需要填写被模仿的词（例如“微信”）。"))
        if compact_term(canonical) == compact_term(selected):
            raise ProposalInvalid(_("变体写法与被模仿的词相同。"))
        if max(len(selected), len(canonical)) > MAX_CONFUSABLE_CHARS:
            raise ProposalInvalid(_("形近/谐音字词最多%(n)d字。") % {"n": MAX_CONFUSABLE_CHARS})
    else:
        if not compact_term(canonical):
            raise ProposalInvalid(_("组合规则提案需要填写第二组词（例如“红包”）。"))
        max_gap = DEFAULT_PATTERN_GAP if max_gap is None else max_gap
        if not (0 <= max_gap <= MAX_PATTERN_GAP):
            raise ProposalInvalid(_("最大间隔字数应在0到%(n)d之间。") % {"n": MAX_PATTERN_GAP})
    if len(canonical) > MAX_PROPOSAL_CHARS:
        raise ProposalInvalid(_("填写的词过长（最多%(n)d字）。") % {"n": MAX_PROPOSAL_CHARS})
    try:
        with transaction.atomic():
            return RuleProposal.objects.create(
                kind=kind,
                rule=rule,
                text=selected,
                canonical=canonical,
                max_gap=max_gap,
                severity=severity,
                item_kind=item.review_kind,
                item_id=item.pk,
                item_text=text,
                span_start=start,
                span_end=end,
                proposed_by=reviewer,
                proposed_at=timezone.now(),
            )
    except IntegrityError as exc:
        raise ProposalInvalid(_("相同的提案已在等待复核。")) from exc


def _listed(rule: str, term: str) -> bool:
    if rule == "SIG-NEUTRAL":
        return NeutralName.objects.filter(term__iexact=term).exists()
    if rule == "SIG-PLATFORM":
        return PlatformBrandTerm.objects.filter(term__iexact=term).exists()
    return WordListTerm.objects.filter(wordlist__rule=rule, term=term).exists()


# --- what a proposal would flag ------------------------------------------------


def _subject(text: str, wordlists: list[CompiledList]) -> rules.Subject:
    return rules.Subject(
        text=text,
        signature=None,
        message_class="",
        specs={},
        allowed=set(),
        use_label="",
        wordlists=wordlists,
    )


def _wordlist_of(rule: str) -> WordList:
    wordlist = WordList.objects.filter(rule=rule).first()
    if wordlist is None:
        raise ProposalInvalid(_("规则 %(rule)s 没有词库。") % {"rule": rule})
    return wordlist


def proposal_candidate(proposal: RuleProposal) -> Callable[[str], list[Finding]]:
    """A function giving the findings the proposed change alone would add to a text."""
    if proposal.rule in SIGNATURE_RULES:
        return _signature_candidate(proposal)
    wordlist = _wordlist_of(proposal.rule)
    if proposal.kind == ProposalKind.TERM:
        exceptions = list(wordlist.exceptions.values_list("phrase", flat=True))
        candidate = CompiledList.build(
            rule=proposal.rule,
            version=wordlist.version + 1,
            message=wordlist.message,
            hint=wordlist.hint,
            terms=[(proposal.text, proposal.severity)],
            exceptions=exceptions,
        )
        return lambda text: rules.rule_wordlists(_subject(text, [candidate]))
    if proposal.kind == ProposalKind.PATTERN:
        pattern = CompiledPattern.build(definition=_pattern_definition(proposal, wordlist), version=1)
        return lambda text: pattern_findings(
            text=text, patterns=[pattern], masked=[(t.start, t.end) for t in tokens(text)]
        )
    return _confusable_candidate(proposal, wordlist)


def _confusable_candidate(proposal: RuleProposal, wordlist: WordList) -> Callable[[str], list[Finding]]:
    """A confusable maps a look-alike spelling to a listed spelling: the word lists compiled with
    the table plus the proposed pair (unpublished), minus what today's lists find already."""
    table = published_confusables().with_pairs(
        [(proposal.text, proposal.canonical, _confusable_kind(proposal))]
    )
    proposed, current = published_lists(confusables=table), published_lists()
    variant = compact_term(proposal.text)

    def added(text: str) -> list[Finding]:
        if variant not in compact_term(text):
            return []  # the variant does not occur: the change cannot add a finding
        before = {(f.rule, f.start, f.end) for f in rules.rule_wordlists(_subject(text, current))}
        after = rules.rule_wordlists(_subject(text, proposed))
        return [f for f in after if (f.rule, f.start, f.end) not in before]

    return added


def _neutral_name(proposal: RuleProposal) -> NeutralName:
    """The neutral name a SIG-NEUTRAL term becomes: the whole signature selected means that exact
    name (政务通知), a part of it means any signature containing it (测试)."""
    whole = proposal.text == proposal.item_text.strip()
    return NeutralName(
        term=proposal.text,
        match=NeutralName.Match.EXACT if whole else NeutralName.Match.CONTAINS,
        note=_("审核提案 #%(id)d") % {"id": proposal.pk},
    )


def _signature_candidate(proposal: RuleProposal) -> Callable[[str], list[Finding]]:
    table = published_confusables()
    if proposal.kind == ProposalKind.TERM and proposal.rule == "SIG-NEUTRAL":
        name = _neutral_name(proposal)
        return lambda text: check_neutral(normalize(text), [name], table)
    if proposal.kind == ProposalKind.TERM:
        brand = PlatformBrandTerm(term=proposal.text)
        return lambda text: check_platform(normalize(text), [brand], table)
    proposed = table.with_pairs([(proposal.text, proposal.canonical, _confusable_kind(proposal))])
    names, brands = active_neutral_names(), active_brand_terms()
    variant = compact_term(proposal.text)

    def found(text: str, with_table) -> list[Finding]:
        norm = normalize(text)
        return [*check_neutral(norm, names, with_table), *check_platform(norm, brands, with_table)]

    def added(text: str) -> list[Finding]:
        if variant not in compact_term(text):
            return []
        before = {(f.rule, f.start, f.end) for f in found(text, table)}
        return [f for f in found(text, proposed) if (f.rule, f.start, f.end) not in before]

    return added


def _confusable_kind(proposal: RuleProposal) -> str:
    """Latin variants (vx, wx) are abbreviations; others are taken as homophones (the reviewer can
    re-class the row in the confusables admin)."""
    return ConfusableKind.ABBREVIATION if proposal.text.isascii() else ConfusableKind.HOMOPHONE


def _pattern_definition(proposal: RuleProposal, wordlist: WordList) -> dict:
    return {
        "rule": proposal.rule,
        "name": _pattern_name(proposal),
        "first_terms": [proposal.text],
        "second_terms": [proposal.canonical],
        "max_gap": proposal.max_gap or 0,
        "ordered": False,
        "exceptions": [],
        "severity": proposal.severity,
        "message": wordlist.message,
        "hint": wordlist.hint,
        "active": True,
    }


def _pattern_name(proposal: RuleProposal) -> str:
    return _("提案%(id)d：%(a)s…%(b)s") % {"id": proposal.pk, "a": proposal.text, "b": proposal.canonical}


@dataclass(frozen=True)
class DryRunSample:
    item_id: int
    state: str
    state_label: str
    text: str
    findings: list[Finding]


@dataclass
class DryRun:
    """What a proposed change would flag: pending items, recently reviewed ones (and how many of
    those were approved: likely false positives), and whether it catches the item it came from."""

    pending_total: int = 0
    pending_flagged: int = 0
    reviewed_total: int = 0
    reviewed_flagged: int = 0
    reviewed_approved_flagged: int = 0
    source_flagged: bool = False
    samples: list[DryRunSample] = field(default_factory=list)
    item_kind: str = MessageTemplate.review_kind

    @property
    def item_label(self) -> str:
        return str(_("签名") if self.item_kind == Signature.review_kind else _("模板"))


def dry_run(
    matcher: Callable[[str], list[Finding]],
    *,
    source_text: str | None = None,
    reviewed_limit: int = DRY_RUN_REVIEWED,
    item_kind: str = MessageTemplate.review_kind,
) -> DryRun:
    """Run ``matcher`` over every pending custom template (signature, for ``item_kind``
    "signature") and the ``reviewed_limit`` most recently decided ones (approved, rejected,
    superseded). Read-only."""
    result = DryRun(item_kind=item_kind)
    if item_kind == Signature.review_kind:
        custom = Signature.objects.all()
    else:
        custom = MessageTemplate.objects.filter(origin=TemplateOrigin.CUSTOM)
    pending = (
        custom.filter(state=ReviewState.PENDING).order_by("due_at", "id").values_list("id", "state", "text")
    )
    reviewed = (
        custom.filter(decided_at__isnull=False)
        .exclude(state=ReviewState.PENDING)
        .order_by("-decided_at", "-id")
        .values_list("id", "state", "text")[:reviewed_limit]
    )
    labels = dict(ReviewState.choices)
    for rows, is_pending in (
        (pending.iterator(chunk_size=2000), True),
        (reviewed.iterator(chunk_size=2000), False),
    ):
        for item_id, state, text in rows:
            findings = matcher(text)
            if is_pending:
                result.pending_total += 1
                result.pending_flagged += bool(findings)
            else:
                result.reviewed_total += 1
                result.reviewed_flagged += bool(findings)
                result.reviewed_approved_flagged += bool(findings) and state in (
                    ReviewState.APPROVED,
                    ReviewState.SUPERSEDED,
                )
            if findings and len(result.samples) < DRY_RUN_SAMPLES:
                result.samples.append(
                    DryRunSample(item_id, state, str(labels.get(state, state)), text, findings)
                )
    if source_text is not None:
        result.source_flagged = bool(matcher(source_text))
    return result


def proposal_dry_run(proposal: RuleProposal, *, reviewed_limit: int = DRY_RUN_REVIEWED) -> DryRun:
    """The dry run of a proposal (read-only; what the second reviewer sees before publishing)."""
    return dry_run(
        proposal_candidate(proposal),
        source_text=proposal.item_text,
        reviewed_limit=reviewed_limit,
        item_kind=proposal.item_kind,
    )


# --- the second reviewer -------------------------------------------------------


def _ensure_second_reviewer(proposal: RuleProposal, reviewer, permission: str) -> None:
    if reviewer is None or not (
        reviewer.is_active
        and reviewer.is_staff
        and reviewer.has_perm(permission)
        and reviewer.has_perm("reviews.change_ruleproposal")
    ):
        raise ReviewPermissionDenied(_("您没有复核规则提案的权限。"))
    if reviewer.pk == proposal.proposed_by_id:
        raise ProposalSelfReview(_("提案需由另一位审核员复核，提出人不能自己发布或驳回。"))


def _lock_pending(proposal: RuleProposal) -> RuleProposal:
    locked = RuleProposal.objects.select_for_update().get(pk=proposal.pk)
    if locked.status != ProposalStatus.PENDING:
        raise AlreadyDecided(_("该提案已被其他审核员处理，请刷新后查看。"))
    return locked


def rule_proposal_publish(*, proposal: RuleProposal, reviewer) -> RuleProposal:
    """A second reviewer publishes the proposal: the term, confusable or pattern is added and its
    list (or pattern) published as a new version in the same transaction; the dry-run figures
    are recorded on the proposal.

    Race: two reviewers deciding the same proposal at once. Locks are taken in a fixed order,
    the proposal row first, then the word list (``wordlist_publish``) or the new pattern; the
    loser finds the proposal no longer pending (``AlreadyDecided``).
    """
    _ensure_second_reviewer(proposal, reviewer, _publish_permission(proposal))
    with transaction.atomic():
        locked = _lock_pending(proposal)
        run = proposal_dry_run(locked)
        version, pattern = _apply(locked, reviewer)
        RuleProposal.objects.filter(pk=locked.pk, status=ProposalStatus.PENDING).update(
            status=ProposalStatus.PUBLISHED,
            decided_by=reviewer,
            decided_at=timezone.now(),
            published_version=version,
            pattern=pattern,
            dry_run_pending=run.pending_flagged,
            dry_run_reviewed=run.reviewed_flagged,
            dry_run_approved=run.reviewed_approved_flagged,
        )
    proposal.refresh_from_db()
    return proposal


def _apply(proposal: RuleProposal, reviewer) -> tuple[int | None, ContentPattern | None]:
    if proposal.kind == ProposalKind.CONFUSABLE:
        return _apply_confusable(proposal, reviewer), None
    if proposal.rule in SIGNATURE_RULES:
        return _apply_signature_term(proposal), None
    wordlist = _wordlist_of(proposal.rule)
    if proposal.kind == ProposalKind.PATTERN:
        pattern = ContentPattern.objects.create(
            rule=proposal.rule,
            name=_pattern_name(proposal),
            first_terms=proposal.text,
            second_terms=proposal.canonical,
            max_gap=proposal.max_gap or 0,
            ordered=False,
            severity=proposal.severity,
            message=wordlist.message,
            hint=wordlist.hint,
            examples=_one_line(proposal.item_text),
        )
        revision = pattern_publish(pattern=pattern, by=reviewer)
        return revision.version, pattern
    term, created = WordListTerm.objects.get_or_create(
        wordlist=wordlist,
        term=proposal.text,
        defaults={"severity": proposal.severity, "note": _("审核提案 #%(id)d") % {"id": proposal.pk}},
    )
    if not created:
        raise ProposalInvalid(_("“%(t)s”已在词库中（可能已由其他途径加入）。") % {"t": proposal.text})
    revision = wordlist_publish(wordlist=wordlist, by=reviewer)
    return (revision.version if revision else wordlist.version), None


def _apply_signature_term(proposal: RuleProposal) -> None:
    """A neutral name or brand term (saving it re-checks pending signatures: ``reviews.signals``).
    These lists are not versioned, so the proposal records no version."""
    if _listed(proposal.rule, proposal.text):
        raise ProposalInvalid(_("“%(t)s”已在词库中（可能已由其他途径加入）。") % {"t": proposal.text})
    if proposal.rule == "SIG-NEUTRAL":
        _neutral_name(proposal).save()
    else:
        PlatformBrandTerm.objects.create(term=proposal.text, note=_("审核提案 #%(id)d") % {"id": proposal.pk})
    return None


def _apply_confusable(proposal: RuleProposal, reviewer) -> int:
    note = _("审核提案 #%(id)d") % {"id": proposal.pk}
    try:
        revision = confusable_add(
            variant=proposal.text,
            canonical=proposal.canonical,
            kind=_confusable_kind(proposal),
            note=note,
            by=reviewer,
        )
    except ValidationError as exc:
        raise ProposalInvalid("；".join(exc.messages)) from exc
    if revision is None:
        raise ProposalInvalid(_("“%(v)s”已在形近/谐音字表中。") % {"v": proposal.text})
    return revision.version


def _one_line(text: str) -> str:
    return " ".join(text.split())


def rule_proposal_decline(*, proposal: RuleProposal, reviewer, reason: str) -> RuleProposal:
    """A second reviewer declines the proposal with a reason; nothing is published."""
    reason = (reason or "").strip()
    if not reason:
        raise ProposalInvalid(_("请填写未采纳的原因。"))
    _ensure_second_reviewer(proposal, reviewer, _publish_permission(proposal))
    with transaction.atomic():
        locked = _lock_pending(proposal)
        RuleProposal.objects.filter(pk=locked.pk, status=ProposalStatus.PENDING).update(
            status=ProposalStatus.DECLINED,
            decided_by=reviewer,
            decided_at=timezone.now(),
            decline_reason=reason[:200],
        )
    proposal.refresh_from_db()
    return proposal
