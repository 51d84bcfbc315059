"""Tasks of the merchant core."""

from __future__ import annotations


def ping(value: str) -> str:
    """A no-op task the smoke check enqueues to prove the cluster runs tasks."""
    return f"pong:{value}"
