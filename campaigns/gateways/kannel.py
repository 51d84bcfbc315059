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

Requests run concurrently, ``concurrency`` worker threads each holding one keep-alive
``http.client`` connection (stdlib: a third of httpx's CPU per request, which bounds the
rate on a small machine), and are spaced to at most ``rate`` per second across batches.
The query's shared part is encoded once; per message only receiver, text and dlr-url.

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
import select
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection, HTTPException, HTTPSConnection
from urllib.parse import quote_plus, urlencode, urlsplit

from django.conf import settings

from campaigns.gateways.base import GatewayBackend, OutboundSms, PendingBatch, SendResult

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
QUOTE_CACHE_SIZE = 4096  # encoded texts kept per backend (one dispatch run)


def default_options() -> dict[str, object]:
    """Options not given in ``SMS_GATEWAY["OPTIONS"]``: ``settings.KANNEL``, read from the
    environment (the same names ``scripts/kannel/start.sh`` reads)."""
    return dict(settings.KANNEL)


def _secret() -> bytes:
    """The key of callback tokens: ``KANNEL_DLR_SECRET``, else derived from ``SECRET_KEY`` so a
    local checkout works without configuration."""
    if settings.KANNEL_DLR_SECRET:
        return settings.KANNEL_DLR_SECRET.encode()
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


class _Unreachable(Exception):
    """The request never reached Kannel (refused, no connection in time): retrying never duplicates."""


class _Connection:
    """One keep-alive ``http.client`` connection to Kannel, used by one worker at a time."""

    def __init__(self, factory, host: str, port: int | None, timeout: float) -> None:
        self._conn = factory(host, port, timeout=timeout)

    def _usable(self) -> bool:
        sock = self._conn.sock
        if sock is None:
            return False
        # An idle keep-alive connection Kannel closed (or that holds stray bytes) reads as
        # ready: drop it before sending, as httpcore does, instead of writing into it.
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return not poller.poll(0)

    def get(self, target: str) -> tuple[int, str]:
        """GET ``target``; (status, body). Raises ``_Unreachable`` when no connection could be
        opened (nothing was sent), any other ``OSError``/``HTTPException`` once it may have been."""
        if not self._usable():
            self._conn.close()
            try:
                self._conn.connect()
            except OSError as exc:
                self._conn.close()
                raise _Unreachable(str(exc) or type(exc).__name__) from exc
        try:
            self._conn.request("GET", target)
            response = self._conn.getresponse()
            body = response.read()
        except BaseException:
            self._conn.close()
            raise
        return response.status, body.decode("utf-8", "replace")

    def close(self) -> None:
        self._conn.close()


class _Batch(PendingBatch):
    """A batch being handed over by the worker threads; ``results()`` waits for the last answer."""

    def __init__(self, messages: Sequence[OutboundSms]) -> None:
        self.messages = messages
        self._results: list[SendResult | None] = [None] * len(messages)
        self._left = len(messages)
        self._error: BaseException | None = None
        self._done = threading.Event()
        if not messages:
            self._done.set()

    def _set(self, index: int, result: SendResult | None, error: BaseException | None, lock) -> None:
        self._results[index] = result
        with lock:
            if error is not None and self._error is None:
                self._error = error
            self._left -= 1
            if self._left == 0:
                self._done.set()

    def results(self) -> list[SendResult]:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._results  # type: ignore[return-value]


