"""Webhooks: a shop's endpoints, the events they receive, and their signed, retried delivery.

Emission is an outbox. The service that changes state writes the ``WebhookEvent`` and one
``WebhookDelivery`` per subscribed endpoint in its own transaction (settlement for
``message.delivered``/``message.failed``, ``link_follow`` for ``link.clicked``,
``optout_record`` for ``optout.created``, a run's end for ``campaign.finished``), so an event
exists exactly when its state change committed. A shop without a live endpoint subscribed to the
type pays one indexed probe (``webhook_endpoint_live``) and writes nothing.

Delivery is at least once: ``webhook_deliveries_run`` (the django-q2 task enqueued after the
commit, and a sweeper every minute) claims due deliveries with ``FOR UPDATE SKIP LOCKED`` and a
lease, POSTs ``{id, type, created_at, data}`` signed with ``X-Signature: t=<unix>,v1=<hex>``
(HMAC-SHA256 of ``f"{t}.{body}"`` under the endpoint's secret), and records every attempt. A
failure is retried with exponential back-off until 24 hours after the event; then the delivery
fails, the endpoint is marked failing and the shop's owners are told (portal notice, e-mail).

URLs (SSRF): HTTPS only (plain HTTP with ``settings.WEBHOOKS_ALLOW_HTTP``, DEBUG); the host is
resolved and every address must be public unless ``settings.WEBHOOKS_ALLOW_PRIVATE``; checked at
registration and again at each delivery, which connects to the address it checked (a DNS answer
that changes in between — rebinding — is never used).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import secrets
import socket
import ssl
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django_q.tasks import async_task

from campaigns.models.sending import Message
from campaigns.models.webhooks import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookEventType,
)
from smsmarketing.errors import SmsError
from smsmarketing.models import Membership, Shop
from smsmarketing.permissions import Capability, require_capability
from smsmarketing.services import shop_ensure_sms_allowed

logger = logging.getLogger(__name__)

DELIVER_TASK = "campaigns.tasks.deliver_webhooks"
SECRET_PREFIX = "whsec_"
SIGNATURE_HEADER = "X-Signature"
# One POST: connect and each read wait at most this long (a slow receiver must not hold a worker).
TIMEOUT_SECONDS = 5
# Retries: 30 s, 1 min, 2 min … doubling up to 6 h between tries, until 24 h after the event.
BACKOFF_FIRST = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=6)
RETRY_WINDOW = timedelta(hours=24)
# Deliveries claimed at once, and how long a claim keeps them from other workers (more than
# CLAIM_BATCH posts at their worst, so a live worker never loses its claim; a dead one's
# deliveries come back after it).
CLAIM_BATCH = 10
CLAIM_LEASE = timedelta(seconds=CLAIM_BATCH * 2 * TIMEOUT_SECONDS + 60)
MAX_ENDPOINTS_PER_SHOP = 10
# Events (with their deliveries and attempts) are kept this long, then purged daily; one still
# pending (resent late) is kept until it is final.
EVENT_RETENTION = timedelta(days=30)
PURGE_BATCH = 5000
URL_MAX_LENGTH = 500
# How much of a receiver's answer is kept on the attempt (error text) and read at most.
ERROR_MAX_LENGTH = 300
RESPONSE_READ_LIMIT = 4096
USER_AGENT = "smsmarketing-webhooks/1"

WEBHOOK_URL = "WEBHOOK-URL"
WEBHOOK_EVENTS = "WEBHOOK-EVENTS"
WEBHOOK_LIMIT = "WEBHOOK-LIMIT"
MESSAGE_TYPES = [WebhookEventType.MESSAGE_DELIVERED.value, WebhookEventType.MESSAGE_FAILED.value]


class WebhookUrlRefused(SmsError):
    rule = WEBHOOK_URL


@dataclass(frozen=True)
class PostResult:
    status_code: int | None
    error: str
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


# --- signing ------------------------------------------------------------------------


def webhook_secret_new() -> str:
    return SECRET_PREFIX + secrets.token_hex(24)


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Signature`` value: ``t=<unix>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def webhook_body(event: WebhookEvent) -> bytes:
    """The JSON posted for an event (the same bytes on every attempt)."""
    payload = {
        "id": event.id,
        "type": event.type,
        "created_at": timezone.localtime(event.created_at).isoformat(),
        "data": event.data,
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


# --- URL rules (SSRF) --------------------------------------------------------------------


def _address_allowed(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _addresses_checked(host: str, port: int) -> list[str]:
    """The host's addresses, each one allowed; ``WebhookUrlRefused`` if it does not resolve or
    any address is private, loopback, link-local or otherwise not public."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise WebhookUrlRefused(_("无法解析接收地址的域名“{host}”。").format(host=host)) from exc
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise WebhookUrlRefused(_("无法解析接收地址的域名“{host}”。").format(host=host))
    if not settings.WEBHOOKS_ALLOW_PRIVATE and not all(_address_allowed(a) for a in addresses):
        raise WebhookUrlRefused(_("接收地址不能指向内网、本机或保留地址。"))
    return addresses


