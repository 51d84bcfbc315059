"""The /api/v1/ endpoints of Webhooks."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["Webhooks"])
