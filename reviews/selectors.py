"""Reads of the reviews app."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Case, Count, Exists, IntegerField, Min, OuterRef, Q, QuerySet, Value, When
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

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


@dataclass(frozen=True)
class QueueCount:
    """One review queue on the admin home: its pending and overdue items, with links."""

    name: str
    pending: int
    overdue: int
    oldest_due: datetime | None
    url: str

    @property
    def overdue_url(self) -> str:
        return f"{self.url}?queue=overdue"


def review_queue_counts(*, user) -> list[QueueCount]:
    """Each queue ``user`` may view (signatures, custom templates): pending and overdue counts
    and the earliest due time, one query per queue."""
    queues = [
        (Signature, _("签名审核"), Signature.objects.all()),
        (MessageTemplate, _("模板审核"), MessageTemplate.objects.filter(origin=TemplateOrigin.CUSTOM)),
    ]
    now = timezone.now()
    counts = []
    for model, name, items in queues:
        opts = model._meta
        if not user.has_perm(f"{opts.app_label}.view_{opts.model_name}"):
            continue
        figures = items.filter(state=ReviewState.PENDING).aggregate(
            pending=Count("id"), overdue=Count("id", filter=Q(due_at__lt=now)), oldest_due=Min("due_at"),
        )
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        counts.append(QueueCount(name=str(name), url=url, **figures))
    return counts


@dataclass(frozen=True)
class OpenReview:
    """A signature or template of a shop awaiting review or last rejected (the dashboard)."""

    kind: str  # "signature" | "template"
    item: Signature | MessageTemplate


def shop_open_reviews(*, shop: Shop, limit: int = 5) -> list[OpenReview]:
    """The shop's reviews a merchant should see on the dashboard, two queries in all.

    Pending signatures and template versions, and rejected ones not followed by a newer
    submission (a rejected signature replaced by a later one, or a template version
    with a newer version, is history, not something to act on). Pending first (earliest
    due first), then rejected (latest decision first); at most ``limit`` of each kind.
    """
    open_states = [ReviewState.PENDING, ReviewState.REJECTED]
    newer_signature = Signature.objects.filter(
        shop_id=OuterRef("shop_id"), submitted_at__gt=OuterRef("submitted_at")
    )
    signatures = (
        Signature.objects.filter(shop_id=shop.pk, state__in=open_states)
        .exclude(Q(state=ReviewState.REJECTED) & Exists(newer_signature))
        .order_by("-submitted_at", "-id")[:limit]
    )
    newer_version = MessageTemplate.objects.filter(
        lineage=OuterRef("lineage"), version__gt=OuterRef("version")
    )
    templates = (
        MessageTemplate.objects.filter(origin=TemplateOrigin.CUSTOM, shop_id=shop.pk, state__in=open_states)
        .exclude(Q(state=ReviewState.REJECTED) & Exists(newer_version))
        .order_by("-submitted_at", "-id")[:limit]
    )
    items = [OpenReview("signature", s) for s in signatures] + [OpenReview("template", t) for t in templates]
    pending = sorted((r for r in items if r.item.state == ReviewState.PENDING), key=lambda r: r.item.due_at)
    rejected = sorted(
        (r for r in items if r.item.state == ReviewState.REJECTED),
        key=lambda r: r.item.decided_at or r.item.submitted_at,
        reverse=True,
    )
    return pending + rejected

