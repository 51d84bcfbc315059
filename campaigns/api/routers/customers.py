"""The /api/v1/ endpoints of 客户."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["客户"])
