"""Helpers of the notification event tests: the shop's team and its notices."""

from __future__ import annotations

from smsmarketing.models import Membership, Notification
from tests.factories import make_user


def make_team(alice, shop) -> dict:
    """alice owns ``shop`` (with an e-mail address), olga operates it."""
    alice.email = "alice@example.com"
    alice.save(update_fields=["email"])
    olga = make_user("olga")
    olga.email = "olga@example.com"
    olga.save(update_fields=["email"])
    Membership.objects.create(user=olga, shop=shop, role=Membership.Role.OPERATOR)
    return {"alice": alice, "olga": olga}


def notices(kind: str) -> list[Notification]:
    rows = Notification.objects.filter(kind=kind).select_related("recipient")
    return list(rows.order_by("recipient__username", "created_at", "pk"))


def one_notice(kind: str, *, to: tuple[str, ...] = ("alice", "olga")) -> Notification:
    """The event's notice: exactly one per expected recipient, the same text for each."""
    rows = notices(kind)
    got = [(n.recipient.username, n.event_key) for n in rows]
    assert [username for username, _key in got] == list(to), got
    assert len({(n.event_key, n.title, n.body, n.link) for n in rows}) == 1
    return rows[0]
