"""The /api/v1/ endpoints of 短信明细."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["短信明细"])
