"""The notices of the SMS account's events, their Chinese text in one place (docs/NOTIFICATIONS.md,
"Events").

Each builder is pure: it takes the event's facts and returns a ``Notice`` (title, body, link)
with its stable ``event_key`` (one notice per event and recipient, however often it is raised).
The ``*_notify`` functions raise the notice through ``smsmarketing.services.notifications.notify``
inside the caller's transaction: a rolled-back action leaves no notice, and the e-mail is queued
on commit. ``reviews.services.notices`` and ``campaigns.services.notices`` build their notices
with ``Notice`` too.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse
from django.utils.translation import gettext as _

from smsmarketing.models import Notification
from smsmarketing.services.notifications import notify


@dataclass(frozen=True)
class Notice:
    """What one event tells a shop's members: ``kind`` is a ``Notification.Kind`` value."""

    kind: str
    event_key: str
    title: str
    body: str
    link: str = ""


def notice_raise(*, shop_id: int, notice: Notice) -> int:
    """Raise ``notice`` to the shop's members (idempotent per event key and recipient); call
    inside the transaction of the action that made the event true."""
    return notify(
        shop_id=shop_id, kind=notice.kind, event_key=notice.event_key,
        title=notice.title, body=notice.body, link=notice.link,
    )


def notice_kind(name: str) -> str:
    """The ``Notification.Kind`` value of a kind's name ("SIGNATURE_APPROVED")."""
    return Notification.Kind[name].value


def _account_link(shop_id: int, name: str = "portal:account") -> str:
    return reverse(name, kwargs={"shop_id": shop_id})


def balance_low_notice(
    *, shop_id: int, entry_id: int, balance: int, threshold: int, label: str = ""
) -> Notice:
    """The available balance fell below the shop's low-balance threshold (ledger entry ``entry_id``
    made it cross)."""
    cause = _("（{label}冻结后）").format(label=label) if label else ""
    return Notice(
        kind=notice_kind("BALANCE_LOW"),
        event_key=f"balance_low:{entry_id}",
        title=_("短信余量不足 {threshold:,} 条提醒").format(threshold=threshold),
        body=_(
            "您店铺的短信可用余量{cause}为 {balance:,} 条，已低于您设置的提醒阈值 {threshold:,} 条。"
            "为免营销任务因余量不足而无法发送，请店主及时充值。"
        ).format(cause=cause, balance=balance, threshold=threshold),
        link=_account_link(shop_id, "portal:account_recharge"),
    )


def recharge_credited_notice(*, shop_id: int, order_no: str, units: int, balance: int) -> Notice:
    """A paid recharge order was credited to the account."""
    return Notice(
        kind=notice_kind("RECHARGE_CREDITED"),
        event_key=f"recharge_credited:{order_no}",
        title=_("充值到账：{units:,} 条短信").format(units=units),
        body=_(
            "充值订单 {order_no} 已支付成功，{units:,} 条短信已到账，当前可用余量 {balance:,} 条。"
        ).format(order_no=order_no, units=units, balance=balance),
        link=_account_link(shop_id, "portal:account_recharges"),
    )


def balance_low_notify(*, shop_id: int, entry_id: int, balance: int, threshold: int, label: str = "") -> int:
    return notice_raise(
        shop_id=shop_id,
        notice=balance_low_notice(
            shop_id=shop_id, entry_id=entry_id, balance=balance, threshold=threshold, label=label
        ),
    )


def recharge_credited_notify(*, shop_id: int, order_no: str, units: int, balance: int) -> int:
    return notice_raise(
        shop_id=shop_id,
        notice=recharge_credited_notice(shop_id=shop_id, order_no=order_no, units=units, balance=balance),
    )
