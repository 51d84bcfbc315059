"""Submit → approve/reject/withdraw of signatures, and the live signature at send time."""

from __future__ import annotations

import pytest

from reviews.errors import AlreadyDecided
from reviews.models import ReviewDecision, ReviewState, Signature
from reviews.selectors import live_signature, pending_signature
from reviews.services.signatures import (
    SignatureRefused,
    signature_approve,
    signature_reject,
    signature_submit,
    signature_withdraw,
)
from smsmarketing.errors import CategoryRestricted

pytestmark = pytest.mark.django_db


def test_it_keeps_the_old_signature_until_the_new_one_is_approved(alice, alice_shop, reviewer):
    first = signature_submit(shop=alice_shop, text="爱丽丝", by=alice)
    assert live_signature(shop=alice_shop) is None
    signature_approve(signature=first, reviewer=reviewer)
    assert live_signature(shop=alice_shop).text == "爱丽丝"

    change = signature_submit(shop=alice_shop, text="爱丽丝服饰", by=alice)
    # A message sent now (change pending) carries the old signature.
    assert live_signature(shop=alice_shop).text == "爱丽丝"
    assert pending_signature(shop=alice_shop).pk == change.pk

    signature_approve(signature=change, reviewer=reviewer)
    # A message sent after the approval carries the new one.
    assert live_signature(shop=alice_shop).text == "爱丽丝服饰"
    first.refresh_from_db()
    assert first.state == ReviewState.SUPERSEDED
    assert first.superseded_at is not None
    assert Signature.objects.filter(shop=alice_shop, state=ReviewState.APPROVED).count() == 1


def test_a_rejection_leaves_the_live_signature_untouched(alice, alice_shop, reviewer):
    submitted = signature_submit(shop=alice_shop, text="爱丽丝", by=alice)
    first = signature_approve(signature=submitted, reviewer=reviewer)
    change = signature_submit(shop=alice_shop, text="爱丽丝旗舰店", by=alice)
    rejected = signature_reject(
        signature=change, reviewer=reviewer, reason_code="shop_mismatch", reason_text="与店铺名不符"
    )
    assert rejected.state == ReviewState.REJECTED
    assert rejected.reason_code == "shop_mismatch"
    assert live_signature(shop=alice_shop).pk == first.pk
    assert pending_signature(shop=alice_shop) is None


def test_it_refuses_a_second_pending_signature(alice, alice_shop):
    signature_submit(shop=alice_shop, text="爱丽丝", by=alice)
    with pytest.raises(SignatureRefused) as excinfo:
        signature_submit(shop=alice_shop, text="爱丽丝服饰", by=alice)
    assert excinfo.value.rule == "SIG-PENDING-EXISTS"
    assert Signature.objects.filter(shop=alice_shop).count() == 1


def test_the_merchant_can_withdraw_a_pending_signature(alice, alice_shop, reviewer):
    signature_submit(shop=alice_shop, text="爱丽丝", by=alice)
    withdrawn = signature_withdraw(shop=alice_shop, by=alice)
    assert withdrawn.state == ReviewState.WITHDRAWN
    assert pending_signature(shop=alice_shop) is None
    with pytest.raises(AlreadyDecided):
        signature_approve(signature=withdrawn, reviewer=reviewer)
    trail = ReviewDecision.objects.filter(item_id=withdrawn.pk, kind="signature").order_by("id")
    actions = list(trail.values_list("action", flat=True))
    assert actions == ["submit", "withdraw"]


def test_it_refuses_every_signature_service_for_a_restricted_shop(charlie, charlie_shop):
    with pytest.raises(CategoryRestricted):
        signature_submit(shop=charlie_shop, text="查理药房", by=charlie)
    with pytest.raises(CategoryRestricted):
        signature_withdraw(shop=charlie_shop, by=charlie)
    assert not Signature.objects.filter(shop=charlie_shop).exists()


def test_the_demo_seed_gives_alice_a_live_signature_and_a_pending_change():
    from django.core.management import call_command

    from smsmarketing.models import Shop

    call_command("seed_demo")
    call_command("seed_demo")  # idempotent
    shop = Shop.objects.get(name="爱丽丝服饰旗舰店")
    assert live_signature(shop=shop).text == "爱丽丝服饰"
    assert pending_signature(shop=shop).text == "爱丽丝旗舰店"
    assert Signature.objects.filter(shop=shop).count() == 2
