"""Template services: submit, versions, review decisions, withdraw; permissions and races."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from reviews.errors import AlreadyDecided, ReviewPermissionDenied
from reviews.models import MessageTemplate, ReviewDecision, ReviewState
from reviews.selectors import template_live_version, template_queue, usable_templates
from reviews.services.templates import (
    TemplateRefused,
    official_template_create,
    template_approve,
    template_bulk_approve,
    template_reject,
    template_submit,
    template_withdraw,
)
from smsmarketing.errors import CategoryRestricted
from tests.factories import make_user

pytestmark = pytest.mark.django_db

GOOD = (
    "${shop_name}送您一张${coupon_amount}优惠券，${coupon_threshold}，"
    "有效期至${coupon_expiry}，点击${coupon_link}领取。"
)
BETTER = (
    "${shop_name}会员日：送您${coupon_amount}优惠券，${coupon_threshold}，"
    "${coupon_expiry}前有效，领取：${coupon_link}"
)


def submit(shop, user, text=GOOD, **kwargs):
    fields = {"name": "双11优惠券提醒", "use": "coupon", "message_class": "marketing", "text": text}
    return template_submit(shop=shop, by=user, **{**fields, **kwargs})


def test_it_submits_a_clean_template_for_review(alice, alice_shop):
    template = submit(alice_shop, alice)
    template.refresh_from_db()
    assert template.state == ReviewState.PENDING
    assert (template.origin, template.shop, template.version) == ("custom", alice_shop, 1)
    assert template.due_at > template.submitted_at
    assert template.findings == []
    (decision,) = ReviewDecision.objects.filter(kind="template", item_id=template.pk)
    assert (decision.action, decision.to_state, decision.actor) == ("submit", "pending", alice)
    assert list(template_queue()) == [template]


def test_it_refuses_a_template_with_a_blocking_finding_and_writes_nothing(alice, alice_shop):
    with pytest.raises(TemplateRefused) as caught:
        submit(alice_shop, alice, text="全网最低价，加微信领券：${coupon_link}")
    assert {f.rule for f in caught.value.findings} >= {"TPL-ADLAW", "TPL-OFFSITE"}
    assert "不符合规则" in caught.value.message
    assert not MessageTemplate.objects.filter(shop=alice_shop).exists()
    assert not ReviewDecision.objects.filter(kind="template").exists()


def test_it_stores_warnings_for_the_reviewer(alice, alice_shop):
    template = submit(alice_shop, alice, text="${shop_name}新品首发，领券：${coupon_link}")
    assert [(f["rule"], f["severity"]) for f in template.findings] == [("TPL-ADLAW", "warn")]


def test_an_approved_template_is_usable_with_the_official_ones(
    alice, alice_shop, bob_shop, reviewer
):
    template = submit(alice_shop, alice)
    assert template not in usable_templates(shop=alice_shop, use="coupon")
    template_approve(template=template, reviewer=reviewer)
    template.refresh_from_db()
    assert (template.state, template.decided_by) == (ReviewState.APPROVED, reviewer)
    usable = list(usable_templates(shop=alice_shop, use="coupon"))
    assert usable[0] == template
    assert all(t.origin == "official" for t in usable[1:]) and len(usable) >= 4
    assert template not in usable_templates(shop=bob_shop, use="coupon")
    assert template not in usable_templates(shop=alice_shop, use="repurchase")


def test_a_rejected_template_is_not_usable_and_keeps_the_reason(alice, alice_shop, reviewer):
    template = submit(alice_shop, alice)
    template_reject(
        template=template, reviewer=reviewer, reason_code="incomplete", reason_text="语句不通顺"
    )
    template.refresh_from_db()
    assert (template.state, template.reason_code, template.reason_text) == (
        "rejected",
        "incomplete",
        "语句不通顺",
    )
    assert template not in usable_templates(shop=alice_shop, use="coupon")
    actions = list(
        ReviewDecision.objects.filter(kind="template", item_id=template.pk).values_list(
            "action", flat=True
        )
    )
    assert sorted(actions) == ["reject", "submit"]


def test_editing_an_approved_template_makes_a_new_version_reviewed_again(
    alice, alice_shop, reviewer
):
    v1 = submit(alice_shop, alice)
    template_approve(template=v1, reviewer=reviewer)
    v2 = submit(alice_shop, alice, text=BETTER, previous=v1)
    v1.refresh_from_db()
    assert (v2.lineage, v2.version, v2.state) == (v1.lineage, 2, ReviewState.PENDING)
    # The approved text never changed, and it stays usable while v2 is reviewed.
    assert (v1.text, v1.state) == (GOOD, ReviewState.APPROVED)
    assert v1 in usable_templates(shop=alice_shop, use="coupon")
    assert template_live_version(template=v2) == v1
    template_approve(template=v2, reviewer=reviewer)
    v1.refresh_from_db()
    assert v1.state == ReviewState.SUPERSEDED
    usable = list(usable_templates(shop=alice_shop, use="coupon"))
    assert v2 in usable and v1 not in usable
    assert template_live_version(template=v1).pk == v2.pk


def test_a_rejected_version_leaves_the_approved_one_in_use(alice, alice_shop, reviewer):
    v1 = submit(alice_shop, alice)
    template_approve(template=v1, reviewer=reviewer)
    v2 = submit(alice_shop, alice, text=BETTER, previous=v1)
    template_reject(
        template=v2, reviewer=reviewer, reason_code="other", reason_text="活动信息不清楚"
    )
    assert template_live_version(template=v2) == v1
    v3 = submit(alice_shop, alice, text=BETTER + "欢迎选购。", previous=v2)
    assert v3.version == 3


def test_it_refuses_a_second_pending_version(alice, alice_shop):
    v1 = submit(alice_shop, alice)
    with pytest.raises(TemplateRefused) as caught:
        submit(alice_shop, alice, text=BETTER, previous=v1)
    assert caught.value.rule == "TPL-PENDING-EXISTS"
    assert MessageTemplate.objects.filter(lineage=v1.lineage).count() == 1


def test_it_refuses_a_new_version_equal_to_the_approved_one(alice, alice_shop, reviewer):
    v1 = submit(alice_shop, alice)
    template_approve(template=v1, reviewer=reviewer)
    with pytest.raises(TemplateRefused) as caught:
        submit(alice_shop, alice, previous=v1)
    assert caught.value.rule == "TPL-UNCHANGED"


def test_the_merchant_withdraws_a_pending_version(alice, alice_shop, reviewer):
    template = submit(alice_shop, alice)
    template_withdraw(shop=alice_shop, template=template, by=alice)
    template.refresh_from_db()
    assert template.state == ReviewState.WITHDRAWN
    with pytest.raises(AlreadyDecided):
        template_approve(template=template, reviewer=reviewer)


def test_a_shop_cannot_version_or_withdraw_another_shops_template(alice, alice_shop, bob, bob_shop):
    template = submit(alice_shop, alice)
    with pytest.raises(TemplateRefused):
        submit(bob_shop, bob, text=BETTER, previous=template)
    with pytest.raises(TemplateRefused):
        template_withdraw(shop=bob_shop, template=template, by=bob)
    template.refresh_from_db()
    assert template.state == ReviewState.PENDING


def test_a_restricted_shop_cannot_submit(charlie, charlie_shop):
    with pytest.raises(CategoryRestricted):
        submit(charlie_shop, charlie)
    assert not MessageTemplate.objects.filter(shop=charlie_shop).exists()


def test_a_staff_user_without_the_review_permission_cannot_decide(alice, alice_shop):
    template = submit(alice_shop, alice)
    staff = make_user("steve", staff=True)
    with pytest.raises(ReviewPermissionDenied):
        template_approve(template=template, reviewer=staff)
    with pytest.raises(ReviewPermissionDenied):
        template_reject(template=template, reviewer=staff, reason_code="other", reason_text="x")
    with pytest.raises(ReviewPermissionDenied):
        template_bulk_approve(templates=[template], reviewer=staff)
    with pytest.raises(ReviewPermissionDenied):
        template_approve(template=template, reviewer=alice)
    template.refresh_from_db()
    assert template.state == ReviewState.PENDING


def test_bulk_approve_skips_templates_with_findings(alice, alice_shop, bob, bob_shop, reviewer):
    clean = submit(alice_shop, alice)
    warned = submit(bob_shop, bob, text="${shop_name}新品首发，领券：${coupon_link}")
    result = template_bulk_approve(templates=[clean, warned], reviewer=reviewer)
    assert [t.pk for t in result.approved] == [clean.pk]
    assert [t.pk for t, _why in result.skipped] == [warned.pk]
    warned.refresh_from_db()
    assert warned.state == ReviewState.PENDING


def test_official_templates_are_checked_and_approved_at_once():
    with pytest.raises(TemplateRefused):
        official_template_create(
            name="坏模板",
            use="coupon",
            message_class="marketing",
            text="全网最低价！${coupon_link}",
        )
    template = official_template_create(
        name="新客券",
        use="coupon",
        message_class="marketing",
        text="欢迎光临${shop_name}，新客专享${coupon_amount}券：${coupon_link}",
    )
    assert (template.state, template.origin, template.shop) == (
        ReviewState.APPROVED,
        "official",
        None,
    )


@pytest.mark.django_db(transaction=True)
def test_two_reviewers_deciding_at_once_one_wins(alice, alice_shop, reviewer):
    other = make_user("rob", staff=True)
    from django.contrib.auth.models import Group

    Group.objects.get(name="reviewers").user_set.add(other)
    template = submit(alice_shop, alice)
    barrier = threading.Barrier(2)
    outcomes = []

    def decide(user, approve):
        try:
            barrier.wait()
            if approve:
                template_approve(
                    template=MessageTemplate.objects.get(pk=template.pk), reviewer=user
                )
            else:
                template_reject(
                    template=MessageTemplate.objects.get(pk=template.pk),
                    reviewer=user,
                    reason_code="banned_words",
                )
            outcomes.append("ok")
        except AlreadyDecided as exc:
            outcomes.append(exc.message)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=decide, args=(reviewer, True)),
        threading.Thread(target=decide, args=(other, False)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("ok") == 1
    assert any("已被其他审核员处理" in o for o in outcomes)
    template.refresh_from_db()
    assert template.state in {ReviewState.APPROVED, ReviewState.REJECTED}
    decisions = ReviewDecision.objects.filter(kind="template", item_id=template.pk).exclude(
        action="submit"
    )
    assert decisions.count() == 1
