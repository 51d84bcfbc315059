"""The /api/v1/ endpoints of 营销任务."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["营销任务"])
