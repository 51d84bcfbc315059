"""Notifications (消息通知): events told to a shop's members in the portal's inbox and by e-mail.

An emitter (a review decision, a campaign's end, a recharge …) calls :func:`notify` inside the
transaction of its action. ``notify`` writes one ``Notification`` per member who wants the kind
(their ``NotificationPreference``, or the role's default: :data:`DEFAULT_CHANNELS`), and a
``MailDelivery`` for each who wants it by e-mail and has an address. (event_key, recipient) is
unique, so emitting an event twice notifies nobody twice; a rolled-back action leaves nothing.

E-mail is an outbox: after the commit one django-q2 task per mail
(``smsmarketing.tasks.send_notification_mail``) sends it, and a sweeper every minute
(``send_due_notification_mails``) sends whatever is due — retries after a back-off (1, 2, 4 …
minutes, at most an hour apart) and mails whose task was lost. A worker claims a mail with a
conditional UPDATE that pushes ``next_attempt_at`` forward by a lease, so two workers never send
it twice; a mail server that is down leaves the mail pending (never the action failing). 24 hours
after the event a mail still unsent is marked failed and logged; the admin lists them.
"""

from __future__ import annotations

import logging
import smtplib
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import EmailMessage
from django.db import connection, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django_q.tasks import async_task

from smsmarketing.errors import SmsError
from smsmarketing.models import MailDelivery, Membership, Notification, NotificationPreference, Shop
from smsmarketing.permissions import Capability, require_capability

logger = logging.getLogger(__name__)

Kind = Notification.Kind
Role = Membership.Role

SEND_TASK = "smsmarketing.tasks.send_notification_mail"
SUBJECT_PREFIX = "【短信管理】"
# Retries: 1 min, 2 min, 4 min … doubling up to an hour between tries, until 24 h after the event.
BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)
RETRY_WINDOW = timedelta(hours=24)
# A claim keeps a mail from other workers this long (far more than one SMTP exchange with
# settings.EMAIL_TIMEOUT); a worker that dies mid-send leaves it to be retried after it.
CLAIM_LEASE = timedelta(minutes=5)
SWEEP_BATCH = 50
# Notifications (with their mails) are kept this long, then purged nightly in batches.
RETENTION = timedelta(days=180)
PURGE_BATCH = 5000
ERROR_MAX_LENGTH = 300
TITLE_MAX_LENGTH = 200
LINK_MAX_LENGTH = 500

NOTIFICATION_KIND = "NOTIFICATION-KIND"


class Channels(NamedTuple):
    """Where a member receives one kind: the portal's inbox (站内信) and/or e-mail (邮件)."""

    inbox: bool
    email: bool


BOTH = Channels(inbox=True, email=True)
INBOX_ONLY = Channels(inbox=True, email=False)
NONE = Channels(inbox=False, email=False)

REVIEW_KINDS = (
    Kind.SIGNATURE_APPROVED,
    Kind.SIGNATURE_REJECTED,
    Kind.TEMPLATE_APPROVED,
    Kind.TEMPLATE_REJECTED,
    Kind.REVIEW_OVERDUE,
)
CAMPAIGN_KINDS = (Kind.CAMPAIGN_FINISHED, Kind.CAMPAIGN_STOPPED, Kind.CAMPAIGN_PAUSED)
MONEY_KINDS = (Kind.BALANCE_LOW, Kind.BALANCE_EXHAUSTED, Kind.RECHARGE_CREDITED)

# What a member receives of each kind until they choose (docs/NOTIFICATIONS.md): owners every
# kind in the inbox and by e-mail; operators the reviews and campaigns they work on, both ways;
# analysts a campaign's end (finished or stopped) in the inbox. Balance and recharge kinds go to
# owners only (they alone can recharge). E-mail needs an address on the user.
DEFAULT_CHANNELS: dict[str, dict[str, Channels]] = {
    Role.OWNER: {kind: BOTH for kind in Kind},
    Role.OPERATOR: {kind: BOTH if kind in REVIEW_KINDS + CAMPAIGN_KINDS else NONE for kind in Kind},
    Role.ANALYST: {
        kind: INBOX_ONLY if kind in (Kind.CAMPAIGN_FINISHED, Kind.CAMPAIGN_STOPPED) else NONE for kind in Kind
    },
}


