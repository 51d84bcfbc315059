"""Reads of the reviews app."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from reviews.models.review import ReviewDecision, ReviewState
from reviews.models.signatures import Signature
from reviews.models.templates import MessageTemplate, TemplateOrigin
from smsmarketing.models import Shop


def _live_signatures() -> QuerySet[Signature]:
    # The live-signature rule: the shop's approved signature (at most one per shop, by the
    # constraint signature_one_live_per_shop).
    return Signature.objects.filter(state=ReviewState.APPROVED)


def live_signature(*, shop: Shop) -> Signature | None:
    """The shop's approved (live) signature, or None.

    The send pipeline calls this at send time, not at scheduling time: a
    message sent while a change is pending carries the old signature, one
    sent after the approval carries the new one.
    """
    return _live_signatures().filter(shop_id=shop.pk).first()


def live_signature_texts(*, shop_ids: Iterable[int]) -> dict[int, str]:
    """The live signature's text of each of ``shop_ids`` that has one (one query)."""
    rows = _live_signatures().filter(shop_id__in=set(shop_ids)).values_list("shop_id", "text")
    return dict(rows)


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


def review_decisions_for(*, kind: str, item_id: int) -> QuerySet[ReviewDecision]:
    """The audit trail of one item, newest first."""
    return ReviewDecision.objects.filter(kind=kind, item_id=item_id).select_related("actor")


def usable_templates(*, shop: Shop, use: str) -> QuerySet[MessageTemplate]:
    """Templates a shop may send with for ``use``: its approved custom ones and every official one.

    Custom first (newest first), then official. A template's pending new version
    does not appear; its approved version stays usable until the new one is approved.
    """
    return (
        MessageTemplate.objects.filter(state=ReviewState.APPROVED, use=use)
        .filter(Q(origin=TemplateOrigin.OFFICIAL) | Q(origin=TemplateOrigin.CUSTOM, shop_id=shop.pk))
        .annotate(official_last=Case(When(origin=TemplateOrigin.OFFICIAL, then=Value(1)),
                                     default=Value(0), output_field=IntegerField()))
        .order_by("official_last", "-decided_at", "-id")
    )


def official_templates(*, use: str | None = None) -> QuerySet[MessageTemplate]:
    """The platform's official templates (all approved), optionally of one use."""
    qs = MessageTemplate.objects.filter(origin=TemplateOrigin.OFFICIAL, state=ReviewState.APPROVED)
    return qs.filter(use=use) if use else qs.order_by("use", "id")


def shop_templates(*, shop: Shop) -> QuerySet[MessageTemplate]:
    """Every version of the shop's custom templates, grouped by template, newest version first."""
    return MessageTemplate.objects.filter(origin=TemplateOrigin.CUSTOM, shop_id=shop.pk).select_related(
        "decided_by"
    ).order_by("lineage", "-version")


def template_versions(*, template: MessageTemplate) -> QuerySet[MessageTemplate]:
    """Every version of the template's lineage, newest first."""
    return MessageTemplate.objects.filter(lineage=template.lineage).order_by("-version")


def template_live_version(*, template: MessageTemplate) -> MessageTemplate | None:
    """The approved version of the template's lineage (what a campaign using it sends), or None."""
    return template_versions(template=template).filter(state=ReviewState.APPROVED).first()


def template_queue() -> QuerySet[MessageTemplate]:
    """Pending custom templates, most urgent (earliest due) first."""
    return (
        MessageTemplate.objects.filter(state=ReviewState.PENDING, origin=TemplateOrigin.CUSTOM)
        .select_related("shop__category")
        .order_by("due_at", "id")
    )