def _url_parts(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an allowed URL, or ``WebhookUrlRefused``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookUrlRefused(_("接收地址不是有效的网址。")) from exc
    allowed_schemes = ("https", "http") if settings.WEBHOOKS_ALLOW_HTTP or settings.DEBUG else ("https",)
    if parts.scheme not in allowed_schemes:
        raise WebhookUrlRefused(_("接收地址必须以 https:// 开头。"))
    if not parts.hostname:
        raise WebhookUrlRefused(_("接收地址缺少域名。"))
    if parts.username is not None or parts.password is not None:
        raise WebhookUrlRefused(_("接收地址不能包含用户名或密码。"))
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def webhook_url_check(*, url: str) -> str:
    """The cleaned URL, or ``WebhookUrlRefused`` with the reason in Chinese."""
    url = (url or "").strip()
    if not url:
        raise WebhookUrlRefused(_("请填写接收地址。"))
    if len(url) > URL_MAX_LENGTH:
        raise WebhookUrlRefused(_("接收地址不能超过 {n} 个字符。").format(n=URL_MAX_LENGTH))
    _scheme, host, port = _url_parts(url)
    _addresses_checked(host, port)
    return url


# --- endpoints -------------------------------------------------------------------------------


def _ensure_owner(*, shop: Shop | int, user: AbstractBaseUser | None) -> None:
    """Webhooks are the shop's integrations: its owner's (``RoleRequired`` naming 店主 otherwise)."""
    require_capability(shop=shop, user=user, capability=Capability.INTEGRATIONS)


def _events_checked(events: list[str]) -> list[str]:
    known = set(WebhookEventType.values)
    chosen = list(dict.fromkeys(events or []))
    if not chosen:
        raise SmsError(_("请至少选择一种事件。"), rule=WEBHOOK_EVENTS)
    unknown = [event for event in chosen if event not in known]
    if unknown:
        raise SmsError(_("未知的事件类型：{events}。").format(events="、".join(unknown)), rule=WEBHOOK_EVENTS)
    return [event for event in WebhookEventType.values if event in chosen]


def webhook_endpoint_create(
    *, shop: Shop, user: AbstractBaseUser | None, url: str, events: list[str], description: str = ""
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its secret (shown to the merchant this once)."""
    _ensure_owner(shop=shop, user=user)
    shop_ensure_sms_allowed(shop=shop)
    chosen = _events_checked(events)
    url = webhook_url_check(url=url)
    with transaction.atomic():
        # Race: two registrations at once both under the limit; the shop row lock serialises them.
        Shop.objects.select_for_update().filter(pk=shop.pk).first()
        if WebhookEndpoint.objects.filter(shop=shop).count() >= MAX_ENDPOINTS_PER_SHOP:
            raise SmsError(
                _("每个店铺最多 {n} 个接收地址。").format(n=MAX_ENDPOINTS_PER_SHOP), rule=WEBHOOK_LIMIT
            )
        secret = webhook_secret_new()
        endpoint = WebhookEndpoint.objects.create(
            shop=shop,
            url=url,
            events=chosen,
            description=(description or "").strip()[:100],
            secret=secret,
            created_by=user,
        )
    return endpoint, secret


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, user: AbstractBaseUser | None) -> None:
    """Delete an endpoint with its deliveries and their attempts (its events stay for the others)."""
    _ensure_owner(shop=endpoint.shop_id, user=user)
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).delete()


def webhook_delivery_resend(
    *, delivery: WebhookDelivery, user: AbstractBaseUser | None, now: datetime | None = None
) -> WebhookDelivery:
    """Post a delivery again now (a merchant's 重新发送): pending, due at once, with a fresh 24 h
    window; the receiver gets the same event id, so it can tell a repeat."""
    _ensure_owner(shop=delivery.endpoint.shop, user=user)
    now = now or timezone.now()
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDelivery.Status.PENDING, next_attempt_at=now, give_up_at=now + RETRY_WINDOW
        )
        _enqueue_delivery()
    delivery.refresh_from_db()
    return delivery


# --- emission (the outbox) -----------------------------------------------------------------


def _enqueue_delivery() -> None:
    """After the commit, a task posts what is due (the sweeper would, within a minute)."""
    transaction.on_commit(lambda: async_task(DELIVER_TASK))


def _event_id() -> str:
    return "evt_" + uuid.uuid4().hex


def webhook_event_emit(*, shop_id: int, type: str, data: dict, now: datetime | None = None) -> str | None:
    """Write one event and its deliveries in the caller's transaction; the event id, or None
    when no live endpoint of the shop subscribes to ``type`` (nothing written then)."""
    endpoints = list(
        WebhookEndpoint.objects.filter(
            shop_id=shop_id, status__in=WebhookEndpoint.LIVE, events__contains=[type]
        ).values_list("pk", flat=True)
    )
    if not endpoints:
        return None
    now = now or timezone.now()
    with transaction.atomic():
        event = WebhookEvent.objects.create(
            id=_event_id(), shop_id=shop_id, type=type, data=data, created_at=now
        )
        WebhookDelivery.objects.bulk_create(
            WebhookDelivery(
                event=event,
                endpoint_id=endpoint_id,
                next_attempt_at=now,
                give_up_at=now + RETRY_WINDOW,
                created_at=now,
            )
            for endpoint_id in endpoints
        )
        _enqueue_delivery()
    return event.id


# The deliveries of events just inserted by a CTE named ``events`` (id, shop_id, type): one per
# live endpoint of the event's shop subscribed to its type.
_DELIVERIES_SQL = f"""
    INSERT INTO {WebhookDelivery._meta.db_table}
        (event_id, endpoint_id, status, attempts, next_attempt_at, give_up_at, last_error, created_at)
    SELECT events.id, endpoint.id, 'pending', 0, %(now)s, %(give_up)s, '', %(now)s
    FROM events JOIN {WebhookEndpoint._meta.db_table} endpoint
      ON endpoint.shop_id = events.shop_id AND endpoint.status IN ('active', 'failing')
     AND events.type = ANY(endpoint.events)
"""
# Set-based (hand SQL for the pipeline): one event per final message of a subscribed shop.
_MESSAGE_EVENTS_SQL = f"""
    WITH events AS (
        INSERT INTO {WebhookEvent._meta.db_table} (id, shop_id, type, data, created_at)
        SELECT 'evt_' || replace(gen_random_uuid()::text, '-', ''), m.shop_id, kind.type,
               jsonb_build_object(
                   'message_id', m.id, 'campaign_id', m.campaign_id, 'run_id', m.run_id,
                   'phone', m.phone, 'status', m.status, 'reason', m.reason, 'parts', m.parts,
                   'sent_at', m.sent_at, 'final_at', m.final_at),
               %(now)s
        FROM {Message._meta.db_table} m
        CROSS JOIN LATERAL (SELECT CASE WHEN m.status = 'delivered'
                                        THEN 'message.delivered' ELSE 'message.failed' END AS type) kind
        WHERE m.id = ANY(%(ids)s) AND m.shop_id = ANY(%(shops)s)
          AND EXISTS (SELECT 1 FROM {WebhookEndpoint._meta.db_table} endpoint
                      WHERE endpoint.shop_id = m.shop_id AND endpoint.status IN ('active', 'failing')
                        AND kind.type = ANY(endpoint.events))
        RETURNING id, shop_id, type
    )
    {_DELIVERIES_SQL}
"""


def webhook_events_emit_messages(
    *, message_ids: list[int], shop_ids: set[int], now: datetime | None = None
) -> int:
    """``message.delivered`` / ``message.failed`` for final messages, in the caller's transaction
    (settlement: each final message is settled once, so it has one event). Returns how many
    deliveries were written. Cost without a subscribed endpoint: one indexed query."""
    subscribed = list(
        WebhookEndpoint.objects.filter(
            shop_id__in=shop_ids, status__in=WebhookEndpoint.LIVE, events__overlap=MESSAGE_TYPES
        )
        .values_list("shop_id", flat=True)
        .distinct()
    )
    if not subscribed or not message_ids:
        return 0
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _MESSAGE_EVENTS_SQL,
            {"ids": list(message_ids), "shops": subscribed, "now": now, "give_up": now + RETRY_WINDOW},
        )
        written = cursor.rowcount
    if written:
        _enqueue_delivery()
    return written


def link_clicked_sql(*, message_cte: str, click_cte: str) -> str:
    """CTEs for ``link_follow``'s one statement: a ``link.clicked`` event of a human click and its
    deliveries, when the message's shop subscribes (an indexed EXISTS otherwise, nothing written).
    Needs the parameters ``hook_now``, ``hook_give_up`` and ``human``; adds the CTE ``hook``
    (the deliveries written) for the statement to count."""
    deliveries = _DELIVERIES_SQL.replace("%(now)s", "%(hook_now)s").replace("%(give_up)s", "%(hook_give_up)s")
    return f"""
    events AS (
        INSERT INTO {WebhookEvent._meta.db_table} (id, shop_id, type, data, created_at)
        SELECT 'evt_' || replace(gen_random_uuid()::text, '-', ''), {message_cte}.shop_id, 'link.clicked',
               jsonb_build_object(
                   'click_id', {click_cte}.id, 'message_id', {message_cte}.id,
                   'campaign_id', {message_cte}.campaign_id, 'phone', {message_cte}.phone,
                   'clicked_at', %(at)s::timestamptz),
               %(hook_now)s
        FROM {message_cte}, {click_cte}
        WHERE %(human)s AND EXISTS (
            SELECT 1 FROM {WebhookEndpoint._meta.db_table} endpoint
            WHERE endpoint.shop_id = {message_cte}.shop_id AND endpoint.status IN ('active', 'failing')
              AND 'link.clicked' = ANY(endpoint.events))
        RETURNING id, shop_id, type
    ), hook AS ({deliveries} RETURNING 1)"""


def link_clicked_params(*, now: datetime) -> dict:
    return {"hook_now": now, "hook_give_up": now + RETRY_WINDOW}


def webhook_deliveries_written(count: int) -> None:
    """A caller that wrote deliveries in its own statement (``link_follow``) enqueues the post."""
    if count:
        _enqueue_delivery()


# --- delivery ---------------------------------------------------------------------------------


def _backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed try: 30 s doubling, at most ``BACKOFF_MAX``."""
    return min(BACKOFF_FIRST * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)


def _post(url: str, body: bytes, headers: dict[str, str]) -> PostResult:
    """POST to the URL at an address checked now (SSRF, DNS rebinding); never raises."""
    started = time.monotonic()

    def result(status_code: int | None, error: str) -> PostResult:
        return PostResult(status_code, error[:ERROR_MAX_LENGTH], int((time.monotonic() - started) * 1000))

    try:
        scheme, host, port = _url_parts(url)
        address = _addresses_checked(host, port)[0]
    except WebhookUrlRefused as exc:
        return result(None, exc.message)
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    http_connection = None
    try:
        sock = socket.create_connection((address, port), timeout=TIMEOUT_SECONDS)
        if scheme == "https":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
            http_connection = http.client.HTTPSConnection(host, port, timeout=TIMEOUT_SECONDS)
        else:
            http_connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT_SECONDS)
        # The connection uses the socket opened to the checked address (it would resolve again).
        http_connection.sock = sock
        http_connection.request("POST", target, body=body, headers=headers)
        response = http_connection.getresponse()
        answer = response.read(RESPONSE_READ_LIMIT)
    except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
        return result(None, f"{type(exc).__name__}: {exc}")
    finally:
        if http_connection is not None:
            http_connection.close()
    error = "" if 200 <= response.status < 300 else answer.decode("utf-8", "replace")
    return result(response.status, error)


def _claim(*, now: datetime, limit: int) -> list[int]:
    with transaction.atomic():
        # Race: several delivery tasks and the sweeper at once; SKIP LOCKED gives each other
        # rows, and the lease (next_attempt_at pushed forward) keeps them after the commit.
        ids = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:limit]
        )
        WebhookDelivery.objects.filter(pk__in=ids).update(next_attempt_at=now + CLAIM_LEASE)
    return ids


