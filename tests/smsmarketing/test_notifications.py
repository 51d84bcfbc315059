"""Notifications: notify() records an event once per member as their preferences (or their role's
defaults) say, inside the action's transaction; the inbox, the bell and the preferences pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from smsmarketing.models import MailDelivery, Membership, Notification, NotificationPreference
from smsmarketing.permissions import NotShopMember
from smsmarketing.services.notifications import (
    DEFAULT_CHANNELS,
    NotificationKindUnknown,
    notification_mark_read,
    notification_preferences_set,
    notifications_mark_all_read,
    notify,
)
from tests.factories import make_user

Kind = Notification.Kind
Role = Membership.Role


def add_member(shop, username: str, role: str, *, email: str = ""):
    user = make_user(username)
    if email:
        user.email = email
        user.save(update_fields=["email"])
    Membership.objects.create(user=user, shop=shop, role=role)
    return user


@pytest.fixture
def team(alice, alice_shop):
    """alice owns the shop (with an e-mail address), olga operates it, anna only reads."""
    alice.email = "alice@example.com"
    alice.save(update_fields=["email"])
    return {
        "owner": alice,
        "operator": add_member(alice_shop, "olga", Role.OPERATOR, email="olga@example.com"),
        "analyst": add_member(alice_shop, "anna", Role.ANALYST, email="anna@example.com"),
    }


def emit(shop, kind=Kind.SIGNATURE_REJECTED, key="signature_rejected:1", **extra):
    return notify(
        shop_id=shop.pk, kind=kind, event_key=key, title="签名审核未通过", body="原因：签名与店铺名称不符。",
        link=f"/shop/{shop.pk}/", **extra,
    )  # fmt: skip


def recipients(key: str) -> dict[str, tuple[bool, bool]]:
    """username -> (in the inbox, mailed) for one event."""
    return {
        n.recipient.username: (n.in_inbox, hasattr(n, "mail"))
        for n in Notification.objects.filter(event_key=key).select_related("recipient", "mail")
    }


def test_it_notifies_each_member_once_however_often_the_event_is_emitted(alice_shop, team):
    assert emit(alice_shop) == 2  # owner and operator; the analyst gets no review kinds
    assert emit(alice_shop) == 0
    assert Notification.objects.count() == 2
    assert MailDelivery.objects.count() == 2
    assert recipients("signature_rejected:1") == {"alice": (True, True), "olga": (True, True)}


def test_it_applies_the_role_defaults_for_every_kind(alice_shop, team):
    for kind in Kind:
        notify(shop_id=alice_shop.pk, kind=kind, event_key=f"{kind}:9", title=kind.label, body="")
    for role, user in team.items():
        for kind in Kind:
            expected = DEFAULT_CHANNELS[role][kind]
            got = recipients(f"{kind}:9").get(user.username, (False, False))
            assert got == (expected.inbox, expected.email), (role, kind)
    # Balance and recharge kinds: owners only.
    assert set(recipients("balance_low:9")) == {"alice"}
    assert set(recipients("recharge_credited:9")) == {"alice"}
    assert recipients("campaign_finished:9")["anna"] == (True, False)


def test_it_mails_nobody_without_an_address(alice_shop, alice):
    assert emit(alice_shop) == 1
    assert recipients("signature_rejected:1") == {"alice": (True, False)}
    assert not MailDelivery.objects.exists()


def test_it_respects_the_members_choices(alice_shop, team):
    notification_preferences_set(
        shop=alice_shop, user=team["owner"], choices={Kind.SIGNATURE_REJECTED: (False, True)}
    )
    notification_preferences_set(
        shop=alice_shop, user=team["operator"], choices={Kind.SIGNATURE_REJECTED: (False, False)}
    )
    notification_preferences_set(
        shop=alice_shop, user=team["analyst"], choices={Kind.SIGNATURE_REJECTED: (True, False)}
    )
    emit(alice_shop)
    assert recipients("signature_rejected:1") == {"alice": (False, True), "anna": (True, False)}
    # Saving again replaces the choice (one row per member and kind).
    notification_preferences_set(
        shop=alice_shop, user=team["operator"], choices={Kind.SIGNATURE_REJECTED: (True, True)}
    )
    assert NotificationPreference.objects.filter(membership__user=team["operator"]).count() == 1
    emit(alice_shop, key="signature_rejected:2")
    assert recipients("signature_rejected:2")["olga"] == (True, True)


def test_it_refuses_an_unknown_kind_and_writes_nothing(alice_shop, team):
    with pytest.raises(NotificationKindUnknown) as refused:
        notification_preferences_set(
            shop=alice_shop,
            user=team["owner"],
            choices={Kind.BALANCE_LOW: (True, False), "lottery": (True, True)},
        )
    assert "未知的通知类型" in refused.value.message
    assert not NotificationPreference.objects.exists()
    with pytest.raises(NotificationKindUnknown):
        emit(alice_shop, kind="lottery")
    assert not Notification.objects.exists()


def test_it_lets_only_members_set_preferences(alice_shop, bob):
    with pytest.raises(NotShopMember):
        notification_preferences_set(shop=alice_shop, user=bob, choices={Kind.BALANCE_LOW: (True, True)})
    assert not NotificationPreference.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_it_notifies_nobody_when_the_action_rolls_back(alice_shop, team, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

    class ActionFailed(Exception):
        pass

    with pytest.raises(ActionFailed), transaction.atomic():
        emit(alice_shop)
        raise ActionFailed
    assert not Notification.objects.exists()
    assert not MailDelivery.objects.exists()
    # Committed, the same event is recorded and its mails sent (the task runs on commit).
    with transaction.atomic():
        emit(alice_shop)
    assert set(MailDelivery.objects.values_list("status", flat=True)) == {MailDelivery.Status.SENT}


def test_it_marks_read_only_the_members_own_notifications(alice_shop, team):
    emit(alice_shop)
    emit(alice_shop, key="signature_rejected:2")
    mine = Notification.objects.get(recipient=team["owner"], event_key="signature_rejected:1")
    theirs = Notification.objects.get(recipient=team["operator"], event_key="signature_rejected:1")
    assert notification_mark_read(shop=alice_shop, user=team["owner"], notification_id=mine.pk)
    assert not notification_mark_read(shop=alice_shop, user=team["owner"], notification_id=mine.pk)
    assert not notification_mark_read(shop=alice_shop, user=team["owner"], notification_id=theirs.pk)
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert notifications_mark_all_read(shop=alice_shop, user=team["owner"]) == 1
    assert not Notification.objects.filter(recipient=team["owner"], read_at__isnull=True).exists()
    assert Notification.objects.filter(recipient=team["operator"], read_at__isnull=True).count() == 2


def test_it_keeps_the_time_it_is_given(alice_shop, alice):
    moment = timezone.now() - timedelta(minutes=5)
    emit(alice_shop, now=moment)
    assert Notification.objects.get().created_at == moment