class NotificationKindUnknown(SmsError):
    rule = NOTIFICATION_KIND


def default_channels(*, role: str, kind: str) -> Channels:
    return DEFAULT_CHANNELS.get(role, {}).get(kind, NONE)


# --- recording ------------------------------------------------------------------------

_INSERT = """
    INSERT INTO smsmarketing_notification
        (shop_id, recipient_id, kind, event_key, title, body, link, in_inbox, created_at, read_at)
    SELECT %(shop_id)s, recipient_id, %(kind)s, %(event_key)s, %(title)s, %(body)s, %(link)s, in_inbox,
           %(now)s, NULL
    FROM unnest(%(recipients)s::bigint[], %(inboxes)s::boolean[]) AS wanted(recipient_id, in_inbox)
    ON CONFLICT (event_key, recipient_id) DO NOTHING
    RETURNING id, recipient_id
"""


def notify(
    *,
    shop_id: int,
    kind: str,
    event_key: str,
    title: str,
    body: str,
    link: str = "",
    now: datetime | None = None,
) -> int:
    """Record the event for every member of the shop whose preferences want it (inbox and/or
    e-mail) and queue its mails; returns how many members were newly notified.

    Safe to call twice with the same ``event_key`` (the second call notifies nobody). Runs in the
    caller's transaction: a rolled-back action notifies nobody, and the mails' tasks are enqueued
    only after the commit (never sent inline, so a mail server that is down never blocks it).
    Three queries, whatever the number of members (members, preferences, the insert), and one more
    when someone gets a mail.
    """
    try:
        kind = Kind(kind)
    except ValueError:
        raise NotificationKindUnknown(_("未知的通知类型：{kind}").format(kind=kind)) from None
    now = now or timezone.now()
    members = list(
        Membership.objects.filter(shop_id=shop_id, user__is_active=True).values_list(
            "pk", "role", "user_id", "user__email"
        )
    )
    chosen = {
        membership_id: Channels(inbox, email)
        for membership_id, inbox, email in NotificationPreference.objects.filter(
            membership__shop_id=shop_id, kind=kind
        ).values_list("membership_id", "inbox", "email")
    }
    recipients: list[int] = []
    inboxes: list[bool] = []
    mail_to: dict[int, str] = {}
    for membership_id, role, user_id, email in members:
        channels = chosen.get(membership_id) or default_channels(role=role, kind=kind)
        wants_mail = channels.email and bool(email)
        if not (channels.inbox or wants_mail):
            continue
        recipients.append(user_id)
        inboxes.append(channels.inbox)
        if wants_mail:
            mail_to[user_id] = email
    if not recipients:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT,
            {
                "shop_id": shop_id,
                "kind": kind.value,
                "event_key": event_key,
                "title": title[:TITLE_MAX_LENGTH],
                "body": body,
                "link": link[:LINK_MAX_LENGTH],
                "now": now,
                "recipients": recipients,
                "inboxes": inboxes,
            },
        )
        created = cursor.fetchall()
    mails = MailDelivery.objects.bulk_create(
        MailDelivery(
            notification_id=notification_id,
            to=mail_to[recipient_id],
            next_attempt_at=now,
            give_up_at=now + RETRY_WINDOW,
            created_at=now,
        )
        for notification_id, recipient_id in created
        if recipient_id in mail_to
    )
    if mails:
        ids = [mail.pk for mail in mails]
        transaction.on_commit(lambda: _enqueue(ids))
    return len(created)


def _enqueue(delivery_ids: list[int]) -> None:
    for delivery_id in delivery_ids:
        try:
            async_task(SEND_TASK, delivery_id)
        except Exception:  # noqa: BLE001 - the sweeper sends it; the committed action must not fail
            logger.warning("notification mail %s not enqueued; the sweeper will send it", delivery_id,
                           exc_info=True)  # fmt: skip


# --- reading state ----------------------------------------------------------------------


