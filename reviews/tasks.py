"""django-q2 tasks of the reviews app: thin adapters over services, safe to run twice."""

from __future__ import annotations

from reviews.services.findings import review_findings_refresh
from reviews.services.notices import review_overdue_sweep


def refresh_findings(kind: str | None = None) -> int:
    """Recompute the stored findings of pending items whose inputs changed (``kind``: "template",
    "signature" or None for both). Enqueued when a policy input changes, and every 15 minutes
    (a deploy that bumps ``RULES_VERSION``, an edit no signal saw)."""
    return review_findings_refresh(kind=kind)


def notify_overdue_reviews() -> int:
    """Apologise to the shops whose signature or template review is past due, with a new estimate
    (``review_overdue_sweep``: once per item and missed deadline). Every 30 minutes."""
    return review_overdue_sweep()