class KannelBackend(GatewayBackend):
    # Submitted batches are sent by worker threads that touch no database, so the pipeline
    # may claim and record other batches while one is on the wire (``submit_batch``).
    overlaps_dispatch = True

    def __init__(self, **options: object) -> None:
        super().__init__(**{**default_options(), **options})
        o = self.options
        self.url = str(o["url"])
        self.callback_base_url = str(o["callback_base_url"])
        self.concurrency = max(1, int(o["concurrency"]))
        self.timeout = float(o["timeout"])
        self._limiter = _RateLimiter(float(o["rate"]))
        parts = urlsplit(self.url)
        self._factory = {"http": HTTPConnection, "https": HTTPSConnection}.get(parts.scheme)
        self._host, self._port = parts.hostname or "", parts.port
        self._path = parts.path or "/"
        # The parts of the query every message shares, encoded once (``_target`` adds the rest).
        self._path_and_common = f"{self._path}?{parts.query + '&' if parts.query else ''}" + urlencode(
            {"username": str(o["username"]), "password": str(o["password"])}
        )
        self._tail = urlencode(
            {"charset": "UTF-8", "coding": "2", "dlr-mask": str(DLR_MASK_ALL)}
            | ({"smsc": str(o["smsc"])} if o["smsc"] else {})
        )
        self._from_prefix = str(o["service_number"])
        # The dlr-url around the message id and token, URL-encoded once: quote_plus works
        # character by character, so encoding the pieces equals encoding the whole URL.
        dlr_head, dlr_tail = dlr_url(self.callback_base_url, 0).split("?", 1)
        self._dlr_head = quote_plus(f"{dlr_head}?id=")
        self._dlr_token = quote_plus("&token=")
        self._dlr_tail = quote_plus("&" + dlr_tail.split("&", 2)[2])  # after "id=0&token=…"
        self._mac = hmac.new(_secret(), digestmod=hashlib.sha256)  # copied per message
        # Encoded texts and senders: a campaign's messages mostly share one text.
        self._quoted: dict[str, str] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._idle: list[_Connection] = []  # kept-alive connections not in use, at most concurrency
        self.connections_opened = 0  # connection objects made so far (keep-alive reuse is visible)
        self._lock = threading.Lock()
        # Work of all submitted batches, in order; ``_workers`` threads drain it (at most concurrency).
        self._work: deque[tuple[_Batch, int]] = deque()
        self._workers = 0

    def params(self, sms: OutboundSms) -> dict[str, str]:
        """The sendsms query of one message (each value URL-encoded, the dlr-url too)."""
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

    def _quote(self, value: str) -> str:
        quoted = self._quoted.get(value)
        if quoted is None:
            if len(self._quoted) >= QUOTE_CACHE_SIZE:
                self._quoted.clear()
            quoted = self._quoted[value] = quote_plus(value)
        return quoted

    def _target(self, sms: OutboundSms) -> str:
        """Path and query of one message's GET: the same query as ``params`` encodes to
        (``tests/gateway/test_kannel_backend.py`` compares them)."""
        mac = self._mac.copy()
        mac.update(b"dlr:%d" % sms.message_id)
        phone = sms.phone if sms.phone.isdigit() else quote_plus(sms.phone)
        return (
            f"{self._path_and_common}&to={phone}"
            f"&from={self._quote(self._from_prefix + (sms.sender or ''))}"
            f"&text={self._quote(sms.text)}&{self._tail}"
            f"&dlr-url={self._dlr_head}{sms.message_id}{self._dlr_token}"
            f"{mac.hexdigest()[:TOKEN_LENGTH]}{self._dlr_tail}"
        )

    def _checkout(self) -> _Connection | None:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            if self._factory is None:
                return None
            self.connections_opened += 1
        return _Connection(self._factory, self._host, self._port, self.timeout)

    def _checkin(self, conn: _Connection | None) -> None:
        if conn is None:
            return
        with self._lock:
            if self._pool is not None and len(self._idle) < self.concurrency:
                self._idle.append(conn)
                return
        conn.close()

    def send_batch(self, messages: Sequence[OutboundSms]) -> list[SendResult]:
        return self.submit_batch(messages).results()

    def submit_batch(self, messages: Sequence[OutboundSms]) -> PendingBatch:
        """Queue a batch behind the ones already submitted and return at once.

        At most ``concurrency`` worker threads drain the queue, each holding one keep-alive
        connection and taking the next message until none is left, so at most
        ``concurrency`` requests are in flight, each on its own connection, and a worker
        goes from the last message of one batch straight to the first of the next."""
        batch = _Batch(messages)
        if not messages:
            return batch
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="kannel-send")
            self._work.extend((batch, i) for i in range(len(messages)))
            # Race: a worker that found the queue empty has already left (it decremented
            # ``_workers`` under this lock), so it is replaced here, never counted twice.
            start = min(self.concurrency - self._workers, len(messages))
            self._workers += start
            pool = self._pool
        for _ in range(start):
            pool.submit(self._drain)
        return batch

    def _drain(self) -> None:
        conn = self._checkout()
        try:
            while True:
                with self._lock:
                    if not self._work:
                        self._workers -= 1
                        return
                    batch, index = self._work.popleft()
                try:
                    result, error = self._send_one(conn, batch.messages[index]), None
                except BaseException as exc:  # a bug, not an answer: re-raised by results()
                    result, error = None, exc
                batch._set(index, result, error, self._lock)
        finally:
            self._checkin(conn)

    def _send_one(self, conn: _Connection | None, sms: OutboundSms) -> SendResult:
        # Kannel accepts a missing or empty text and sends an empty SMS; never let one out.
        if not sms.text or not sms.text.strip():
            return SendResult(sms.message_id, accepted=False, retryable=False, error="empty text")
        if not sms.phone:
            return SendResult(sms.message_id, accepted=False, retryable=False, error="empty receiver")
        self._limiter.wait()
        try:
            if conn is None:
                raise _Unreachable(f"unsupported URL scheme: {self.url!r}")
            status, body = conn.get(self._target(sms))
        except _Unreachable as exc:
            # The request never reached Kannel (refused, no connection in time): safe to retry.
            logger.warning("kannel: unreachable sending message %s: %s", sms.message_id, exc)
            return SendResult(sms.message_id, accepted=False, retryable=True, error=f"unreachable: {exc}")
        except (OSError, HTTPException) as exc:
            # The request went out but no answer came back (read timeout, connection dropped):
            # Kannel may have queued it, so sending it again could reach the phone twice. It
            # counts as handed over; its delivery report settles it, or without one the
            # 72-hour sweep fails it (NO-REPORT) and refunds its parts.
            exc_text = str(exc) or type(exc).__name__
            logger.warning("kannel: no answer for message %s, not resent: %s", sms.message_id, exc_text)
            return SendResult(sms.message_id, accepted=True, error=f"no answer: {exc_text}")
        answer = body.strip()
        if status in (200, 202) and answer.startswith(ACCEPTED_ANSWERS):
            return SendResult(sms.message_id, accepted=True)
        error = f"{status} {answer}"[:500]
        if 400 <= status < 500:
            logger.warning("kannel: refused message %s: %s", sms.message_id, error)
            return SendResult(sms.message_id, accepted=False, retryable=False, error=error)
        logger.warning("kannel: error sending message %s: %s", sms.message_id, error)
        return SendResult(sms.message_id, accepted=False, retryable=True, error=error)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
