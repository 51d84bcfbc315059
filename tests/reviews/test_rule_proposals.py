"""Reviewer-taught rules: a span of a rejected template proposed as a rule, dry-run, published by
a second reviewer, and caught in the same item checked again."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from reviews.errors import AlreadyDecided, ReviewPermissionDenied
from reviews.models import ContentPattern, RuleProposal, WordList, WordListTerm
from reviews.models.review import ReviewState
from reviews.policy.checker import check_content
from reviews.services.proposals import (
    ProposalInvalid,
    ProposalSelfReview,
    proposal_dry_run,
    rule_proposal_create,
    rule_proposal_decline,
    rule_proposal_publish,
)
from reviews.services.templates import (
    template_approve,
    template_current_findings,
    template_reject,
    template_submit,
)
from tests.factories import make_reviewer, make_shop, make_user

pytestmark = pytest.mark.django_db


def submit(shop, owner, text: str, name: str = "券"):
    return template_submit(shop=shop, by=owner, name=name, use="coupon", message_class="marketing", text=text)


def span_of(template, part: str) -> tuple[int, int]:
    start = template.text.index(part)
    return start, start + len(part)


@pytest.fixture
def rita(db):
    return make_reviewer("rita")


@pytest.fixture
def sam(db):
    return make_reviewer("sam")


@pytest.fixture
def tricky(alice_shop, alice):
    return submit(alice_shop, alice, "新品上市，下单后加小飞机：shop888，领专属福利，${coupon_link}")


def propose_term(
    template, reviewer, part: str = "小飞机", rule: str = "TPL-OFFSITE", **extra
) -> RuleProposal:
    start, end = span_of(template, part)
    return rule_proposal_create(
        item=template,
        reviewer=reviewer,
        kind=extra.pop("kind", "term"),
        rule=rule,
        start=start,
        end=end,
        **extra,
    )


def test_it_teaches_a_new_term_that_catches_the_same_item_after_a_second_reviewer_publishes(
    tricky, rita, sam, bob_shop, bob
):
    assert template_current_findings(tricky) == []
    before = WordList.objects.get(rule="TPL-OFFSITE").version
    template_reject(template=tricky, reviewer=rita, reason_code="offsite", reason_text="小飞机=境外聊天软件")
    proposal = propose_term(tricky, rita)
    assert (proposal.status, proposal.text, proposal.rule, proposal.item_text) == (
        "pending",
        "小飞机",
        "TPL-OFFSITE",
        tricky.text,
    )
    # Another shop uses the same trick meanwhile; an approved template does not.
    other = submit(bob_shop, bob, "关注店铺，加小飞机领券，${coupon_link}", name="b")
    run = proposal_dry_run(proposal)
    assert (run.pending_total, run.pending_flagged) == (1, 1)
    assert (run.reviewed_total, run.reviewed_flagged, run.reviewed_approved_flagged) == (1, 1, 0)
    assert run.source_flagged and {s.item_id for s in run.samples} == {tricky.pk, other.pk}

    published = rule_proposal_publish(proposal=proposal, reviewer=sam)
    offsite = WordList.objects.get(rule="TPL-OFFSITE")
    assert (published.status, published.decided_by) == ("published", sam)
    assert published.published_version == before + 1
    assert (published.dry_run_pending, published.dry_run_reviewed, published.dry_run_approved) == (1, 1, 0)
    assert offsite.version == before + 1
    assert WordListTerm.objects.filter(wordlist=offsite, term="小飞机").exists()
    # The same item checked again gets the new finding, as does a new submission with the trick.
    tricky.refresh_from_db()
    assert [
        (f.rule, tricky.text[f.start : f.end], f.list_version) for f in template_current_findings(tricky)
    ] == [("TPL-OFFSITE", "小飞机", before + 1)]
    assert not check_content(kind="template", text="加 小 飞 机 领券，${coupon_link}").ok


def test_the_proposer_cannot_publish_or_decline_her_own_proposal(tricky, rita):
    proposal = propose_term(tricky, rita)
    with pytest.raises(ProposalSelfReview):
        rule_proposal_publish(proposal=proposal, reviewer=rita)
    with pytest.raises(ProposalSelfReview):
        rule_proposal_decline(proposal=proposal, reviewer=rita, reason="不对")
    assert RuleProposal.objects.get(pk=proposal.pk).status == "pending"


def test_someone_without_the_review_permission_can_neither_propose_nor_publish(tricky, rita):
    mallory = make_user("mallory", staff=True)
    with pytest.raises(ReviewPermissionDenied):
        propose_term(tricky, mallory)
    proposal = propose_term(tricky, rita)
    with pytest.raises(ReviewPermissionDenied):
        rule_proposal_publish(proposal=proposal, reviewer=mallory)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (5, 5, "请先在文本中选中"),
        (-1, 3, "请先在文本中选中"),
        (0, 999, "请先在文本中选中"),
        (4, 5, "去掉空格和符号后为空"),  # the comma alone
    ],
)
def test_it_refuses_a_span_outside_the_text_or_empty_once_normalised(tricky, rita, start, end, message):
    with pytest.raises(ProposalInvalid) as error:
        rule_proposal_create(
            item=tricky, reviewer=rita, kind="term", rule="TPL-OFFSITE", start=start, end=end
        )
    assert message in error.value.message
    assert not RuleProposal.objects.exists()


def test_it_refuses_a_span_across_a_variable_an_empty_one_and_a_duplicate(tricky, rita):
    with pytest.raises(ProposalInvalid, match="不能包含变量"):
        propose_term(tricky, rita, part="福利，${coupon_link}")
    start = tricky.text.index("加")
    with pytest.raises(ProposalInvalid):
        rule_proposal_create(
            item=tricky, reviewer=rita, kind="term", rule="TPL-OFFSITE", start=start, end=start
        )
    propose_term(tricky, rita)
    with pytest.raises(ProposalInvalid, match="相同的提案"):
        propose_term(tricky, make_reviewer("sam2"))
    assert RuleProposal.objects.count() == 1


def test_a_listed_term_is_refused_as_a_proposal(rita, alice_shop, alice):
    template = submit(alice_shop, alice, "新品上市，有问题欢迎私信小助理，${coupon_link}")
    assert template_current_findings(template)  # 私信 is listed already (a warning)
    with pytest.raises(ProposalInvalid, match="已在词库中"):
        propose_term(template, rita, part="私信")


def test_a_pattern_proposal_becomes_a_published_pattern_tested_on_its_source_item(
    rita, sam, alice_shop, alice
):
    template = submit(alice_shop, alice, "收到货后拍个视频发给客服，即可拿惊喜，${coupon_link}")
    start, end = span_of(template, "拍个视频")
    proposal = rule_proposal_create(
        item=template,
        reviewer=rita,
        kind="pattern",
        rule="TPL-REVIEW-BAIT",
        start=start,
        end=end,
        canonical="惊喜",
        max_gap=8,
    )
    run = proposal_dry_run(proposal)
    assert (run.pending_flagged, run.source_flagged) == (1, True)
    published = rule_proposal_publish(proposal=proposal, reviewer=sam)
    pattern = ContentPattern.objects.get(pk=published.pattern_id)
    assert (pattern.version, published.published_version, pattern.rule) == (1, 1, "TPL-REVIEW-BAIT")
    assert template.text.split("，${")[0] in pattern.examples
    findings = template_current_findings(template)
    assert [(f.rule, template.text[f.start : f.end]) for f in findings] == [
        ("TPL-REVIEW-BAIT", "拍个视频发给客服，即可拿惊喜")
    ]


def test_a_pattern_proposal_whose_gap_misses_its_own_item_is_not_published(rita, sam, alice_shop, alice):
    template = submit(alice_shop, alice, "收到货后拍个视频发给客服，即可拿惊喜，${coupon_link}")
    start, end = span_of(template, "拍个视频")
    proposal = rule_proposal_create(
        item=template,
        reviewer=rita,
        kind="pattern",
        rule="TPL-REVIEW-BAIT",
        start=start,
        end=end,
        canonical="惊喜",
        max_gap=2,
    )
    assert not proposal_dry_run(proposal).source_flagged
    with pytest.raises(Exception, match="应命中但未命中"):
        rule_proposal_publish(proposal=proposal, reviewer=sam)
    assert RuleProposal.objects.get(pk=proposal.pk).status == "pending"
    assert not ContentPattern.objects.filter(name__startswith="提案").exists()


def test_a_confusable_proposal_flags_the_look_alike_spelling_of_every_term_with_the_word(
    rita, sam, alice_shop, alice
):
    template = submit(alice_shop, alice, "新品上市，加卫心领福利，${coupon_link}")
    assert template_current_findings(template) == []
    proposal = propose_term(template, rita, part="卫心", kind="confusable", canonical="微信")
    assert proposal_dry_run(proposal).source_flagged
    rule_proposal_publish(proposal=proposal, reviewer=sam)
    assert [template.text[f.start : f.end] for f in template_current_findings(template)] == ["加卫心"]
    assert not check_content(kind="template", text="卫心号：abc，${coupon_link}").ok


def test_a_declined_proposal_publishes_nothing_and_needs_a_reason(tricky, rita, sam):
    proposal = propose_term(tricky, rita)
    before = WordList.objects.get(rule="TPL-OFFSITE").version
    with pytest.raises(ProposalInvalid):
        rule_proposal_decline(proposal=proposal, reviewer=sam, reason=" ")
    declined = rule_proposal_decline(proposal=proposal, reviewer=sam, reason="误伤太多")
    assert (declined.status, declined.decline_reason, declined.decided_by) == ("declined", "误伤太多", sam)
    assert WordList.objects.get(rule="TPL-OFFSITE").version == before
    with pytest.raises(AlreadyDecided):
        rule_proposal_publish(proposal=declined, reviewer=sam)


def test_the_dry_run_counts_an_approved_item_the_change_would_flag(
    rita, sam, alice_shop, alice, bob_shop, bob
):
    approved = submit(bob_shop, bob, "小飞机拼装模型，专柜正品，${coupon_link}", name="brand")
    template_approve(template=approved, reviewer=sam)
    tricky = submit(alice_shop, alice, "新品上市，下单后加小飞机：shop888，${coupon_link}")
    run = proposal_dry_run(propose_term(tricky, rita))
    assert (run.reviewed_total, run.reviewed_flagged, run.reviewed_approved_flagged) == (1, 1, 1)
    assert [s.state for s in run.samples if s.item_id == approved.pk] == [ReviewState.APPROVED]
    # The window is the most recent reviewed items only.
    assert proposal_dry_run(RuleProposal.objects.get(), reviewed_limit=0).reviewed_total == 0


@pytest.mark.django_db(transaction=True)
def test_two_reviewers_publishing_one_proposal_at_once_publish_it_once():
    alice = make_user("alice2")
    shop = make_shop("爱丽丝2", owner=alice)
    rita, sam, tom = make_reviewer("rita"), make_reviewer("sam"), make_reviewer("tom")
    template = submit(shop, alice, "新品上市，下单后加小飞机：shop888，${coupon_link}")
    proposal = propose_term(template, rita)
    before = WordList.objects.get(rule="TPL-OFFSITE").version
    barrier = threading.Barrier(2)
    outcomes = []

    def publish(user):
        try:
            barrier.wait()
            rule_proposal_publish(proposal=RuleProposal.objects.get(pk=proposal.pk), reviewer=user)
            outcomes.append("published")
        except AlreadyDecided:
            outcomes.append("already")
        finally:
            connection.close()

    threads = [threading.Thread(target=publish, args=(user,)) for user in (sam, tom)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["already", "published"]
    assert WordList.objects.get(rule="TPL-OFFSITE").version == before + 1
    assert WordListTerm.objects.filter(term="小飞机").count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_reviewers_proposing_the_same_rule_at_once_file_one_proposal():
    alice = make_user("alice3")
    shop = make_shop("爱丽丝3", owner=alice)
    template = submit(shop, alice, "新品上市，下单后加小飞机：shop888，${coupon_link}")
    reviewers = [make_reviewer("rita"), make_reviewer("sam")]
    barrier = threading.Barrier(2)
    outcomes = []

    def propose(user):
        try:
            barrier.wait()
            propose_term(template, user)
            outcomes.append("filed")
        except ProposalInvalid as exc:
            outcomes.append(exc.message)
        finally:
            connection.close()

    threads = [threading.Thread(target=propose, args=(user,)) for user in reviewers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == sorted(["filed", "相同的提案已在等待复核。"])
    assert RuleProposal.objects.filter(status="pending").count() == 1
