"""The admin review workbench: queue, decisions, permissions on every route, audit trail."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from reviews.errors import ReviewPermissionDenied
from reviews.models import NeutralName, ReviewDecision, ReviewState, Signature
from reviews.models.review import ImmutableAuditRecord
from reviews.selectors import live_signature
from reviews.services.signatures import signature_approve, signature_bulk_approve, signature_submit
from tests.factories import make_user

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def mallory(db):
    """A staff user who may look at signatures but holds no review permission."""
    user = make_user("mallory", staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_signature"))
    return user


@pytest.fixture
def pending(alice, alice_shop):
    return signature_submit(shop=alice_shop, text="爱丽丝", by=alice)


def decide_url(signature):
    return reverse("admin:reviews_signature_decide", args=[signature.pk])


def state_of(signature) -> str:
    return Signature.objects.get(pk=signature.pk).state


# Permission on every route -------------------------------------------------------

def test_a_staff_user_without_the_permission_cannot_approve_through_the_service(mallory, pending):
    with pytest.raises(ReviewPermissionDenied):
        signature_approve(signature=pending, reviewer=mallory)
    with pytest.raises(ReviewPermissionDenied):
        signature_bulk_approve(signatures=[pending], reviewer=mallory)
    assert state_of(pending) == ReviewState.PENDING
    assert not ReviewDecision.objects.filter(action="approve").exists()


def test_a_staff_user_without_the_permission_cannot_approve_by_posting_the_decision(client, mallory, pending):
    client.force_login(mallory)
    response = client.post(decide_url(pending), {"decision": "approve"})
    assert response.status_code == 403
    assert state_of(pending) == ReviewState.PENDING


def test_a_transition_posted_to_the_change_view_is_refused(client, mallory, reviewer, pending):
    url = reverse("admin:reviews_signature_change", args=[pending.pk])
    for user in (mallory, reviewer):
        client.force_login(user)
        response = client.post(url, {"_fsm_transition_to": "approve", "state": "approved"})
        assert response.status_code == 403
    assert state_of(pending) == ReviewState.PENDING


def test_a_staff_user_without_the_permission_cannot_run_the_bulk_action(client, mallory, pending):
    client.force_login(mallory)
    changelist = reverse("admin:reviews_signature_changelist")
    page = client.get(changelist)
    assert page.status_code == 200
    assert "bulk_approve" not in page.content.decode()
    client.post(changelist, {"action": "bulk_approve", "_selected_action": [pending.pk]})
    assert state_of(pending) == ReviewState.PENDING


def test_an_inactive_or_non_staff_holder_of_the_permission_cannot_decide(alice, pending):
    alice.user_permissions.add(Permission.objects.get(codename="review_signature"))
    with pytest.raises(ReviewPermissionDenied):
        signature_approve(signature=pending, reviewer=alice)  # a merchant, not staff
    assert state_of(pending) == ReviewState.PENDING


# The workbench ------------------------------------------------------------------

def test_the_queue_lists_pending_by_due_time_and_marks_overdue(
    client, reviewer, alice, bob, alice_shop, bob_shop
):
    with time_machine.travel(dt.datetime(2025, 9, 1, 10, tzinfo=SH), tick=False):
        old = signature_submit(shop=bob_shop, text="鲍勃数码", by=bob)
    fresh = signature_submit(shop=alice_shop, text="爱丽丝", by=alice)
    client.force_login(reviewer)
    body = client.get(reverse("admin:reviews_signature_changelist")).content.decode()
    assert body.index("【鲍勃数码】") < body.index("【爱丽丝】")
    assert "已超时" in body
    assert "服饰内衣" in body  # the shop's category
    assert old.is_overdue and not fresh.is_overdue


def test_the_decision_page_shows_shop_previous_signature_and_findings(client, reviewer, alice, alice_shop):
    first = signature_submit(shop=alice_shop, text="爱丽丝", by=alice)
    signature_approve(signature=first, reviewer=reviewer)
    change = signature_submit(shop=alice_shop, text="会员专享", by=alice)
    NeutralName.objects.create(term="会员专享")  # the list changed after submission
    client.force_login(reviewer)
    body = client.get(decide_url(change)).content.decode()
    assert "爱丽丝服饰" in body and "服饰内衣" in body
    assert "【爱丽丝】" in body  # the live signature it would replace
    assert "SIG-NEUTRAL" in body


def test_a_reviewer_must_give_a_reason_to_reject(client, reviewer, pending):
    client.force_login(reviewer)
    response = client.post(decide_url(pending), {"decision": "reject"})
    assert response.status_code == 200
    assert "驳回时必须选择驳回原因" in response.content.decode()
    response = client.post(decide_url(pending), {"decision": "reject", "reason_code": "other"})
    assert "必须填写说明" in response.content.decode()
    assert state_of(pending) == ReviewState.PENDING

    response = client.post(
        decide_url(pending),
        {"decision": "reject", "reason_code": "shop_mismatch", "reason_text": "请用店铺全称"},
    )
    assert response.status_code == 302
    rejected = Signature.objects.get(pk=pending.pk)
    assert (rejected.state, rejected.reason_code) == ("rejected", "shop_mismatch")
    assert rejected.reason_text == "请用店铺全称"
    assert rejected.decided_by == reviewer


def test_a_reviewer_approves_from_the_decision_page(client, reviewer, alice_shop, pending):
    client.force_login(reviewer)
    response = client.post(decide_url(pending), {"decision": "approve"})
    assert response.status_code == 302
    assert live_signature(shop=alice_shop).pk == pending.pk
    # Deciding again reports that it was already handled, and changes nothing.
    response = client.post(decide_url(pending), {"decision": "reject", "reason_code": "generic"}, follow=True)
    assert "已被其他审核员处理" in response.content.decode()
    assert state_of(pending) == ReviewState.APPROVED


def test_bulk_approve_skips_signatures_with_findings(client, reviewer, alice, bob, alice_shop, bob_shop):
    clean = signature_submit(shop=alice_shop, text="爱丽丝", by=alice)
    flagged = signature_submit(shop=bob_shop, text="会员专享", by=bob)
    NeutralName.objects.create(term="会员专享")
    client.force_login(reviewer)
    response = client.post(
        reverse("admin:reviews_signature_changelist"),
        {"action": "bulk_approve", "_selected_action": [clean.pk, flagged.pk]},
        follow=True,
    )
    assert "已通过 1 条" in response.content.decode()
    assert state_of(clean) == ReviewState.APPROVED
    assert state_of(flagged) == ReviewState.PENDING


# The audit trail ----------------------------------------------------------------

def test_every_decision_is_recorded_with_reviewer_time_and_reason(alice, alice_shop, reviewer):
    from reviews.services.signatures import signature_reject

    submitted = signature_submit(shop=alice_shop, text="爱丽丝", by=alice)
    first = signature_approve(signature=submitted, reviewer=reviewer)
    second = signature_submit(shop=alice_shop, text="爱丽丝服饰", by=alice)
    signature_reject(signature=second, reviewer=reviewer, reason_code="shop_mismatch", reason_text="不符")
    submitted = signature_submit(shop=alice_shop, text="Alice", by=alice)
    third = signature_approve(signature=submitted, reviewer=reviewer)
    rows = ReviewDecision.objects.order_by("id").values_list("item_id", "action", "actor_id", "reason_code")
    trail = list(rows)
    assert trail == [
        (first.pk, "submit", alice.pk, ""),
        (first.pk, "approve", reviewer.pk, ""),
        (second.pk, "submit", alice.pk, ""),
        (second.pk, "reject", reviewer.pk, "shop_mismatch"),
        (third.pk, "submit", alice.pk, ""),
        (first.pk, "supersede", reviewer.pk, ""),
        (third.pk, "approve", reviewer.pk, ""),
    ]
    assert all(d.created_at and d.shop_id == alice_shop.pk for d in ReviewDecision.objects.all())


def test_the_audit_trail_cannot_be_edited_or_deleted(alice, alice_shop, reviewer, pending):
    signature_approve(signature=pending, reviewer=reviewer)
    decision = ReviewDecision.objects.get(action="approve")
    decision.reason_text = "tampered"
    with pytest.raises(ImmutableAuditRecord):
        decision.save()
    with pytest.raises(ImmutableAuditRecord):
        decision.delete()
    with pytest.raises(ImmutableAuditRecord):
        ReviewDecision.objects.filter(pk=decision.pk).update(reason_text="tampered")
    with pytest.raises(ImmutableAuditRecord):
        ReviewDecision.objects.all().delete()
    # Raw SQL is refused by the database trigger.
    for sql in (
        "UPDATE reviews_reviewdecision SET reason_text = 'tampered' WHERE id = %s",
        "DELETE FROM reviews_reviewdecision WHERE id = %s",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [decision.pk])
    assert ReviewDecision.objects.get(pk=decision.pk).reason_text == ""


def test_the_audit_trail_is_read_only_in_the_admin(client, reviewer, pending):
    signature_approve(signature=pending, reviewer=reviewer)
    decision = ReviewDecision.objects.get(action="approve")
    client.force_login(reviewer)
    assert client.get(reverse("admin:reviews_reviewdecision_changelist")).status_code == 200
    url = reverse("admin:reviews_reviewdecision_change", args=[decision.pk])
    assert client.get(url).status_code == 200
    assert client.post(url, {"reason_text": "tampered"}).status_code == 403
    assert client.post(reverse("admin:reviews_reviewdecision_delete", args=[decision.pk])).status_code == 403
    assert ReviewDecision.objects.get(pk=decision.pk).reason_text == ""


def test_the_review_permission_is_per_kind_although_transitions_are_shared(pending):
    from django_fsm import has_transition_perm

    from reviews.models.templates import MessageTemplate

    only_signatures = make_user("sigonly", staff=True)
    only_signatures.user_permissions.add(Permission.objects.get(codename="review_signature"))
    assert has_transition_perm(pending.approve, only_signatures)
    template = MessageTemplate(text="x", due_at=pending.due_at)
    assert not has_transition_perm(template.approve, only_signatures)


def test_a_shop_restricted_after_submitting_cannot_be_approved_but_can_be_rejected(
    client, reviewer, pending
):
    category = pending.shop.category
    category.restricted = True
    category.save()
    client.force_login(reviewer)
    response = client.post(decide_url(pending), {"decision": "approve"}, follow=True)
    assert response.status_code == 200
    assert "敏感类目" in response.content.decode()
    assert state_of(pending) == ReviewState.PENDING
    reject = {"decision": "reject", "reason_code": "other", "reason_text": "类目受限"}
    client.post(decide_url(pending), reject)
    assert state_of(pending) == ReviewState.REJECTED
