"""django-q2 tasks of the reviews app: thin adapters over services, safe to run twice."""

from __future__ import annotations

from reviews.services.findings import review_findings_refresh


def refresh_findings(kind: str | None = None) -> int:
    """Recompute the stored findings of pending items whose inputs changed (``kind``: "template",
    "signature" or None for both). Enqueued when a policy input changes, and every 15 minutes
    (a deploy that bumps ``RULES_VERSION``, an edit no signal saw)."""
    return review_findings_refresh(kind=kind)
