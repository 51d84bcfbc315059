"""The /api/v1/ endpoints of 订单."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["订单"])
