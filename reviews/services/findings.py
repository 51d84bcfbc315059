"""Stored findings of pending items: keep ``checked_findings`` / ``checked_key`` up to date.

The review queue reads a pending item's findings from the row while its ``checked_key`` equals
the fingerprint of today's policy (``reviews.policy.fingerprint``); otherwise it recomputes them
and stores them back (``review_findings_store``). Publishing a word list enqueues
``review_findings_refresh`` so the queue's first view after a publish does not recompute a
whole page. Decisions never rely on stored findings: the decision page and bulk approve run the
rules again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.db import connection, transaction

from reviews.models.review import ReviewedItem, ReviewState
from reviews.policy.memo import policy_memo, prime


def review_findings_store(*, items: Iterable[ReviewedItem]) -> int:
    """Write the ``checked_findings`` and ``checked_key`` set on ``items`` (one UPDATE per model).

    Race: two workers (or a worker and the refresh task) store the same row at once. Each write
    is a findings/fingerprint pair computed together, so whichever lands last the row stays
    consistent: findings are used only while their own fingerprint is today's.
    """
    by_model: dict[type, list[ReviewedItem]] = {}
    for item in items:
        by_model.setdefault(type(item), []).append(item)
    written = 0
    for model, rows in by_model.items():
        written += model.objects.bulk_update(rows, ["checked_findings", "checked_key"])
    return written


def review_findings_refresh(*, model_label: str | None = None, batch: int = 500) -> int:
    """Recompute and store the findings of every pending item whose fingerprint changed.

    ``model_label`` limits it to ``"reviews.MessageTemplate"`` or ``"reviews.Signature"``.
    Returns the number of rows written. Run by django-q2 after a word list is published.
    """
    from reviews.models.signatures import Signature
    from reviews.models.templates import MessageTemplate, TemplateOrigin

    kinds: list[tuple[str, object, Callable, Callable]] = [
        ("reviews.MessageTemplate",
         MessageTemplate.objects.filter(origin=TemplateOrigin.CUSTOM).select_related("shop"),
         _template_key_and_findings, _prime_templates),
        ("reviews.Signature", Signature.objects.all(), _signature_key_and_findings, _prime_signatures),
    ]  # fmt: skip
    written = 0
    for label, queryset, key_and_findings, prime_page in kinds:
        if model_label and model_label != label:
            continue
        pending = queryset.filter(state=ReviewState.PENDING).order_by("pk")
        last = 0
        while True:
            rows = list(pending.filter(pk__gt=last)[:batch])
            if not rows:
                break
            last = rows[-1].pk
            with policy_memo():
                prime_page(rows)
                stale = []
                for row in rows:
                    key, compute = key_and_findings(row)
                    if row.checked_key != key:
                        row.checked_findings = [f.as_dict() for f in compute()]
                        row.checked_key = key
                        stale.append(row)
            with transaction.atomic():
                written += review_findings_store(items=stale)
    return written


def _template_key_and_findings(template):
    from reviews.services.templates import template_current_findings, template_findings_key

    return template_findings_key(template), lambda: template_current_findings(template)


def _signature_key_and_findings(signature):
    from reviews.services.signatures import signature_current_findings, signature_findings_key

    return signature_findings_key(signature), lambda: signature_current_findings(signature)


def _prime_templates(rows) -> None:
    prime_live_signatures({row.shop_id for row in rows})


def _prime_signatures(rows) -> None:
    prime_signatures_in_use([row.text for row in rows])


def prime_live_signatures(shop_ids: set[int]) -> None:
    """Load the live signatures of ``shop_ids`` in one query into the current policy memo.

    Complete instances, written by hand as ``= ANY(%s)``: the ORM compiled the review queue's
    ``shop_id IN (50 ids)`` in about 0.5 ms of the page (docs/PERFORMANCE.md)."""
    from reviews.models.signatures import Signature

    shop_ids = shop_ids - {None}
    if not shop_ids:
        return
    columns = ", ".join(connection.ops.quote_name(f.column) for f in Signature._meta.concrete_fields)
    approved = Signature.objects.raw(
        f"SELECT {columns} FROM {Signature._meta.db_table} WHERE shop_id = ANY(%s) AND state = %s",
        [sorted(shop_ids), ReviewState.APPROVED],
    )
    live = {signature.shop_id: signature for signature in approved}
    for shop_id in shop_ids:
        prime(("live_signature", shop_id), live.get(shop_id))


def prime_signatures_in_use(texts: Iterable[str]) -> None:
    """SIG-DUPLICATE's lookups of many signatures in one query into the current policy memo."""
    from reviews.normalization import normalize
    from reviews.signature_rules import signatures_in_use

    normalized = {normalize(text).text for text in texts}
    normalized = {text for text in normalized if text and "\x00" not in text}
    for text, shops in signatures_in_use(normalized).items():
        prime(("signature_in_use", text), shops)
