"""Small security helpers shared by the login throttle and the gateway callbacks.

``client_ip`` is the address a request came from, trusting ``X-Forwarded-For`` only
as far as ``TRUSTED_PROXY_COUNT`` proxies we run ourselves (a client can write any
value into that header, so the leftmost entries are never trusted).

``rate_limit_hit`` counts calls per key in fixed one-minute windows in PostgreSQL, so
every web process on every host shares the same counts (a per-process cache would let
N processes take N times the limit). One ``INSERT … ON CONFLICT DO UPDATE … RETURNING``
per call: atomic under concurrency, no read-modify-write.

The gateway callbacks count with ``durable=False``: the increment commits without waiting
for the WAL flush (``smsmarketing.db.commit_without_flush``). Every callback of one client
address updates the same counter row, and the row lock is held until the commit: with a
durable commit the callbacks queued on that lock one WAL flush each (~150 reports/s here).
A lost increment (the last fraction of a second before a database crash) only lets a client
make a few more calls.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime
from functools import wraps

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from smsmarketing.db import commit_without_flush

logger = logging.getLogger(__name__)

RATE_WINDOW_SECONDS = 60
# A callback answered with one of these was refused (bad token, malformed): it counts
# toward the client's refused-call limit.
REFUSED_STATUSES = frozenset({400, 403, 404, 405})


def client_ip(request: HttpRequest) -> str:
    remote = request.META.get("REMOTE_ADDR", "") or ""
    trusted = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if trusted <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    # Each trusted proxy appended the address it saw: the client is `trusted` from the right.
    if len(forwarded) >= trusted:
        return forwarded[-trusted]
    return remote


def ip_allowed(address: str, networks: list[str]) -> bool:
    """True if ``networks`` is empty or ``address`` lies in one of them."""
    if not networks:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in networks)


def _window(now: datetime, seconds: int = RATE_WINDOW_SECONDS) -> datetime:
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=now.tzinfo)


def rate_limit_count(
    key: str, *, now: datetime | None = None, window_seconds: int = RATE_WINDOW_SECONDS
) -> int:
    """Calls counted for ``key`` in the current window (no write)."""
    window = _window(now or timezone.now(), window_seconds)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT hits FROM smsmarketing_ratelimitcounter WHERE key = %s AND window_start = %s",
            [key[:200], window],
        )
        row = cursor.fetchone()
    return row[0] if row else 0


_HIT_SQL = """
WITH other AS (
    SELECT coalesce(max(hits), 0) AS hits FROM smsmarketing_ratelimitcounter
    WHERE key = %(other)s AND window_start = %(window)s),
hit AS (
    INSERT INTO smsmarketing_ratelimitcounter (key, window_start, hits)
    SELECT %(key)s, %(window)s, 1 FROM other
    WHERE other.hits < %(other_limit)s
    ON CONFLICT (key, window_start) DO UPDATE SET hits = smsmarketing_ratelimitcounter.hits + 1
    RETURNING hits)
SELECT coalesce((SELECT hits FROM hit), 0)
"""


def rate_limit_hit(
    key: str,
    *,
    now: datetime | None = None,
    window_seconds: int = RATE_WINDOW_SECONDS,
    durable: bool = True,
    unless: tuple[str, int] | None = None,
) -> int:
    """Count one call for ``key`` in the current window (of ``window_seconds``, aligned to the
    epoch); return the count including it. Use one window size per key.

    ``unless=(other_key, limit)``: count nothing and return 0 if ``other_key`` already has
    ``limit`` calls in its window of the same size (read in the same statement).
    ``durable=False``: outside a transaction, the increment's commit does not wait for the
    WAL flush, so the counter row's lock is released at once (see the module docstring).
    Inside a caller's transaction it is durable anyway: the setting would cover the caller's
    writes too."""
    window = _window(now or timezone.now(), window_seconds)
    # Without ``unless``: no key is empty, and no count reaches the largest integer.
    other, other_limit = unless if unless is not None else ("", 2**31 - 1)
    # Race: two processes counting the first call of a window at once; ON CONFLICT makes the
    # second one increment the row the first inserted. The row stays locked by the increment
    # until its transaction commits.
    with nullcontext() if durable else commit_without_flush(), connection.cursor() as cursor:
        cursor.execute(
            _HIT_SQL,
            {
                "key": key[:200],
                "window": window,
                "other": other[:200],
                "other_limit": other_limit,
            },
        )
        hits = cursor.fetchone()[0]
    if hits == 1:
        # First call of a new window: drop this key's old windows (rows stay bounded).
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM smsmarketing_ratelimitcounter WHERE key = %s AND window_start < %s",
                [key[:200], window],
            )
    return hits


def login_locked_out(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """django-axes' lockout answer: a Chinese page, 429, nothing about whether the user exists."""
    minutes = max(1, int(settings.AXES_COOLOFF_TIME.total_seconds() // 60))
    message = _(
        "密码错误次数过多（连续 {limit} 次），该账号在此网络下的登录已被锁定，请 {minutes} 分钟后再试。"
        "如忘记密码，请联系平台运营重置。"
    ).format(limit=settings.AXES_FAILURE_LIMIT, minutes=minutes)
    return render(request, "registration/locked_out.html", {"message": message}, status=429)


def callback_guard(name: str) -> Callable:
    """Guard a gateway callback view: source network, then per-client rate limits.

    Order matters: a client over its refused-call limit (someone guessing tokens) is
    answered 429 before its token is even checked; every call counts toward the overall
    limit (a flood, even with a stolen token); the view's own refusals (403 bad token,
    400 malformed) count toward the refused limit. Nothing is written by a refused call
    except its counter. Kannel retries a non-2xx answer, so a 429 loses no report.
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            ip = client_ip(request)
            if not ip_allowed(ip, settings.SMS_CALLBACK_ALLOWED_NETS):
                logger.warning("%s: refused a call from %s, outside SMS_CALLBACK_ALLOWED_NETS", name, ip)
                return HttpResponse("forbidden", status=403, content_type="text/plain")
            # One statement: the refused-call count is read and, below its limit, the
            # call counted (not durably: see the module docstring).
            hits = rate_limit_hit(
                f"callback:{ip}",
                durable=False,
                unless=(f"callback-refused:{ip}", settings.SMS_CALLBACK_REFUSED_RATE),
            )
            if hits == 0:
                logger.warning("%s: %s is over its refused-call limit; answered 429", name, ip)
                return _too_many()
            if hits > settings.SMS_CALLBACK_RATE:
                logger.warning("%s: %s is over its call rate; answered 429", name, ip)
                return _too_many()
            response = view(request, *args, **kwargs)
            if response.status_code in REFUSED_STATUSES:
                rate_limit_hit(f"callback-refused:{ip}")
            return response

        return wrapper

    return decorator


def _too_many() -> HttpResponse:
    response = HttpResponse("too many requests", status=429, content_type="text/plain")
    response["Retry-After"] = str(RATE_WINDOW_SECONDS)
    return response
