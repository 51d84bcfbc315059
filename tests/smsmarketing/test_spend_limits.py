"""Spending limits (消费上限): the owner's caps, the reservation's guard, refunds, periods."""

from __future__ import annotations

import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connections
from django.urls import reverse

from smsmarketing.errors import AccountNotActive, InvalidUnits, SpendLimitReached
from smsmarketing.models import LedgerEntry, Membership, Reservation, SmsAccount, SpendCounter
from smsmarketing.permissions import NotShopMember, RoleRequired
from smsmarketing.services import account_charge, account_release, account_reserve
from smsmarketing.services.spend_limits import (
    account_set_spend_limits,
    period_end,
    spend_limit_state,
)
from tests.factories import make_active_account, make_user

SH = ZoneInfo("Asia/Shanghai")
NOON = datetime(2026, 6, 15, 12, 0, tzinfo=SH)


@pytest.fixture
def account(alice, alice_shop) -> SmsAccount:
    with time_machine.travel(NOON, tick=False):
        return make_active_account(alice_shop, balance=50_000, user=alice)


def counters(account) -> dict:
    return {
        (c.period, c.period_start.isoformat()): c.spent for c in SpendCounter.objects.filter(account=account)
    }


@pytest.mark.django_db
def test_it_sets_and_clears_the_limits_as_the_owner(alice, alice_shop, account):
    account_set_spend_limits(shop=alice_shop, user=alice, daily=1_000, monthly=20_000)
    account.refresh_from_db()
    assert (account.daily_spend_limit, account.monthly_spend_limit) == (1_000, 20_000)
    account_set_spend_limits(shop=alice_shop, user=alice, daily=None, monthly="")
    account.refresh_from_db()
    assert (account.daily_spend_limit, account.monthly_spend_limit) == (None, None)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("daily", "monthly", "message"),
    [
        (0, None, "每日消费上限必须是大于 0 的整数"),
        (-5, None, "每日消费上限必须是大于 0 的整数"),
        ("100", None, "每日消费上限必须是大于 0 的整数"),
        (True, None, "每日消费上限必须是大于 0 的整数"),
        (1.5, None, "每日消费上限必须是大于 0 的整数"),
        (None, 0, "每月消费上限必须是大于 0 的整数"),
        (None, 100_000_001, "每月消费上限不能超过 100,000,000 条"),
        (2_000, 1_000, "每月消费上限（1,000 条）不能小于每日消费上限（2,000 条）"),
    ],
)
def test_it_refuses_bad_limits_in_chinese_and_writes_nothing(
    alice, alice_shop, account, daily, monthly, message
):
    with pytest.raises(InvalidUnits) as refused:
        account_set_spend_limits(shop=alice_shop, user=alice, daily=daily, monthly=monthly)
    assert message in refused.value.message
    account.refresh_from_db()
    assert (account.daily_spend_limit, account.monthly_spend_limit) == (None, None)


@pytest.mark.django_db
def test_it_refuses_an_operator_an_analyst_and_a_stranger(alice_shop, account, bob):
    operator, analyst = make_user("op"), make_user("an")
    Membership.objects.create(user=operator, shop=alice_shop, role=Membership.Role.OPERATOR)
    Membership.objects.create(user=analyst, shop=alice_shop, role=Membership.Role.ANALYST)
    for user in (operator, analyst):
        with pytest.raises(RoleRequired) as refused:
            account_set_spend_limits(shop=alice_shop, user=user, daily=10, monthly=None)
        assert refused.value.rule == "ROLE-REQUIRED" and "店主" in refused.value.message
    with pytest.raises(NotShopMember):
        account_set_spend_limits(shop=alice_shop, user=bob, daily=10, monthly=None)
    account.refresh_from_db()
    assert account.daily_spend_limit is None


@pytest.mark.django_db
def test_it_needs_an_active_account(bob, bob_shop):
    with pytest.raises(AccountNotActive):
        account_set_spend_limits(shop=bob_shop, user=bob, daily=10, monthly=None)


