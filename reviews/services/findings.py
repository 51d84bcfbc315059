"""Stored findings of pending items: keep ``checked_findings`` / ``checked_key`` up to date.

An item stores its findings and their fingerprint (``reviews.policy.fingerprint``) when it is
submitted; the review queue shows them as stored and never writes. When an input changes (a word
list published, a variable, neutral name or brand term edited, a shop's live signature changed,
``RULES_VERSION`` bumped by a deploy) ``review_findings_refresh`` recomputes the rows whose
fingerprint is no longer today's. It runs as a django-q2 task (``reviews.tasks``), enqueued on
those changes and on a schedule. Decisions never rely on stored findings: the decision page and
bulk approve run the rules again.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db import transaction
from django.db.models import QuerySet
from django_q.tasks import async_task

from reviews.models.review import ReviewedItem, ReviewState
from reviews.models.signatures import Signature
from reviews.models.templates import MessageTemplate, TemplateOrigin
from reviews.policy import fingerprint
from reviews.policy.checker import content_policy
from reviews.policy.confusables import published_confusables
from reviews.selectors import live_signature_texts
from reviews.services.templates import template_checked
from reviews.signature_rules import active_brand_terms, active_neutral_names, signature_findings

REFRESH_TASK = "reviews.tasks.refresh_findings"
BATCH = 500


def findings_refresh_enqueue(*, kind: str | None = None) -> None:
    """Queue ``review_findings_refresh`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: async_task(REFRESH_TASK, kind=kind))


def review_findings_refresh(*, kind: str | None = None, batch: int = BATCH) -> int:
    """Recompute and store the findings of every pending item whose fingerprint changed.

    ``kind`` limits it to ``"template"`` or ``"signature"``. Returns the number of rows written.

    Race: a refresh and a submission, or two refreshes, storing the same row. Each write is a
    findings/fingerprint pair computed from the same inputs, so whichever lands last the row is
    consistent; a pair computed from inputs that changed meanwhile is found stale by the refresh
    the change enqueued.
    """
    written = 0
    if kind in (None, MessageTemplate.review_kind):
        written += _refresh_templates(batch)
    if kind in (None, Signature.review_kind):
        written += _refresh_signatures(batch)
    return written


def _refresh_templates(batch: int) -> int:
    policy = content_policy()
    pending = MessageTemplate.objects.filter(state=ReviewState.PENDING, origin=TemplateOrigin.CUSTOM)
    written = 0
    for rows in _batches(pending, batch):
        signatures = live_signature_texts(shop_ids={row.shop_id for row in rows})
        stale = []
        for row in rows:
            inputs = {"policy": policy, "signature": signatures.get(row.shop_id), "text": row.text,
                      "use": row.use, "message_class": row.message_class}
            if fingerprint.template_findings_key(**inputs) == row.checked_key:
                continue
            findings, key = template_checked(**inputs)
            stale.append(_stored(row, findings, key))
        written += _store(MessageTemplate, stale)
    return written


def _refresh_signatures(batch: int) -> int:
    neutral_names, brand_terms = active_neutral_names(), active_brand_terms()
    confusables = published_confusables()  # once for the whole refresh, not a query per row
    written = 0
    for rows in _batches(Signature.objects.filter(state=ReviewState.PENDING), batch):
        stale = []
        for row in rows:
            key = fingerprint.signature_findings_key(
                neutral_names=neutral_names, brand_terms=brand_terms, text=row.text, confusables=confusables
            )
            if key == row.checked_key:
                continue
            findings = signature_findings(
                row.text, shop_id=row.shop_id, neutral_names=neutral_names, brand_terms=brand_terms,
                confusables=confusables,
            )
            stale.append(_stored(row, findings, key))
        written += _store(Signature, stale)
    return written


def _batches(queryset: QuerySet, size: int) -> Iterator[list]:
    """The rows of ``queryset`` in pages of ``size`` by primary key (keyset pagination)."""
    last = 0
    while rows := list(queryset.filter(pk__gt=last).order_by("pk")[:size]):
        yield rows
        last = rows[-1].pk


def _stored(row: ReviewedItem, findings, key: str) -> ReviewedItem:
    row.checked_findings = [f.as_dict() for f in findings]
    row.checked_key = key
    return row


def _store(model: type[ReviewedItem], rows: list[ReviewedItem]) -> int:
    # Only the two stored-findings columns: a decision committed meanwhile (state, decided_by)
    # is never overwritten.
    return model.objects.bulk_update(rows, ["checked_findings", "checked_key"]) if rows else 0
