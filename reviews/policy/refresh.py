"""Queue a background refresh of stored findings when a policy input other than a word list
changes: a template variable (templates' findings), a neutral name or a platform brand term
(signatures' findings).

Word lists are published through ``wordlist_publish``, which enqueues the refresh itself; these
inputs are edited directly in the admin, so the refresh hangs on their ``post_save`` /
``post_delete`` signals (they fire for admin saves, deletes and delete actions; a queryset
``update()`` fires none — the queue's fingerprint check still recomputes on view, so a stale
finding is never shown either way). The task only rewrites rows whose fingerprint changed, so a
reviewer editing ten variables in a row queues ten cheap passes, not ten recomputations.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django_q.tasks import async_task

from reviews.policy.services import REFRESH_FINDINGS_TASK

TEMPLATES = "reviews.MessageTemplate"
SIGNATURES = "reviews.Signature"


def _refresher(model_label: str):
    def queue_refresh(sender, raw: bool = False, **kwargs) -> None:
        if raw:  # loaddata: not an edit
            return
        transaction.on_commit(lambda: async_task(REFRESH_FINDINGS_TASK, model_label=model_label))

    return queue_refresh


def connect() -> None:
    """Called once from ``ReviewsConfig.ready``."""
    from reviews.models.policy import TemplateVariable
    from reviews.models.signatures import NeutralName, PlatformBrandTerm

    for model, label in (
        (TemplateVariable, TEMPLATES),
        (NeutralName, SIGNATURES),
        (PlatformBrandTerm, SIGNATURES),
    ):
        receiver = _refresher(label)
        uid = f"reviews-refresh-findings-{model.__name__}"
        post_save.connect(receiver, sender=model, weak=False, dispatch_uid=f"{uid}-save")
        post_delete.connect(receiver, sender=model, weak=False, dispatch_uid=f"{uid}-delete")