@pytest.mark.django_db
def test_it_reserves_up_to_the_daily_cap_and_refuses_beyond_it_holding_nothing(alice, alice_shop, account):
    account_set_spend_limits(shop=alice_shop, user=alice, daily=1_000, monthly=None)
    with time_machine.travel(NOON, tick=False):
        account_reserve(shop_id=alice_shop.pk, parts=600, reference="r1")
        account_reserve(shop_id=alice_shop.pk, parts=400, reference="r2")  # exactly the cap
        with pytest.raises(SpendLimitReached) as refused:
            account_reserve(shop_id=alice_shop.pk, parts=1, reference="r3")
    assert refused.value.rule == "SPEND-LIMIT" and refused.value.period == "day"
    assert "超出每日消费上限" in refused.value.message and "上限 1,000 条" in refused.value.message
    account.refresh_from_db()
    assert (account.balance, account.reserved) == (49_000, 1_000)
    assert not Reservation.objects.filter(reference="r3").exists()
    assert not LedgerEntry.objects.filter(reference="r3").exists()
    assert counters(account) == {("day", "2026-06-15"): 1_000, ("month", "2026-06-01"): 1_000}


@pytest.mark.django_db
def test_it_holds_the_monthly_cap_across_days(alice, alice_shop, account):
    account_set_spend_limits(shop=alice_shop, user=alice, daily=1_000, monthly=1_500)
    with time_machine.travel(NOON, tick=False):
        account_reserve(shop_id=alice_shop.pk, parts=1_000, reference="d1")
    with time_machine.travel(datetime(2026, 6, 16, 9, 0, tzinfo=SH), tick=False):
        with pytest.raises(SpendLimitReached) as refused:
            account_reserve(shop_id=alice_shop.pk, parts=501, reference="d2")
        assert refused.value.period == "month"
        account_reserve(shop_id=alice_shop.pk, parts=500, reference="d2")
        state = spend_limit_state(account_id=account.pk)
        assert (state.daily_used, state.monthly_used, state.left, state.binding) == (500, 1_500, 0, "month")
    # A new month: the cap is whole again.
    with time_machine.travel(datetime(2026, 7, 1, 0, 0, 1, tzinfo=SH), tick=False):
        state = spend_limit_state(account_id=account.pk)
        assert (state.daily_used, state.monthly_used, state.left) == (0, 0, 1_000)
        account_reserve(shop_id=alice_shop.pk, parts=1_000, reference="d3")


@pytest.mark.django_db
def test_the_day_rolls_over_at_midnight_in_shanghai(alice, alice_shop, account):
    account_set_spend_limits(shop=alice_shop, user=alice, daily=100, monthly=None)
    with time_machine.travel(datetime(2026, 6, 15, 23, 59, 59, tzinfo=SH), tick=False):
        account_reserve(shop_id=alice_shop.pk, parts=100, reference="late")
        with pytest.raises(SpendLimitReached):
            account_reserve(shop_id=alice_shop.pk, parts=1, reference="later")
        assert period_end("day") == datetime(2026, 6, 16, 0, 0, tzinfo=SH)
        assert period_end("month") == datetime(2026, 7, 1, 0, 0, tzinfo=SH)
    with time_machine.travel(datetime(2026, 6, 16, 0, 0, 1, tzinfo=SH), tick=False):
        account_reserve(shop_id=alice_shop.pk, parts=100, reference="later")
    assert counters(account)[("day", "2026-06-16")] == 100


@pytest.mark.django_db
def test_a_refund_gives_the_cap_back_to_the_reservations_own_day_not_a_charge(alice, alice_shop, account):
    account_set_spend_limits(shop=alice_shop, user=alice, daily=1_000, monthly=None)
    with time_machine.travel(NOON, tick=False):
        account_reserve(shop_id=alice_shop.pk, parts=1_000, reference="r1")
        account_charge(reference="r1", parts=700, key="k1")
        assert spend_limit_state(account_id=account.pk).daily_used == 1_000
        account_release(reference="r1", parts=300, key="k2")
        assert spend_limit_state(account_id=account.pk).daily_used == 700
        account_reserve(shop_id=alice_shop.pk, parts=300, reference="r2")
    # A refund the next day of yesterday's reservation gives back yesterday, not today.
    with time_machine.travel(datetime(2026, 6, 16, 9, 0, tzinfo=SH), tick=False):
        account_reserve(shop_id=alice_shop.pk, parts=1_000, reference="r3")
        account_release(reference="r2", parts=300, key="k3")
        assert spend_limit_state(account_id=account.pk).daily_used == 1_000
    assert counters(account) == {
        ("day", "2026-06-15"): 700,
        ("day", "2026-06-16"): 1_000,
        ("month", "2026-06-01"): 1_700,
    }