def webhook_delivery_attempt(*, delivery_id: int) -> PostResult | None:
    """Post one claimed delivery and record the attempt and its outcome; None if it is gone."""
    delivery = WebhookDelivery.objects.select_related("event", "endpoint").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return None
    endpoint, event = delivery.endpoint, delivery.event
    if endpoint.status == WebhookEndpoint.Status.DISABLED:
        WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING).update(
            status=WebhookDelivery.Status.FAILED, next_attempt_at=None, last_error=_("接收地址已停用。")
        )
        return None
    body = webhook_body(event)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: webhook_signature(secret=endpoint.secret, timestamp=timestamp, body=body),
        "X-Webhook-Id": event.id,
        "X-Webhook-Type": event.type,
    }
    outcome = _post(endpoint.url, body, headers)
    _record(delivery=delivery, outcome=outcome, now=timezone.now())
    return outcome


def _record(*, delivery: WebhookDelivery, outcome: PostResult, now: datetime) -> None:
    attempts = delivery.attempts + 1
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            at=now,
            status_code=outcome.status_code,
            error=outcome.error,
            duration_ms=outcome.duration_ms,
            succeeded=outcome.succeeded,
        )
        pending = WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDelivery.Status.PENDING)
        common = {
            "attempts": F("attempts") + 1,
            "last_status_code": outcome.status_code,
            "last_error": outcome.error,
        }
        if outcome.succeeded:
            pending.update(
                status=WebhookDelivery.Status.SUCCEEDED, delivered_at=now, next_attempt_at=None, **common
            )
            # The receiver answers again: a failing endpoint is active from now on.
            WebhookEndpoint.objects.filter(
                pk=delivery.endpoint_id, status=WebhookEndpoint.Status.FAILING
            ).update(status=WebhookEndpoint.Status.ACTIVE, failing_since=None)
            return
        if now < delivery.give_up_at:
            pending.update(next_attempt_at=min(now + _backoff(attempts), delivery.give_up_at), **common)
            return
        pending.update(status=WebhookDelivery.Status.FAILED, next_attempt_at=None, **common)
        # Race: many deliveries of one endpoint give up at once; the conditional UPDATE lets
        # one of them mark it failing and tell the owners, once.
        marked = WebhookEndpoint.objects.filter(
            pk=delivery.endpoint_id, status=WebhookEndpoint.Status.ACTIVE
        ).update(status=WebhookEndpoint.Status.FAILING, failing_since=now)
        if marked:
            endpoint_id = delivery.endpoint_id
            transaction.on_commit(lambda: webhook_endpoint_failing_notify(endpoint_id=endpoint_id))


