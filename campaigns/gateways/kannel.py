"""The Kannel gateway backend: sends through Kannel's HTTP ``sendsms`` interface.

Each message is one GET of ``/cgi-bin/sendsms`` with the text as UTF-8 sent as
UCS-2 (``charset=UTF-8&coding=2``; without the charset Kannel sends garbage,
without the coding Chinese becomes ``??``, and both still answer 202), and a
per-message ``dlr-url`` that carries our message id and an HMAC token, so the
delivery-report endpoint can tell a real callback from a forged one. Kannel's
answers map to ``SendResult``:

- 202 ``0: Accepted for delivery`` / ``3: Queued for later delivery`` (SMSC down;
  Kannel delivers it once the SMSC is back) → accepted;
- 4xx (bad receiver, coding, credentials) → refused, not retryable;
- 5xx, connection refused, timeout → retryable (the pipeline tries again later).

Requests run concurrently on a pool of keep-alive connections (``concurrency``)
and are spaced to at most ``rate`` per second across batches.

Options (``settings.SMS_GATEWAY["OPTIONS"]``, else ``default_options()`` from the
environment): ``url``, ``username``, ``password``, ``callback_base_url`` (how Kannel
reaches this app), ``service_number`` (the ``from`` address; a message's sender
code is appended as an extension), ``smsc`` (route to one smsc-id), ``rate``,
``concurrency``, ``timeout``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import httpx
from django.conf import settings

from campaigns.gateways.base import GatewayBackend, OutboundSms, SendResult

logger = logging.getLogger(__name__)

# Kannel delivery-report types (dlr-mask bits) and what they mean for a message.
DLR_DELIVERED = 1
DLR_FAILED = 2
DLR_QUEUED = 4  # buffered at the SMSC (intermediate)
DLR_ACCEPTED = 8  # the SMSC accepted the submit (intermediate)
DLR_REJECTED = 16  # the SMSC refused the submit (final)
DLR_MASK_ALL = DLR_DELIVERED | DLR_FAILED | DLR_QUEUED | DLR_ACCEPTED | DLR_REJECTED
DLR_STATUS = {
    DLR_DELIVERED: "delivered",
    DLR_FAILED: "failed",
    DLR_QUEUED: "queued",
    DLR_ACCEPTED: "accepted",
    DLR_REJECTED: "rejected",
}

CALLBACK_PREFIX = "/hooks/kannel"
# Kannel answers 202 with one of these when it took the message.
ACCEPTED_ANSWERS = ("0:", "3:")
TOKEN_LENGTH = 32



def default_options() -> dict[str, object]:
    """Options not given in ``SMS_GATEWAY["OPTIONS"]`` come from the environment (the same
    names ``scripts/kannel/start.sh`` reads), else local defaults."""
    env = os.environ.get
    port = env("KANNEL_SENDSMS_PORT", "13913")
    return {
        "url": env("KANNEL_SENDSMS_URL", f"http://127.0.0.1:{port}/cgi-bin/sendsms"),
        "username": env("KANNEL_SENDSMS_USER", "smsmarketing"),
        "password": env("KANNEL_SENDSMS_PASSWORD", "smsmarketing"),
        "callback_base_url": env("KANNEL_APP_URL", "http://127.0.0.1:8000"),
        "service_number": env("KANNEL_SERVICE_NUMBER", "10690001"),
        "smsc": env("KANNEL_SMSC_ID", ""),
        "rate": float(env("KANNEL_RATE", "200")),
        "concurrency": int(env("KANNEL_CONCURRENCY", "8")),
        "timeout": float(env("KANNEL_TIMEOUT", "10")),
    }


def _secret() -> bytes:
    """The key of callback tokens: ``KANNEL_DLR_SECRET`` (setting or environment), else derived
    from ``SECRET_KEY`` so a local checkout works without configuration."""
    configured = getattr(settings, "KANNEL_DLR_SECRET", None) or os.environ.get("KANNEL_DLR_SECRET")
    if configured:
        return configured.encode()
    return hmac.new(settings.SECRET_KEY.encode(), b"kannel-dlr-secret", hashlib.sha256).digest()


def _sign(value: str) -> str:
    return hmac.new(_secret(), value.encode(), hashlib.sha256).hexdigest()[:TOKEN_LENGTH]


def dlr_token(message_id: int) -> str:
    """The token that authenticates delivery reports of one message."""
    return _sign(f"dlr:{message_id}")


def _same(expected: str, given: str) -> bool:
    # Compare bytes: compare_digest refuses non-ASCII str (a forged token must get 403, not 500).
    return hmac.compare_digest(expected.encode(), (given or "").encode("utf-8", "surrogatepass"))


def dlr_token_valid(message_id: str, token: str) -> bool:
    # ASCII digits only: "²" is isdigit() but not int(), "١٢" would alias message 12.
    return message_id.isascii() and message_id.isdigit() and _same(dlr_token(int(message_id)), token)


def mo_token() -> str:
    """The token in the inbound (MO) get-url of Kannel's ``sms-service``."""
    return _sign("mo")


