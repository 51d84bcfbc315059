"""Kannel's callbacks: delivery reports (``dlr-url``) and replies from handsets (``get-url``).

Both are plain GETs from Kannel's smsbox, authenticated by a token in the URL:
the delivery report by an HMAC of our message id (``campaigns.gateways.kannel.dlr_token``),
the inbound URL by a fixed HMAC (``mo_token``). A call without a valid token
changes nothing, is logged, and gets 403. Any other answer than 2xx makes Kannel
retry (``http-request-retry``), so a report we cannot parse gets 400 (logged) and
a database failure 500 (retried).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from campaigns.gateways.kannel import DLR_STATUS, dlr_token_valid, mo_token_valid
from campaigns.services.delivery import delivery_report_apply
from campaigns.services.inbound import inbound_receive
from smsmarketing.security import callback_guard

logger = logging.getLogger(__name__)

UCS2_CODING = "2"  # Kannel's %c for UCS-2


def _client(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "?")


def _text(value: str) -> str:
    """PostgreSQL text and jsonb cannot hold NUL: an SMSC's stray NUL must not make every
    retry of a callback fail (Kannel would retry it forever)."""
    return value.replace("\x00", "")


def _timestamp(value: str | None) -> datetime:
    """Kannel's %T (unix seconds), else now."""
    try:
        return datetime.fromtimestamp(int(value or ""), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return timezone.now()


@csrf_exempt
@callback_guard("kannel dlr")
@require_GET
def kannel_dlr(request: HttpRequest) -> HttpResponse:
    message_id = request.GET.get("id", "")
    if not dlr_token_valid(message_id, request.GET.get("token", "")):
        logger.warning(
            "kannel dlr: refused a call without a valid token from %s: id=%r", _client(request), message_id
        )
        return HttpResponse("forbidden", status=403, content_type="text/plain")
    try:
        status = DLR_STATUS[int(request.GET.get("type", ""))]
    except (KeyError, ValueError):
        logger.warning("kannel dlr: unknown type %r for message %s", request.GET.get("type"), message_id)
        return HttpResponse("unknown type", status=400, content_type="text/plain")
    raw = {_text(key): _text(value) for key, value in request.GET.items() if key != "token"}
    applied = delivery_report_apply(
        message_id=int(message_id), status=status, at=_timestamp(request.GET.get("ts")), raw=raw
    )
    return HttpResponse("applied" if applied else "ignored", content_type="text/plain")


def _mo_params(request: HttpRequest) -> dict[str, str]:
    """The query, decoded by hand: the text is UTF-8 after Kannel's ``mo-recode``, but a
    UCS-2 message that was not recoded arrives as raw UTF-16BE bytes."""
    pairs = dict(parse_qsl(request.META.get("QUERY_STRING", ""), keep_blank_values=True, encoding="latin-1"))
    params = {
        _text(key): _text(value.encode("latin-1").decode("utf-8", errors="replace"))
        for key, value in pairs.items()
    }
    text = pairs.get("text", "").encode("latin-1")
    if params.get("coding") == UCS2_CODING and params.get("charset", "").upper() not in ("UTF-8", "UTF8"):
        params["text"] = _text(text.decode("utf-16-be", errors="replace"))
    return params


@csrf_exempt
@callback_guard("kannel mo")
@require_GET
def kannel_mo(request: HttpRequest) -> HttpResponse:
    params = _mo_params(request)
    if not mo_token_valid(params.get("token", "")):
        logger.warning("kannel mo: refused a call without a valid token from %s", _client(request))
        return HttpResponse("forbidden", status=403, content_type="text/plain")
    if not params.get("from"):
        logger.warning("kannel mo: a call without a sender: %s", request.META.get("QUERY_STRING", "")[:200])
        return HttpResponse("no sender", status=400, content_type="text/plain")
    inbound_receive(
        sender=params["from"],
        receiver=params.get("to", ""),
        text=params.get("text", ""),
        kannel_id=params.get("kannel_id", ""),
        sent_at=_timestamp(params.get("ts")),
        raw={key: value for key, value in params.items() if key != "token"},
    )
    # An empty body: nothing is sent back to the handset (the sms-service has max-messages 0 too).
    return HttpResponse("", content_type="text/plain")
