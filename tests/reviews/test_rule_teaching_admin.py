"""The admin pages of reviewer-taught rules and pattern rules: reject with a span on the decision
page, the proposal page with its dry run and the four-eyes rule, the pattern try-and-publish page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from reviews.models import ContentPattern, MessageTemplate, ReviewState, RuleProposal, WordList
from reviews.services.templates import template_current_findings, template_submit
from tests.factories import make_reviewer, make_user

pytestmark = pytest.mark.django_db

TRICK = "新品上市，下单后加小飞机：shop888，领专属福利，${coupon_link}"


def submit(shop, user, text=TRICK, name="新品券"):
    return template_submit(shop=shop, by=user, name=name, use="coupon", message_class="marketing", text=text)


@pytest.fixture
def sam(db):
    return make_reviewer("sam")


def reject_with_span(client, template, part: str, **teach) -> object:
    start = template.text.index(part)
    data = {
        "decision": "reject",
        "reason_code": "offsite",
        "reason_text": "小飞机指境外聊天软件",
        "teach-start": start,
        "teach-end": start + len(part),
        "teach-kind": "term",
        "teach-rule": "TPL-OFFSITE",
        "teach-canonical": "",
        "teach-max_gap": "6",
    }
    data.update({f"teach-{k}": v for k, v in teach.items()})
    return client.post(reverse("admin:reviews_messagetemplate_decide", args=[template.pk]), data)


def test_the_decision_page_offers_the_text_to_select_with_positions_and_the_script(
    client, reviewer, alice, alice_shop
):
    template = submit(alice_shop, alice)
    client.force_login(reviewer)
    body = client.get(reverse("admin:reviews_messagetemplate_decide", args=[template.pk])).content.decode()
    assert 'id="teach-text"' in body and "portal/teach-rule.js" in body
    assert 'data-start="0"' in body and "领券链接" in body  # the variable as a chip, not ${coupon_link}
    assert 'name="teach-rule"' in body and 'name="teach-start"' in body


def test_rejecting_with_a_span_files_a_proposal_in_the_same_decision(client, reviewer, alice, alice_shop):
    template = submit(alice_shop, alice)
    client.force_login(reviewer)
    response = reject_with_span(client, template, "小飞机")
    assert response.status_code == 302
    template.refresh_from_db()
    proposal = RuleProposal.objects.get()
    assert template.state == ReviewState.REJECTED
    assert (proposal.text, proposal.kind, proposal.rule, proposal.proposed_by, proposal.item_id) == (
        "小飞机",
        "term",
        "TPL-OFFSITE",
        reviewer,
        template.pk,
    )


def test_a_refused_proposal_leaves_the_item_pending_and_says_why(client, reviewer, alice, alice_shop):
    template = submit(alice_shop, alice)
    client.force_login(reviewer)
    response = reject_with_span(client, template, "福利，${coupon_link}")
    assert response.status_code == 200
    assert "选中的文字不能包含变量" in response.content.decode()
    template.refresh_from_db()
    assert template.state == ReviewState.PENDING and not RuleProposal.objects.exists()


def test_a_span_without_a_rule_is_asked_for_and_nothing_is_decided(client, reviewer, alice, alice_shop):
    template = submit(alice_shop, alice)
    client.force_login(reviewer)
    response = reject_with_span(client, template, "小飞机", rule="")
    assert response.status_code == 200 and "请选择它违反的规则" in response.content.decode()
    assert MessageTemplate.objects.get(pk=template.pk).state == ReviewState.PENDING


def test_rejecting_without_a_span_proposes_nothing(client, reviewer, alice, alice_shop):
    template = submit(alice_shop, alice)
    client.force_login(reviewer)
    reject_with_span(client, template, "小飞机", start="", end="", rule="")
    assert MessageTemplate.objects.get(pk=template.pk).state == ReviewState.REJECTED
    assert not RuleProposal.objects.exists()


def test_the_second_reviewer_sees_the_dry_run_and_publishes(
    client, reviewer, sam, alice, alice_shop, bob, bob_shop
):
    template = submit(alice_shop, alice)
    submit(bob_shop, bob, text="加小飞机领券，${coupon_link}")
    client.force_login(reviewer)
    reject_with_span(client, template, "小飞机")
    proposal = RuleProposal.objects.get()
    page = reverse("admin:reviews_ruleproposal_change", args=[proposal.pk])
    own = client.get(page).content.decode()
    assert "需由另一位审核员复核" in own and 'id="proposal-publish"' not in own

    client.force_login(sam)
    body = client.get(page).content.decode()
    assert 'id="dry-run-pending"' in body and "<strong>1</strong> / 1 条会被命中" in body
    assert "<strong>1</strong> / 1 条会被命中，其中已通过的" in body  # the rejected source item
    assert 'id="proposal-publish"' in body
    before = WordList.objects.get(rule="TPL-OFFSITE").version
    response = client.post(reverse("admin:reviews_ruleproposal_publish", args=[proposal.pk]))
    assert response.status_code == 302
    proposal.refresh_from_db()
    assert (proposal.status, proposal.decided_by, proposal.published_version) == (
        "published",
        sam,
        before + 1,
    )
    template.refresh_from_db()
    assert [template.text[f.start : f.end] for f in template_current_findings(template)] == ["小飞机"]


def test_the_proposer_posting_publish_is_refused_and_nothing_changes(client, reviewer, alice, alice_shop):
    template = submit(alice_shop, alice)
    client.force_login(reviewer)
    reject_with_span(client, template, "小飞机")
    proposal = RuleProposal.objects.get()
    before = WordList.objects.get(rule="TPL-OFFSITE").version
    response = client.post(reverse("admin:reviews_ruleproposal_publish", args=[proposal.pk]), follow=True)
    assert "提出人不能自己发布" in response.content.decode()
    assert RuleProposal.objects.get().status == "pending"
    assert WordList.objects.get(rule="TPL-OFFSITE").version == before


def test_staff_without_the_permission_get_403_on_publish(client, reviewer, alice, alice_shop):
    template = submit(alice_shop, alice)
    client.force_login(reviewer)
    reject_with_span(client, template, "小飞机")
    client.force_login(make_user("mallory", staff=True))
    response = client.post(
        reverse("admin:reviews_ruleproposal_publish", args=[RuleProposal.objects.get().pk])
    )
    assert response.status_code == 403
    assert RuleProposal.objects.get().status == "pending"


def test_the_second_reviewer_declines_with_a_reason(client, reviewer, sam, alice, alice_shop):
    template = submit(alice_shop, alice)
    client.force_login(reviewer)
    reject_with_span(client, template, "小飞机")
    proposal = RuleProposal.objects.get()
    client.force_login(sam)
    client.post(
        reverse("admin:reviews_ruleproposal_decline", args=[proposal.pk]), {"reason": "品牌名，会误伤"}
    )
    proposal.refresh_from_db()
    assert (proposal.status, proposal.decline_reason) == ("declined", "品牌名，会误伤")


def test_the_pattern_page_tries_a_text_on_the_draft_and_the_published_version(client, reviewer):
    pattern = ContentPattern.objects.get(name="评价换返利")
    before = pattern.version
    pattern.second_terms += "\n惊喜"
    pattern.save()
    client.force_login(reviewer)
    url = reverse("admin:reviews_contentpattern_try", args=[pattern.pk])
    body = client.get(url, {"text": "晒图后找客服拿惊喜"}).content.decode()
    draft = body[body.index('id="try-draft"') : body.index('id="try-published"')]
    published = body[body.index('id="try-published"') :].split("</div>")[0]
    assert "<mark" in draft and "<mark" not in published
    assert 'id="pattern-examples"' in body and "未通过" not in body
    assert 'id="dry-run-pending"' in body
    assert client.post(reverse("admin:reviews_contentpattern_publish", args=[pattern.pk])).status_code == 302
    assert ContentPattern.objects.get(pk=pattern.pk).version == before + 1


def test_saving_a_pattern_keeps_it_a_draft_and_leads_to_the_try_page(client, reviewer):
    client.force_login(reviewer)
    data = {
        "rule": "TPL-REVIEW-BAIT",
        "name": "截图换惊喜",
        "first_terms": "截图",
        "second_terms": "惊喜",
        "max_gap": "6",
        "exceptions": "",
        "severity": "block",
        "message": "“{term}”诱导评价。",
        "hint": "请删除。",
        "examples": "截图给客服拿惊喜",
        "counter_examples": "",
        "active": "on",
    }
    response = client.post(reverse("admin:reviews_contentpattern_add"), data)
    pattern = ContentPattern.objects.get(name="截图换惊喜")
    assert response.status_code == 302 and response.url == reverse(
        "admin:reviews_contentpattern_try", args=[pattern.pk]
    )
    assert pattern.version == 0


def test_staff_without_the_pattern_permission_can_neither_try_nor_publish(client):
    pattern = ContentPattern.objects.get(name="评价换返利")
    client.force_login(make_user("mallory", staff=True))
    assert client.get(reverse("admin:reviews_contentpattern_try", args=[pattern.pk])).status_code == 403
    assert client.post(reverse("admin:reviews_contentpattern_publish", args=[pattern.pk])).status_code == 403
    assert ContentPattern.objects.get(pk=pattern.pk).version == pattern.version


def test_publishing_a_pattern_whose_example_fails_shows_why_and_keeps_the_version(client, reviewer):
    pattern = ContentPattern.objects.get(name="评价换返利")
    before = pattern.version
    pattern.examples += "\n这句话什么也不命中"
    pattern.save()
    client.force_login(reviewer)
    response = client.post(reverse("admin:reviews_contentpattern_publish", args=[pattern.pk]), follow=True)
    body = response.content.decode()
    assert "例句检查未通过" in body and "这句话什么也不命中" in body and "未通过" in body
    assert ContentPattern.objects.get(pk=pattern.pk).version == before
