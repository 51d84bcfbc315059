"""Two reviewers (or a reviewer and the merchant) deciding the same item at once."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from django_fsm import ConcurrentTransition

from reviews.errors import AlreadyDecided
from reviews.models import ReviewDecision, ReviewState, Signature
from reviews.services.signatures import (
    signature_approve,
    signature_reject,
    signature_submit,
    signature_withdraw,
)
from tests.factories import make_reviewer


def run_at_once(*calls):
    """Run the calls in real threads released together; return (result|exception) per call."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[object] = [None] * len(calls)

    def worker(index, call):
        try:
            barrier.wait()
            outcomes[index] = call()
        except Exception as exc:  # noqa: BLE001 - the outcome is what we assert on
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_it_lets_one_of_two_reviewers_win_and_tells_the_other(alice, alice_shop):
    rita, sam = make_reviewer("rita"), make_reviewer("sam")
    for round_no in range(5):  # a few rounds, each on a fresh pending signature
        signature = signature_submit(shop=alice_shop, text=f"爱丽丝{round_no}", by=alice)
        stale_a = Signature.objects.get(pk=signature.pk)
        stale_b = Signature.objects.get(pk=signature.pk)
        outcomes = run_at_once(
            lambda s=stale_a: signature_approve(signature=s, reviewer=rita),
            lambda s=stale_b: signature_reject(signature=s, reviewer=sam, reason_code="generic"),
        )
        errors = [o for o in outcomes if isinstance(o, Exception)]
        wins = [o for o in outcomes if isinstance(o, Signature)]
        assert len(wins) == 1 and len(errors) == 1, outcomes
        assert isinstance(errors[0], AlreadyDecided)
        assert "已被其他审核员处理" in errors[0].message
        signature.refresh_from_db()
        assert signature.state == wins[0].state
        decisions = ReviewDecision.objects.filter(
            kind="signature", item_id=signature.pk, action__in=["approve", "reject"]
        )
        assert decisions.count() == 1
        assert decisions.get().actor_id == signature.decided_by_id
    # Each approved round superseded the previous live one: still exactly one live.
    assert Signature.objects.filter(shop=alice_shop, state=ReviewState.APPROVED).count() <= 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_withdrawal_racing_an_approval_has_exactly_one_effect(alice, alice_shop):
    rita = make_reviewer("rita")
    signature = signature_submit(shop=alice_shop, text="爱丽丝", by=alice)
    outcomes = run_at_once(
        lambda: signature_approve(signature=signature, reviewer=rita),
        lambda: signature_withdraw(shop=alice_shop, by=alice),
    )
    assert sum(isinstance(o, Exception) for o in outcomes) == 1, outcomes
    signature.refresh_from_db()
    assert signature.state in {ReviewState.APPROVED, ReviewState.WITHDRAWN}
    effects = ReviewDecision.objects.filter(item_id=signature.pk, action__in=["approve", "withdraw"])
    assert effects.count() == 1


@pytest.mark.django_db
def test_the_state_update_is_conditional_on_the_state_it_was_loaded_in(alice, alice_shop, reviewer):
    """The optimistic lock itself: a stale copy can never overwrite a decision."""
    from django.utils import timezone

    signature = signature_submit(shop=alice_shop, text="爱丽丝", by=alice)
    first = Signature.objects.get(pk=signature.pk)
    second = Signature.objects.get(pk=signature.pk)
    first.approve(by=reviewer, at=timezone.now())
    first.save()
    second.reject(by=reviewer, at=timezone.now(), reason_code="other", reason_text="x")
    with pytest.raises(ConcurrentTransition), transaction.atomic():
        second.save()
    signature.refresh_from_db()
    assert signature.state == ReviewState.APPROVED


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_shops_submitting_the_same_signature_at_once_cannot_both_get_it(alice, bob, alice_shop, bob_shop):
    from reviews.services.signatures import SignatureRefused

    outcomes = run_at_once(
        lambda: signature_submit(shop=alice_shop, text="同款好店", by=alice),
        lambda: signature_submit(shop=bob_shop, text="同款好店", by=bob),
    )
    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert len(refused) == 1, outcomes
    assert isinstance(refused[0], SignatureRefused) and refused[0].rule == "SIG-DUPLICATE"
    assert Signature.objects.filter(normalized="同款好店").count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_tabs_of_one_shop_submitting_at_once_leave_one_pending(alice, alice_shop):
    from reviews.services.signatures import SignatureRefused

    outcomes = run_at_once(
        lambda: signature_submit(shop=alice_shop, text="爱丽丝", by=alice),
        lambda: signature_submit(shop=alice_shop, text="爱丽丝服饰", by=alice),
    )
    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert len(refused) == 1, outcomes
    assert isinstance(refused[0], SignatureRefused) and refused[0].rule == "SIG-PENDING-EXISTS"
    assert Signature.objects.filter(shop=alice_shop, state=ReviewState.PENDING).count() == 1