def webhook_deliveries_run(*, time_budget: float = 45.0, now: datetime | None = None) -> int:
    """Post the due deliveries until none is left or the budget is spent; returns how many were
    tried. Safe to run in several workers at once (claims) and twice (a claim is a lease)."""
    started = time.monotonic()
    tried = 0
    while time.monotonic() - started < time_budget:
        ids = _claim(now=now or timezone.now(), limit=CLAIM_BATCH)
        if not ids:
            break
        for delivery_id in ids:
            if webhook_delivery_attempt(delivery_id=delivery_id) is not None:
                tried += 1
    return tried


def webhook_endpoint_failing_notify(*, endpoint_id: int) -> int:
    """E-mail the shop's owners that an endpoint is failing; returns how many mails were sent
    (the portal's notice needs nothing: it reads the endpoint's status)."""
    endpoint = WebhookEndpoint.objects.select_related("shop").filter(pk=endpoint_id).first()
    if endpoint is None:
        return 0
    owners = list(
        Membership.objects.filter(shop=endpoint.shop, role=Membership.Role.OWNER)
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
    if not owners:
        return 0
    subject = _("【短信管理】Webhook 接收地址推送失败：{shop}").format(shop=endpoint.shop.name)
    body = _(
        "您的店铺“{shop}”的 Webhook 接收地址 {url} 已连续 24 小时推送失败，已标记为“推送失败”。\n"
        "新的事件仍会继续推送；请检查接收服务后，在“开放接口 › Webhook”页面查看推送记录并点击“重新发送”。"
    ).format(shop=endpoint.shop.name, url=endpoint.url)
    try:
        return send_mail(subject, body, None, owners)
    except OSError:
        # No mail server reachable: the portal's notice still tells the merchant.
        logger.warning("webhook failing notice for endpoint %s not mailed", endpoint_id, exc_info=True)
        return 0


def webhook_events_purge(*, now: datetime | None = None) -> int:
    """Delete events older than ``EVENT_RETENTION`` whose deliveries are all final (with those
    deliveries and their attempts), in batches; returns how many events were deleted."""
    cutoff = (now or timezone.now()) - EVENT_RETENTION
    purged = 0
    while True:
        old = WebhookEvent.objects.filter(created_at__lt=cutoff).exclude(
            deliveries__status=WebhookDelivery.Status.PENDING
        )
        ids = list(old.order_by().values_list("pk", flat=True)[:PURGE_BATCH])
        if not ids:
            return purged
        with transaction.atomic():
            WebhookAttempt.objects.filter(delivery__event_id__in=ids).delete()
            WebhookDelivery.objects.filter(event_id__in=ids).delete()
            purged += WebhookEvent.objects.filter(pk__in=ids).delete()[1].get(WebhookEvent._meta.label, 0)
