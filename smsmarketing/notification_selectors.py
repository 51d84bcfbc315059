"""Reads of the notifications (消息通知): a member's inbox, the bell's unread count, and their
channels per kind (their choice, or their role's default)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from smsmarketing.models import Membership, Notification, NotificationPreference, Shop
from smsmarketing.services.notifications import default_channels


def notifications_for_member(*, shop: Shop, user: AbstractBaseUser) -> QuerySet[Notification]:
    """The member's inbox in the shop, newest first (index ``notification_inbox``)."""
    return Notification.objects.filter(shop=shop, recipient=user, in_inbox=True).order_by(
        "-created_at", "-id"
    )


def notifications_unread_count(*, shop: Shop | int, user: AbstractBaseUser) -> int:
    """The bell's number: one indexed count (partial index ``notification_unread``)."""
    if not user.is_authenticated:
        return 0
    shop_id = shop if isinstance(shop, int) else shop.pk
    return Notification.objects.filter(
        shop_id=shop_id, recipient=user, in_inbox=True, read_at__isnull=True
    ).count()


@dataclass(frozen=True)
class ChoiceRow:
    kind: str
    label: str
    inbox: bool
    email: bool
    chosen: bool  # False: the role's default applies


def notification_choices(*, shop: Shop, user: AbstractBaseUser) -> list[ChoiceRow]:
    """Every kind with the member's channels (two queries)."""
    membership = Membership.objects.get(shop=shop, user=user)
    chosen = {
        kind: (inbox, email)
        for kind, inbox, email in NotificationPreference.objects.filter(membership=membership).values_list(
            "kind", "inbox", "email"
        )
    }
    rows = []
    for kind in Notification.Kind:
        if kind.value in chosen:
            inbox, email = chosen[kind.value]
        else:
            inbox, email = default_channels(role=membership.role, kind=kind)
        rows.append(ChoiceRow(kind.value, str(kind.label), inbox, email, kind.value in chosen))
    return rows
