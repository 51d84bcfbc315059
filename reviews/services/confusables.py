"""Writes of the confusables table: publishing it as a new version, adding a variant."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from reviews.models.confusables import (
    TABLE_ID,
    Confusable,
    ConfusableKind,
    ConfusableRevision,
    ConfusableTable,
)
from reviews.policy.text import plain_key
from reviews.services.findings import findings_refresh_enqueue


def confusable_check(*, variant: str, canonical: str, kind: str) -> None:
    """Refuse a pair the checker could not use (ValidationError, by field): a variant or a
    canonical spelling that is only spaces or symbols, or a variant that reads as its canonical."""
    variant_key, _gaps = plain_key(variant or "")
    if not variant_key:
        raise ValidationError({"variant": _("变体写法不能只有空格或符号。")})
    if kind == ConfusableKind.KEEP:
        return  # kept as written: the canonical spelling is the variant itself
    canonical_key, _gaps = plain_key(canonical or "")
    if not canonical_key:
        raise ValidationError({"canonical": _("对应的词不能只有空格或符号。")})
    if variant_key == canonical_key:
        raise ValidationError(
            {"variant": _("变体写法与对应的词相同（忽略大小写、全角/半角后），无需添加。")}
        )


def confusables_snapshot() -> list[list[str]]:
    """The table's current rows as [variant, canonical, kind], sorted as the admin lists them."""
    return [
        [c.variant, c.canonical, c.kind]
        for c in Confusable.objects.filter(table_id=TABLE_ID).order_by("canonical", "variant")
    ]


def confusables_publish(*, by=None) -> ConfusableRevision | None:
    """Publish the table's current rows as a new version, if they changed since the latest one.

    Returns the new revision, or None when nothing changed. Race: two reviewers saving the table
    at once. The table row is locked (SELECT ... FOR UPDATE), so versions are taken one after the
    other; the unique (table, version) constraint is the second guard.
    """
    with transaction.atomic():
        table, _created = ConfusableTable.objects.get_or_create(pk=TABLE_ID)
        table = ConfusableTable.objects.select_for_update().get(pk=table.pk)
        pairs = confusables_snapshot()
        latest = table.revisions.filter(version=table.version).first()
        if latest is not None and latest.pairs == pairs:
            return None
        version = table.version + 1
        revision = ConfusableRevision.objects.create(
            table=table, version=version, pairs=pairs, published_at=timezone.now(),
            published_by=by if getattr(by, "pk", None) else None,
        )
        ConfusableTable.objects.filter(pk=table.pk).update(
            version=F("version") + 1, updated_at=timezone.now()
        )
        # Every pending item's stored findings may change (templates and signatures alike).
        findings_refresh_enqueue()
    return revision


def confusable_add(
    *, variant: str, canonical: str, kind: str, note: str = "", by=None
) -> ConfusableRevision | None:
    """Add (or re-point) ``variant`` → ``canonical`` and publish the table in one transaction.
    Validates like the admin form (``confusable_check``: ValidationError on a bad pair)."""
    with transaction.atomic():
        table, _created = ConfusableTable.objects.get_or_create(pk=TABLE_ID)
        # Race: two reviewers adding the same variant at once; the table lock orders them, so the
        # second one re-points the row the first created instead of hitting the unique constraint.
        ConfusableTable.objects.select_for_update().get(pk=table.pk)
        row = Confusable.objects.filter(table_id=TABLE_ID, variant=variant).first() or Confusable(
            table_id=TABLE_ID, variant=variant
        )
        row.canonical, row.kind, row.note = canonical, kind, note or row.note
        row.full_clean(exclude=["table"])
        confusable_check(variant=row.variant, canonical=row.canonical, kind=row.kind)
        row.save()
        return confusables_publish(by=by)