def notification_mark_read(
    *, shop: Shop, user: AbstractBaseUser, notification_id: int, now: datetime | None = None
) -> bool:
    """Mark one of the user's own notifications read; False if it is not theirs or already read."""
    require_capability(shop=shop, user=user, capability=Capability.READ)
    return bool(
        Notification.objects.filter(
            pk=notification_id, shop=shop, recipient=user, read_at__isnull=True
        ).update(read_at=now or timezone.now())
    )


def notifications_mark_all_read(*, shop: Shop, user: AbstractBaseUser, now: datetime | None = None) -> int:
    """Mark all the user's unread notifications of the shop read; returns how many."""
    require_capability(shop=shop, user=user, capability=Capability.READ)
    return Notification.objects.filter(shop=shop, recipient=user, read_at__isnull=True).update(
        read_at=now or timezone.now()
    )


# --- preferences ------------------------------------------------------------------------


def notification_preferences_set(
    *, shop: Shop, user: AbstractBaseUser, choices: Mapping[str, Channels | tuple[bool, bool]]
) -> int:
    """Set the member's own channels for the kinds in ``choices`` (kind -> (inbox, email)); kinds
    left out keep what they had. Any member may; an unknown kind refuses all (nothing written)."""
    require_capability(shop=shop, user=user, capability=Capability.READ)
    rows = []
    membership = Membership.objects.get(shop=shop, user=user)
    for kind, channels in choices.items():
        if kind not in Kind.values:
            raise NotificationKindUnknown(_("未知的通知类型：{kind}").format(kind=kind))
        inbox, email = channels
        rows.append(
            NotificationPreference(membership=membership, kind=kind, inbox=bool(inbox), email=bool(email))
        )
    # Race: the same member saving twice at once; the upsert leaves one row per kind.
    NotificationPreference.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["membership", "kind"],
        update_fields=["inbox", "email", "updated_at"],
    )
    return len(rows)


# --- e-mail -----------------------------------------------------------------------------


