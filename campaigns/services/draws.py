"""The holdout and A/B draw: one number per recipient, reproducible from the campaign's seed
(``campaigns.services.variants`` says how the audience is cut along it)."""

from __future__ import annotations

import hashlib

from campaigns.models.sending import Campaign

MIN_VARIANTS = 2  # an A/B test has 2–5 variants

HELD = -1  # the draw's answer for a held-out recipient
REST = -2  # ... for the rest of the audience: not held out, not in an A/B test's share


def _key(seed: int) -> bytes:
    return (seed & (2**64 - 1)).to_bytes(8, "big")


def draw(*, seed: int, phone: str) -> float:
    """The recipient's number in [0, 1): a keyed hash of the phone, reproducible from the seed."""
    digest = hashlib.blake2b(phone.encode(), key=_key(seed), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class Cut:
    """A campaign's audience cut along the draw: ``of(phone)`` is ``HELD``, the index of the
    variant the phone tests, or ``REST`` (everyone not held out, for a campaign without variants).

    Performance: planning cuts every recipient of a batch; the keyed hash state and the
    thresholds are set once (copying a keyed BLAKE2b state costs less than keying a new one),
    and the draw is compared as an integer."""

    __slots__ = ("_hash", "_held", "_share", "_span", "_variants")

    def __init__(self, *, campaign: Campaign, variants: int) -> None:
        self._hash = hashlib.blake2b(key=_key(campaign.seed), digest_size=8)
        self._variants = variants if variants >= MIN_VARIANTS else 0
        # u < h  <=>  n < h × 2^64 (n the 64-bit draw); the test share is [h, h + (1 − h) × share).
        held = campaign.holdout_percent / 100
        self._held = int(held * 2**64)
        self._span = (1 - held) * campaign.ab_test_percent / 100 * 2**64
        self._share = self._held + int(self._span)

    def of(self, phone: str) -> int:
        state = self._hash.copy()
        state.update(phone.encode())
        n = int.from_bytes(state.digest(), "big")
        if n < self._held:
            return HELD
        if not self._variants or n >= self._share:
            return REST
        return min(int((n - self._held) / self._span * self._variants), self._variants - 1)


def assignment(*, campaign: Campaign, variants: int, phone: str) -> int:
    """``Cut(campaign=, variants=).of(phone)`` for one phone."""
    return Cut(campaign=campaign, variants=variants).of(phone)
