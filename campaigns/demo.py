"""Demo data for local use, across the apps (`manage.py seed_demo`).

It lives in campaigns, the top of the app layers (campaigns -> reviews -> smsmarketing), because
it seeds every layer: the core first, then what the apps above it add for the same cast.
"""

from __future__ import annotations

from django.db import transaction

from reviews.demo import seed_demo_reviews
from smsmarketing.demo import seed_demo_core


@transaction.atomic
def seed_demo() -> int:
    """Create the demo objects that are missing (idempotent); return how many were created."""
    created, cast = seed_demo_core()
    created += seed_demo_reviews(shop=cast.shop, merchant=cast.merchant, reviewer=cast.reviewer)
    return created
