"""Queue a refresh of stored findings when a policy input edited directly in the admin changes:
a template variable (templates' findings), a neutral name or a platform brand term (signatures').

Word lists are published through ``wordlist_publish`` and signatures approved through
``signature_approve``, which enqueue the refresh themselves. ``post_save`` / ``post_delete`` fire
for admin saves, deletes and delete actions; a queryset ``update()`` fires none, which the
scheduled refresh catches.
"""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save

from reviews.models.policy import TemplateVariable
from reviews.models.signatures import NeutralName, PlatformBrandTerm
from reviews.services.findings import findings_refresh_enqueue

INPUTS = ((TemplateVariable, "template"), (NeutralName, "signature"), (PlatformBrandTerm, "signature"))


def _refresher(kind: str):
    def queue_refresh(sender, raw: bool = False, **kwargs) -> None:
        if not raw:  # loaddata is not an edit
            findings_refresh_enqueue(kind=kind)

    return queue_refresh


def connect() -> None:
    """Called once from ``ReviewsConfig.ready``."""
    for model, kind in INPUTS:
        receiver = _refresher(kind)
        uid = f"reviews-refresh-findings-{model.__name__}"
        post_save.connect(receiver, sender=model, weak=False, dispatch_uid=f"{uid}-save")
        post_delete.connect(receiver, sender=model, weak=False, dispatch_uid=f"{uid}-delete")
