"""The holdout and A/B draw: one number per recipient, reproducible from the campaign's seed
(``campaigns.services.variants`` says how the audience is cut along it)."""

from __future__ import annotations

import hashlib

from campaigns.models.sending import Campaign

MIN_VARIANTS = 2  # an A/B test has 2–5 variants

HELD = -1  # the draw's answer for a held-out recipient
REST = -2  # ... for the rest of the audience: not held out, not in an A/B test's share


def draw(*, seed: int, phone: str) -> float:
    """The recipient's number in [0, 1): a keyed hash of the phone, reproducible from the seed."""
    key = (seed & (2**64 - 1)).to_bytes(8, "big")
    digest = hashlib.blake2b(phone.encode(), key=key, digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def assignment(*, campaign: Campaign, variants: int, phone: str) -> int:
    """``HELD``, the index of the variant this recipient tests, or ``REST`` (also for a campaign
    without variants: everyone not held out is sent the campaign's content)."""
    u = draw(seed=campaign.seed, phone=phone)
    held = campaign.holdout_percent / 100
    if u < held:
        return HELD
    if variants < MIN_VARIANTS:
        return REST
    v = (u - held) / (1 - held)
    share = campaign.ab_test_percent / 100
    if v >= share:
        return REST
    return min(int(v / share * variants), variants - 1)


