"""Tasks of the merchant core."""

from __future__ import annotations

from smsmarketing.services.notifications import (
    notification_mail_send,
    notification_mails_send_due,
    notifications_purge,
)


def ping(value: str) -> str:
    """A no-op task the smoke check enqueues to prove the cluster runs tasks."""
    return f"pong:{value}"


def send_notification_mail(delivery_id: int) -> bool | None:
    """Send one notification mail (enqueued after the commit that wrote it); idempotent."""
    return notification_mail_send(delivery_id=delivery_id)


def send_due_notification_mails() -> int:
    """Every minute: the notification mails that are due (retries, and any whose task was lost)."""
    return notification_mails_send_due()


def purge_notifications() -> int:
    """Nightly (04:20 Asia/Shanghai): notifications older than 180 days, with their mails."""
    return notifications_purge()
