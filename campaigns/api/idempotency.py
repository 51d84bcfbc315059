"""``Idempotency-Key`` on every POST: the same key and request within 24 h gets the first answer.

Usage (every POST operation; tests/campaigns/test_api_idempotency.py checks the schema)::

    @router.post("/campaigns", response=...)
    @idempotent
    def campaign_create(request, payload: CampaignIn): ...

How it holds under concurrency: the record of (api key, idempotency key) is inserted with
``INSERT .. ON CONFLICT DO NOTHING`` in the same transaction as the operation's writes. A second
request with the same key waits on the unique index until the first transaction ends: if it
committed, the second finds its record and replays the stored answer (header
``Idempotent-Replayed: true``); if it rolled back, the second inserts and runs itself. So two
concurrent identical POSTs run the operation once. Another request under a used key is refused
with 422 IDEMPOTENCY-MISMATCH. Answers 2xx and 4xx are stored (the operation's writes, if any,
with them); 401, 429 and 5xx are not (the operation did not run, or may be retried).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Header
from ninja.decorators import decorate_view
from ninja.utils import contribute_operation_args

from campaigns.api.auth import api_key_of
from campaigns.api.errors import (
    BAD_REQUEST,
    IDEMPOTENCY_MISMATCH,
    VALIDATION,
    ApiError,
    api_error_response,
    error_response,
)
from campaigns.models.api import ApiKey, IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
# How long a stored answer is replayed; older records are purged (campaigns.tasks).
RETENTION = timedelta(hours=24)
# Answers not stored: the operation did not run (401, 429) or failed unexpectedly (5xx).
NOT_STORED = frozenset({401, 429})
REPLAYED_HEADER = "Idempotent-Replayed"

_DOC = (
    "幂等键（1–255 个可见 ASCII 字符，建议用 UUID）。"
    "24 小时内用同一个键重发同样的请求，返回第一次的结果且不会重复执行；"
    "同一个键配不同的请求返回 422 IDEMPOTENCY-MISMATCH。"
)

# A record older than RETENTION that the purge has not reached yet is taken over, as if gone.
_CLAIM_SQL = """
INSERT INTO campaigns_idempotencyrecord (api_key_id, key, request_hash, status_code, body, created_at)
VALUES (%(api_key)s, %(key)s, %(hash)s, NULL, '', %(now)s)
ON CONFLICT (api_key_id, key) DO UPDATE
    SET request_hash = EXCLUDED.request_hash, status_code = NULL, body = '', created_at = EXCLUDED.created_at
    WHERE campaigns_idempotencyrecord.created_at < %(cutoff)s
RETURNING id
"""


class _NotStored(Exception):
    """Rolls back the record (and nothing else was written) when an answer is not stored."""

    def __init__(self, response: HttpResponse) -> None:
        self.response = response


def idempotent(func: Callable[..., Any]) -> Callable[..., Any]:
    """Make a POST operation honour ``Idempotency-Key`` (put it right under ``@router.post``)."""

    @wraps(func)
    def operation(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        kwargs.pop("idempotency_key", None)  # read by the guard around the whole view
        return func(request, *args, **kwargs)

    # Documents (and validates) the header on the operation in the OpenAPI schema.
    contribute_operation_args(
        operation,
        "idempotency_key",
        str | None,
        Header(None, alias=HEADER, min_length=1, max_length=MAX_KEY_LENGTH, description=_DOC),
    )
    # ninja's decorate_view wraps the operation's whole view (auth, parsing, the answer): the
    # guard sees the final response, and ninja re-applies it when the router is mounted.
    return decorate_view(_guard)(operation)


def _bad_key(raw: str) -> bool:
    return not (1 <= len(raw) <= MAX_KEY_LENGTH) or not all(" " <= ch <= "~" for ch in raw)


def request_fingerprint(request: HttpRequest) -> str:
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.get_full_path().encode(), request.body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _guard(run: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(run)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        raw = request.headers.get(HEADER)
        if raw is None:
            return run(request, *args, **kwargs)
        if _bad_key(raw):
            message = _("Idempotency-Key 须为 1–255 个可见 ASCII 字符。")
            return error_response(
                422, VALIDATION, message, errors=[{"loc": ["header", HEADER], "message": message}]
            )
        try:
            key = api_key_of(request)  # checked and counted once: ninja's auth reuses it
        except ApiError as error:
            return api_error_response(error)
        if key is None:
            return run(request, *args, **kwargs)  # answered 401 by ninja's auth
        try:
            fingerprint = request_fingerprint(request)
        except RequestDataTooBig:
            return error_response(400, BAD_REQUEST, _("请求体过大。"))
        try:
            with transaction.atomic():
                record_id = _claim(key=key, idempotency_key=raw, fingerprint=fingerprint)
                if record_id is None:
                    return _replay(key=key, idempotency_key=raw, fingerprint=fingerprint)
                with transaction.atomic():
                    response = run(request, *args, **kwargs)
                    if response.status_code >= 400:
                        # A refusal keeps nothing the operation may have written before it.
                        transaction.set_rollback(True)
                if response.status_code in NOT_STORED or response.status_code >= 500:
                    raise _NotStored(response)
                IdempotencyRecord.objects.filter(pk=record_id).update(
                    status_code=response.status_code, body=response.content.decode("utf-8")
                )
                return response
        except _NotStored as skipped:
            return skipped.response

    return guarded


def _claim(*, key: ApiKey, idempotency_key: str, fingerprint: str) -> int | None:
    """Insert the record; None if a live one exists (waits for a concurrent inserter's commit)."""
    # Hand SQL: the ORM has no INSERT .. ON CONFLICT .. RETURNING that reports whether this
    # call inserted (or took over) the row.
    with connection.cursor() as cursor:
        now = timezone.now()
        params = {"api_key": key.pk, "key": idempotency_key, "hash": fingerprint, "now": now}
        cursor.execute(_CLAIM_SQL, {**params, "cutoff": now - RETENTION})
        row = cursor.fetchone()
    return row[0] if row else None


def _replay(*, key: ApiKey, idempotency_key: str, fingerprint: str) -> HttpResponse:
    record = IdempotencyRecord.objects.get(api_key=key, key=idempotency_key)
    if record.request_hash != fingerprint:
        return error_response(
            422,
            IDEMPOTENCY_MISMATCH,
            _("这个 Idempotency-Key 已用于另一个请求（方法、路径或请求体不同）。请为新请求换一个新的键。"),
        )
    response = HttpResponse(
        record.body, status=record.status_code, content_type="application/json; charset=utf-8"
    )
    response[REPLAYED_HEADER] = "true"
    return response


def idempotency_purge(*, now: Any = None) -> int:
    """Delete records older than ``RETENTION``; return how many (a django-q2 schedule runs it)."""
    cutoff = (now or timezone.now()) - RETENTION
    deleted, _counts = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
