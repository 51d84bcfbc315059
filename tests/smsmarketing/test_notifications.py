"""Notifications: notify() records an event once per member as their preferences (or their role's
defaults) say, inside the action's transaction; the inbox, the bell and the preferences pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from smsmarketing.models import MailDelivery, Membership, Notification, NotificationPreference
from smsmarketing.permissions import NotShopMember
from smsmarketing.services.notifications import (
    DEFAULT_CHANNELS,
    RETENTION,
    NotificationKindUnknown,
    notification_mark_read,
    notification_preferences_set,
    notifications_mark_all_read,
    notifications_purge,
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


# --- pages -------------------------------------------------------------------------------


def test_it_shows_the_bell_with_the_unread_count_on_every_shop_page(client, alice_shop, team):
    client.force_login(team["owner"])
    page = client.get(reverse("portal:dashboard", args=[alice_shop.pk])).content.decode()
    assert 'id="notification-bell"' in page
    assert 'id="notification-count"' not in page
    emit(alice_shop)
    emit(alice_shop, key="signature_rejected:2")
    page = client.get(reverse("portal:account", args=[alice_shop.pk])).content.decode()
    assert '<span class="bell-count" id="notification-count">2</span>' in page
    # The analyst got none of these: no count on their bell.
    client.force_login(team["analyst"])
    page = client.get(reverse("portal:dashboard", args=[alice_shop.pk])).content.decode()
    assert 'id="notification-bell"' in page and 'id="notification-count"' not in page


def test_it_lists_the_inbox_newest_first_with_the_unread_highlighted(client, alice_shop, team):
    now = timezone.now()
    notify(
        shop_id=alice_shop.pk, kind=Kind.TEMPLATE_APPROVED, event_key="template_approved:1",
        title="模板「会员日」审核通过", body="可以在营销任务中使用了。", now=now - timedelta(hours=1),
    )  # fmt: skip
    notify(
        shop_id=alice_shop.pk, kind=Kind.CAMPAIGN_FINISHED, event_key="campaign_finished:7",
        title="营销任务「双11」已完成", body="成功 98 条，失败 2 条，退回 2 条。", link="/shop/1/x/", now=now,
    )  # fmt: skip
    first = Notification.objects.get(recipient=team["owner"], event_key="template_approved:1")
    notification_mark_read(shop=alice_shop, user=team["owner"], notification_id=first.pk)
    client.force_login(team["owner"])
    page = client.get(reverse("portal:notifications", args=[alice_shop.pk])).content.decode()
    assert page.index("营销任务「双11」已完成") < page.index("模板「会员日」审核通过")
    assert "成功 98 条，失败 2 条，退回 2 条。" in page
    finished = Notification.objects.get(recipient=team["owner"], event_key="campaign_finished:7")
    assert f'class="notification unread" id="notification-{finished.pk}"' in page
    assert f'class="notification" id="notification-{first.pk}"' in page
    assert 'name="open"' in page  # an unread notice's 「查看详情」 marks it read on the way
    assert 'href="/shop/1/x/"' not in page
    assert 'id="mark-all-read"' in page


def test_it_marks_one_and_all_read_from_the_inbox(client, alice_shop, team):
    emit(alice_shop)
    emit(alice_shop, key="signature_rejected:2")
    one = Notification.objects.filter(recipient=team["owner"]).first()
    client.force_login(team["owner"])
    response = client.post(reverse("portal:notification_read", args=[alice_shop.pk, one.pk]), {"page": "1"})
    assert response.status_code == 302 and response["Location"].endswith("/notifications/?page=1")
    one.refresh_from_db()
    assert one.read_at is not None
    # Another member's notification: untouched, and answered as one that does not exist.
    theirs = Notification.objects.filter(recipient=team["operator"]).first()
    response = client.post(reverse("portal:notification_read", args=[alice_shop.pk, theirs.pk]))
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None
    response = client.post(reverse("portal:notifications_read_all", args=[alice_shop.pk]), follow=True)
    assert "已将 1 条消息标为已读。" in response.content.decode()
    assert not Notification.objects.filter(recipient=team["owner"], read_at__isnull=True).exists()
    assert client.get(reverse("portal:notifications_read_all", args=[alice_shop.pk])).status_code == 405


def test_it_paginates_the_inbox(client, alice_shop, alice):
    for i in range(25):
        emit(alice_shop, key=f"signature_rejected:{i}")
    client.force_login(alice)
    page = client.get(reverse("portal:notifications", args=[alice_shop.pk]) + "?page=2").content.decode()
    assert "第 2 / 2 页，共 25 条" in page
    assert page.count('class="notification unread"') == 5


def test_it_saves_the_members_own_preferences_from_the_settings_page(client, alice_shop, team):
    client.force_login(team["analyst"])
    url = reverse("portal:notification_settings", args=[alice_shop.pk])
    page = client.get(url).content.decode()
    assert 'name="inbox_campaign_finished" checked' in page
    assert 'name="email_campaign_finished" checked' not in page
    assert 'id="no-email-warning"' not in page
    response = client.post(url, {"inbox_balance_low": "on", "email_campaign_finished": "on"})
    assert response.status_code == 302
    chosen = {
        p.kind: (p.inbox, p.email)
        for p in NotificationPreference.objects.filter(membership__user=team["analyst"])
    }
    assert len(chosen) == len(Kind)
    assert chosen[Kind.BALANCE_LOW] == (True, False)
    assert chosen[Kind.CAMPAIGN_FINISHED] == (False, True)
    assert chosen[Kind.CAMPAIGN_STOPPED] == (False, False)
    # Only the analyst's own rows changed.
    assert not NotificationPreference.objects.exclude(membership__user=team["analyst"]).exists()


def test_it_warns_a_member_without_an_email_address(client, alice_shop, alice):
    client.force_login(alice)
    page = client.get(reverse("portal:notification_settings", args=[alice_shop.pk])).content.decode()
    assert 'id="no-email-warning"' in page and "没有设置邮箱地址" in page


def test_it_hides_another_shops_inbox(client, alice_shop, bob, bob_shop):
    emit(alice_shop)
    client.force_login(bob)
    for name in ("portal:notifications", "portal:notification_settings"):
        assert client.get(reverse(name, args=[alice_shop.pk])).status_code == 404
    assert client.post(reverse("portal:notifications_read_all", args=[alice_shop.pk])).status_code == 404


def test_it_runs_the_same_queries_on_the_inbox_with_few_or_many_notifications(
    client, alice_shop, alice, django_assert_max_num_queries
):

    url = reverse("portal:notifications", args=[alice_shop.pk])
    client.force_login(alice)
    emit(alice_shop)

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    few = count()
    for i in range(60):
        emit(alice_shop, key=f"signature_rejected:many:{i}")
    assert count() == few
    with django_assert_max_num_queries(10):
        client.get(url)


def test_it_costs_a_shop_page_exactly_one_query_for_the_bell(client, alice_shop, alice, settings):

    url = reverse("portal:account", args=[alice_shop.pk])
    client.force_login(alice)

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    with_bell = count()
    for i in range(50):
        emit(alice_shop, key=f"signature_rejected:bell:{i}")
    assert count() == with_bell
    processors = settings.TEMPLATES[0]["OPTIONS"]["context_processors"]
    settings.TEMPLATES = [
        {
            **settings.TEMPLATES[0],
            "OPTIONS": {
                **settings.TEMPLATES[0]["OPTIONS"],
                "context_processors": [p for p in processors if not p.endswith(".notifications")],
            },
        }
    ]
    assert count() == with_bell - 1


def test_it_opens_a_notices_page_and_marks_it_read_on_the_way(client, alice_shop, alice):
    emit(alice_shop)
    notice = Notification.objects.get()
    client.force_login(alice)
    url = reverse("portal:notification_read", args=[alice_shop.pk, notice.pk])
    response = client.post(url, {"open": "1"})
    assert response.status_code == 302 and response["Location"] == f"/shop/{alice_shop.pk}/"
    notice.refresh_from_db()
    assert notice.read_at is not None
    page = client.get(reverse("portal:notifications", args=[alice_shop.pk])).content.decode()
    assert f'href="/shop/{alice_shop.pk}/"' in page  # read: a plain link now
    # A link that is not a path of this site is never followed.
    Notification.objects.filter(pk=notice.pk).update(link="//evil.example.com/", read_at=None)
    response = client.post(url, {"open": "1"})
    assert response["Location"] == reverse("portal:notifications", args=[alice_shop.pk])


def test_it_purges_notifications_older_than_half_a_year_with_their_mails(alice_shop, team):


    now = timezone.now()
    emit(alice_shop, key="old", now=now - RETENTION - timedelta(minutes=1))
    emit(alice_shop, key="recent", now=now - RETENTION + timedelta(minutes=1))
    assert MailDelivery.objects.count() == 4
    assert notifications_purge(now=now) == 2
    assert set(Notification.objects.values_list("event_key", flat=True)) == {"recent"}
    assert MailDelivery.objects.count() == 2
    assert notifications_purge(now=now) == 0
    schedule = Schedule.objects.get(name="smsmarketing-purge-notifications")
    assert schedule.func == "smsmarketing.tasks.purge_notifications"
    assert Schedule.objects.get(name="smsmarketing-send-notification-mails").minutes == 1
