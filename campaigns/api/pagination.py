"""Cursor pagination of list endpoints: ``?cursor=…&limit=…``, answer ``{items, next}``.

Keyset pagination on the primary key (newest first by default): a page is one indexed range
scan however deep the client pages, and rows added meanwhile neither repeat nor shift a page.
The cursor is opaque to clients (base64 of the last key seen); a cursor that does not decode
is a 422, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from ninja import Field, Schema

from campaigns.api.errors import VALIDATION, ApiError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


# Query parameters of a paginated list (use as ``params: Query[PageParams]``). A comment, not a
# docstring: pydantic would publish a docstring as the schema's (English) description.
class PageParams(Schema):
    cursor: str | None = Field(None, max_length=200, description="上一页返回的 next；第一页不传")
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=f"每页条数（1–{MAX_LIMIT}）")


def encode_cursor(last_pk: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"k": last_pk}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))["k"]
    except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error):
        value = None
    if not isinstance(value, int) or isinstance(value, bool) or not (0 < value < 2**63):
        message = _("分页游标无效：请使用上一页返回的 next 原样传回。")
        raise ApiError(422, VALIDATION, message)
    return value


def paginate(
    queryset: QuerySet, *, cursor: str | None, limit: int = DEFAULT_LIMIT, newest_first: bool = True
) -> dict[str, Any]:
    """One page of ``queryset`` (already filtered to the key's shop): ``{"items": [...], "next": …}``.

    ``items`` are the model instances (the endpoint's response schema serialises them)."""
    limit = max(1, min(limit, MAX_LIMIT))
    if cursor:
        last = decode_cursor(cursor)
        queryset = queryset.filter(pk__lt=last) if newest_first else queryset.filter(pk__gt=last)
    rows = list(queryset.order_by("-pk" if newest_first else "pk")[: limit + 1])
    items, more = rows[:limit], len(rows) > limit
    return {"items": items, "next": encode_cursor(items[-1].pk) if more else None}