def _backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed try: 1 min doubling, at most ``BACKOFF_MAX``."""
    return min(BACKOFF_FIRST * (2 ** min(max(attempts - 1, 0), 20)), BACKOFF_MAX)


def portal_url(path: str) -> str:
    """The full address of a portal path, for mails (``settings.SITE_URL``)."""
    if path.startswith(("http://", "https://")):
        return path
    return f"{settings.SITE_URL}/{path.lstrip('/')}"


def notification_mail(notification: Notification, *, to: str) -> EmailMessage:
    """The e-mail of a notification: subject 【短信管理】<title>, a Chinese plain-text body."""
    shop = notification.shop
    lines = [
        _("{user}，您好：").format(user=notification.recipient.get_username()),
        "",
        notification.body or notification.title,
        "",
        _("店铺：{shop}").format(shop=shop.name),
        _("时间：{time}").format(time=timezone.localtime(notification.created_at).strftime("%Y-%m-%d %H:%M")),
    ]
    if notification.link:
        lines.append(_("查看详情：{url}").format(url=portal_url(notification.link)))
    settings_url = portal_url(reverse("portal:notification_settings", args=[shop.pk]))
    lines += [
        "",
        _("此邮件由短信管理自动发送，请勿直接回复。"),
        _("如不想再收到此类邮件，请在「消息通知 › 通知设置」中修改：{url}").format(url=settings_url),
    ]
    return EmailMessage(
        subject=SUBJECT_PREFIX + notification.title,
        body="\n".join(lines),
        to=[to],
        headers={"X-Notification-Event": notification.event_key},
    )


def notification_mail_send(*, delivery_id: int, now: datetime | None = None) -> bool | None:
    """Send one mail if it is pending and due: True sent, False failed this time (retried later,
    or given up), None not ours to send (sent, given up, or claimed by another worker)."""
    now = now or timezone.now()
    # Race: the mail's own task, a second run of it and the sweeper at once. Only the UPDATE that
    # finds it pending and due claims it; its lease keeps the others off while it is sent.
    claimed = MailDelivery.objects.filter(
        pk=delivery_id, status=MailDelivery.Status.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + CLAIM_LEASE)
    if not claimed:
        return None
    delivery = MailDelivery.objects.select_related("notification__shop", "notification__recipient").get(
        pk=delivery_id
    )
    try:
        notification_mail(delivery.notification, to=delivery.to).send(fail_silently=False)
    except (OSError, smtplib.SMTPException) as exc:  # refused, unreachable, timed out, rejected
        _record_failure(delivery=delivery, error=f"{type(exc).__name__}: {exc}", now=now)
        return False
    except Exception as exc:  # a bug: counted and bounded like any failure, never retried forever
        logger.exception("notification mail %s could not be built or sent", delivery_id)
        _record_failure(delivery=delivery, error=f"{type(exc).__name__}: {exc}", now=now)
        return False
    MailDelivery.objects.filter(pk=delivery_id, status=MailDelivery.Status.PENDING).update(
        status=MailDelivery.Status.SENT,
        sent_at=now,
        next_attempt_at=None,
        attempts=F("attempts") + 1,
        last_error="",
    )
    return True


def _record_failure(*, delivery: MailDelivery, error: str, now: datetime) -> None:
    attempts = delivery.attempts + 1
    pending = MailDelivery.objects.filter(pk=delivery.pk, status=MailDelivery.Status.PENDING)
    if now < delivery.give_up_at:
        pending.update(
            attempts=F("attempts") + 1,
            last_error=error[:ERROR_MAX_LENGTH],
            next_attempt_at=min(now + _backoff(attempts), delivery.give_up_at),
        )
        logger.info("notification mail %s not sent (attempt %s), retrying: %s", delivery.pk, attempts, error)
        return
    pending.update(
        status=MailDelivery.Status.FAILED, attempts=F("attempts") + 1, last_error=error[:ERROR_MAX_LENGTH],
        next_attempt_at=None,
    )  # fmt: skip
    logger.warning(
        "notification mail %s to %s given up after %s attempts: %s", delivery.pk, delivery.to, attempts, error
    )


def notification_mails_send_due(*, now: datetime | None = None, time_budget: float = 45.0) -> int:
    """Send the pending mails that are due until none is left or the budget is spent; returns
    how many were sent. Safe to run in several workers at once (each mail is claimed)."""
    started = time.monotonic()  # a real clock: time-machine's frozen one would never run out
    sent = 0
    tried: set[int] = set()
    while time.monotonic() - started < time_budget:
        moment = now or timezone.now()
        ids = [
            pk
            for pk in MailDelivery.objects.filter(
                status=MailDelivery.Status.PENDING, next_attempt_at__lte=moment
            )
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:SWEEP_BATCH]
            if pk not in tried
        ]
        if not ids:
            break
        for delivery_id in ids:
            tried.add(delivery_id)
            if notification_mail_send(delivery_id=delivery_id, now=moment):
                sent += 1
    return sent


def mail_deliveries_resend(*, delivery_ids: list[int], now: datetime | None = None) -> int:
    """The platform's operators (admin): send failed mails again, with a fresh retry window.
    Only failed ones (a pending mail is already on its way, a sent one is never sent twice)."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            MailDelivery.objects.filter(pk__in=delivery_ids, status=MailDelivery.Status.FAILED).values_list(
                "pk", flat=True
            )
        )
        MailDelivery.objects.filter(pk__in=ids, status=MailDelivery.Status.FAILED).update(
            status=MailDelivery.Status.PENDING, next_attempt_at=now, give_up_at=now + RETRY_WINDOW
        )
        if ids:
            transaction.on_commit(lambda: _enqueue(ids))
    logger.info("notification mails %s queued again by an operator", ids)
    return len(ids)


def notifications_purge(*, now: datetime | None = None) -> int:
    """Nightly: delete notifications older than ``RETENTION`` with their mails, in batches (short
    transactions, the inbox stays usable); returns how many."""
    cutoff = (now or timezone.now()) - RETENTION
    purged = 0
    while True:
        ids = list(
            Notification.objects.filter(created_at__lt=cutoff)
            .order_by("pk")
            .values_list("pk", flat=True)[:PURGE_BATCH]
        )
        if not ids:
            return purged
        _total, by_model = Notification.objects.filter(pk__in=ids).delete()  # its mails cascade
        purged += by_model.get(Notification._meta.label, 0)
