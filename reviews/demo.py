"""Demo signatures for seed_demo: a live signature and a pending change in the queue."""

from __future__ import annotations

from reviews.models.signatures import Signature
from reviews.services.signatures import signature_approve, signature_submit
from smsmarketing.models import Shop

DEMO_LIVE_SIGNATURE = "爱丽丝服饰"
DEMO_PENDING_SIGNATURE = "爱丽丝旗舰店"


def seed_demo_signatures(*, shop: Shop, merchant, reviewer) -> int:
    """Give the shop an approved signature and a pending change, once; return rows created."""
    if shop.sms_restricted or Signature.objects.filter(shop=shop).exists():
        return 0
    live = signature_submit(shop=shop, text=DEMO_LIVE_SIGNATURE, by=merchant)
    signature_approve(signature=live, reviewer=reviewer)
    signature_submit(shop=shop, text=DEMO_PENDING_SIGNATURE, by=merchant)
    return 2