def mo_token_valid(token: str) -> bool:
    return _same(mo_token(), token)


def dlr_url(base_url: str, message_id: int) -> str:
    """The per-message ``dlr-url``; ``%d``, ``%T``, ``%A``... are filled in by Kannel."""
    query = urlencode({"id": message_id, "token": dlr_token(message_id)})
    return (
        f"{base_url.rstrip('/')}{CALLBACK_PREFIX}/dlr/?{query}"
        "&type=%d&ts=%T&smsc_status=%A&smsc_id=%i&foreign_id=%F&phone=%p"
    )


def mo_url(base_url: str) -> str:
    """The ``get-url`` of the ``sms-service`` that hands replies from handsets to the app."""
    query = urlencode({"token": mo_token()})
    return (
        f"{base_url.rstrip('/')}{CALLBACK_PREFIX}/mo/?{query}"
        "&from=%p&to=%P&text=%a&coding=%c&charset=%C&ts=%T&smsc_id=%i&kannel_id=%I"
    )


class _RateLimiter:
    """Spaces request starts at least 1/rate seconds apart, across threads."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


# Errors raised before the request could reach Kannel: retrying them never duplicates.
NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class KannelBackend(GatewayBackend):
    def __init__(self, **options: object) -> None:
        super().__init__(**{**default_options(), **options})
        o = self.options
        self.url = str(o["url"])
        self.callback_base_url = str(o["callback_base_url"])
        self.concurrency = max(1, int(o["concurrency"]))
        self._limiter = _RateLimiter(float(o["rate"]))
        self._client: httpx.Client | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _client_and_pool(self) -> tuple[httpx.Client, ThreadPoolExecutor]:
        with self._lock:
            if self._client is None:
                limits = httpx.Limits(
                    max_connections=self.concurrency, max_keepalive_connections=self.concurrency
                )
                self._client = httpx.Client(timeout=float(self.options["timeout"]), limits=limits)
                self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="kannel-send")
            return self._client, self._pool

    def params(self, sms: OutboundSms) -> dict[str, str]:
        """The sendsms query of one message (httpx URL-encodes each value, the dlr-url too)."""
        params = {
            "username": str(self.options["username"]),
            "password": str(self.options["password"]),
            "to": sms.phone,
            "from": f"{self.options['service_number']}{sms.sender or ''}",
            "text": sms.text,
            "charset": "UTF-8",
            "coding": "2",
            "dlr-mask": str(DLR_MASK_ALL),
            "dlr-url": dlr_url(self.callback_base_url, sms.message_id),
        }
        if self.options["smsc"]:
            params["smsc"] = str(self.options["smsc"])
        return params

    def send_batch(self, messages: Sequence[OutboundSms]) -> list[SendResult]:
        client, pool = self._client_and_pool()
        return list(pool.map(lambda sms: self._send_one(client, sms), messages))

    def _send_one(self, client: httpx.Client, sms: OutboundSms) -> SendResult:
        # Kannel accepts a missing or empty text and sends an empty SMS; never let one out.
        if not sms.text or not sms.text.strip():
            return SendResult(sms.message_id, accepted=False, retryable=False, error="empty text")
        if not sms.phone:
            return SendResult(sms.message_id, accepted=False, retryable=False, error="empty receiver")
        self._limiter.wait()
        try:
            response = client.get(self.url, params=self.params(sms))
        except NOT_SENT_ERRORS as exc:
            # The request never reached Kannel (refused, no connection in time): safe to retry.
            logger.warning("kannel: unreachable sending message %s: %s", sms.message_id, exc)
            return SendResult(sms.message_id, accepted=False, retryable=True, error=f"unreachable: {exc}")
        except httpx.TransportError as exc:
            # The request went out but no answer came back (read timeout, connection dropped):
            # Kannel may have queued it, so sending it again could reach the phone twice. It
            # counts as handed over; its delivery report settles it, or without one the
            # 72-hour sweep fails it (NO-REPORT) and refunds its parts.
            logger.warning("kannel: no answer for message %s, not resent: %s", sms.message_id, exc)
            return SendResult(sms.message_id, accepted=True, error=f"no answer: {exc}")
        answer = response.text.strip()
        if response.status_code in (200, 202) and answer.startswith(ACCEPTED_ANSWERS):
            return SendResult(sms.message_id, accepted=True)
        error = f"{response.status_code} {answer}"[:500]
        if 400 <= response.status_code < 500:
            logger.warning("kannel: refused message %s: %s", sms.message_id, error)
            return SendResult(sms.message_id, accepted=False, retryable=False, error=error)
        logger.warning("kannel: error sending message %s: %s", sms.message_id, error)
        return SendResult(sms.message_id, accepted=False, retryable=True, error=error)

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
            if self._client is not None:
                self._client.close()
                self._client = None
