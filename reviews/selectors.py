"""Reads of the reviews app."""

from __future__ import annotations

from django.db.models import QuerySet

from reviews.models.review import ReviewDecision, ReviewState
from reviews.models.signatures import Signature
from smsmarketing.models import Shop


def live_signature(*, shop: Shop) -> Signature | None:
    """The shop's approved (live) signature, or None.

    The send pipeline calls this at send time, not at scheduling time: a
    message sent while a change is pending carries the old signature, one
    sent after the approval carries the new one.
    """
    return Signature.objects.filter(shop_id=shop.pk, state=ReviewState.APPROVED).first()


def pending_signature(*, shop: Shop) -> Signature | None:
    """The shop's signature awaiting review, or None."""
    return Signature.objects.filter(shop_id=shop.pk, state=ReviewState.PENDING).first()


def signature_history(*, shop: Shop) -> QuerySet[Signature]:
    """Every signature the shop submitted, newest first (with reject reasons)."""
    return (
        Signature.objects.filter(shop_id=shop.pk)
        .select_related("decided_by")
        .order_by("-submitted_at", "-id")
    )


def signature_queue() -> QuerySet[Signature]:
    """Pending signatures, most urgent (earliest due) first."""
    return (
        Signature.objects.filter(state=ReviewState.PENDING)
        .select_related("shop__category")
        .order_by("due_at", "id")
    )


def review_decisions_for(*, kind: str, item_id: int) -> QuerySet[ReviewDecision]:
    """The audit trail of one item, newest first."""
    return ReviewDecision.objects.filter(kind=kind, item_id=item_id).select_related("actor")