@pytest.mark.django_db
def test_lowering_the_cap_below_todays_use_is_allowed_and_stops_reserving(alice, alice_shop, account):
    with time_machine.travel(NOON, tick=False):
        account_reserve(shop_id=alice_shop.pk, parts=800, reference="r1")  # counted without a cap
        account_set_spend_limits(shop=alice_shop, user=alice, daily=500, monthly=None)
        state = spend_limit_state(account_id=account.pk)
        assert (state.daily_used, state.daily_limit, state.left) == (800, 500, 0)
        with pytest.raises(SpendLimitReached):
            account_reserve(shop_id=alice_shop.pk, parts=1, reference="r2")


@pytest.mark.django_db(transaction=True)
def test_eight_threads_reserving_at_once_never_pass_the_cap(alice, alice_shop, account):
    account_set_spend_limits(shop=alice_shop, user=alice, daily=1_000, monthly=None)
    start = threading.Barrier(8)
    outcomes: list = []

    def reserve(i: int) -> None:
        try:
            start.wait(timeout=30)
            with time_machine.travel(NOON, tick=False):
                account_reserve(shop_id=alice_shop.pk, parts=300, reference=f"t{i}")
            outcomes.append("ok")
        except SpendLimitReached:
            outcomes.append("limit")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=reserve, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["limit"] * 5 + ["ok"] * 3
    account.refresh_from_db()
    assert account.reserved == 900
    assert counters(account)[("day", "2026-06-15")] == 900


# --- the account page (短信账户 · 消费上限) ------------------------------------------


def page(shop) -> str:
    return reverse("portal:account", args=[shop.pk])


def post_url(shop) -> str:
    return reverse("portal:account_spend_limits", args=[shop.pk])


@pytest.mark.django_db
def test_the_owner_sets_the_limits_on_the_account_page_and_sees_the_use(client, alice, alice_shop, account):
    client.force_login(alice)
    with time_machine.travel(NOON, tick=False):
        account_reserve(shop_id=alice_shop.pk, parts=800, reference="r1")
        response = client.post(post_url(alice_shop), {"daily": "1000", "monthly": ""}, follow=True)
        body = response.content.decode()
    account.refresh_from_db()
    assert (account.daily_spend_limit, account.monthly_spend_limit) == (1_000, None)
    assert "消费上限已保存" in body
    assert 'id="spend-limits"' in body
    assert "今日已用 <strong>800</strong> 条 / 每日上限 <strong>1,000</strong> 条" in body
    assert "本月已用 <strong>800</strong> 条 / 每月上限 不限" in body


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("daily", "monthly", "message"),
    [("0", "", "确保该值大于或等于1"), ("abc", "", "输入整数"), ("500", "100", "不能小于每日消费上限")],
)
def test_a_bad_limit_on_the_page_is_refused_in_chinese(client, alice, alice_shop, account, daily, monthly, message):  # noqa: E501
    client.force_login(alice)
    response = client.post(post_url(alice_shop), {"daily": daily, "monthly": monthly}, follow=True)
    body = response.content.decode()
    assert "notice-error" in body and message in body
    account.refresh_from_db()
    assert account.daily_spend_limit is None and account.monthly_spend_limit is None


@pytest.mark.django_db
def test_an_operator_sees_the_use_but_cannot_change_the_limits(client, alice_shop, account):
    operator = make_user("op")
    Membership.objects.create(user=operator, shop=alice_shop, role=Membership.Role.OPERATOR)
    client.force_login(operator)
    body = client.get(page(alice_shop)).content.decode()
    assert 'id="spend-limits"' in body and "只有店主可以修改消费上限" in body
    assert post_url(alice_shop) not in body
    response = client.post(post_url(alice_shop), {"daily": "10", "monthly": ""})
    assert response.status_code == 403 and "店主" in response.content.decode()
    account.refresh_from_db()
    assert account.daily_spend_limit is None
