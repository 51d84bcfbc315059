"""Merchant pages of the SMS account: overview, activation, recharge, records, CSV, dashboard."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from smsmarketing.models import LedgerEntry, RechargeOrder, RechargePackage, SmsAccount
from smsmarketing.services import account_charge, account_grant, account_release, account_reserve, recharge
from tests.factories import make_active_account

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
ACCOUNT_PAGES = [
    "portal:account",
    "portal:account_recharge",
    "portal:account_recharges",
    "portal:account_issuances",
    "portal:account_consumption",
]
POST_PAGES = ["portal:account_activate", "portal:account_threshold", "portal:account_recharge_confirm"]


def url(name: str, shop, **query) -> str:
    base = reverse(name, args=[shop.pk])
    if not query:
        return base
    return base + "?" + "&".join(f"{k}={v}" for k, v in query.items())


@pytest.fixture
def merchant(client, alice, alice_shop):
    client.force_login(alice)
    return client


def csv_rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


# --- overview and activation ---------------------------------------------------------


def test_it_offers_activation_with_the_terms(merchant, alice_shop):
    response = merchant.get(url("portal:account", alice_shop))
    body = response.content.decode()
    assert response.status_code == 200
    assert "开通短信服务" in body and "《短信服务协议》" in body


def test_it_does_not_activate_without_the_tick(merchant, alice_shop):
    response = merchant.post(url("portal:account_activate", alice_shop), {})
    assert response.status_code == 400
    assert "请阅读并勾选同意" in response.content.decode()
    assert not SmsAccount.objects.filter(status="active").exists()


def test_it_activates_and_shows_the_balance(merchant, alice_shop):
    response = merchant.post(url("portal:account_activate", alice_shop), {"accept_terms": "on"})
    assert response.status_code == 302
    account = SmsAccount.objects.get(shop=alice_shop)
    assert account.is_active
    body = merchant.get(url("portal:account", alice_shop)).content.decode()
    assert "可用余量" in body and "冻结中" in body and "开通时间" in body
    assert "短信服务已开通" in body


def test_a_restricted_shop_sees_why_and_cannot_activate(client, charlie, charlie_shop):
    client.force_login(charlie)
    body = client.get(url("portal:account", charlie_shop)).content.decode()
    assert "短信服务不可用" in body and 'id="activation"' not in body
    response = client.post(url("portal:account_activate", charlie_shop), {"accept_terms": "on"})
    assert response.status_code == 400 and "敏感类目" in response.content.decode()
    assert not SmsAccount.objects.exists()


def test_the_overview_shows_balance_reserved_and_recent_entries(merchant, alice_shop):
    make_active_account(alice_shop, balance=12_345)
    account_reserve(shop_id=alice_shop.pk, parts=45, reference="camp-7")
    body = merchant.get(url("portal:account", alice_shop)).content.decode()
    assert "12,300 条" in body and "45 条" in body
    assert "camp-7" in body and "发送冻结" in body


def test_the_merchant_sets_the_low_balance_threshold(merchant, alice_shop):
    make_active_account(alice_shop)
    response = merchant.post(url("portal:account_threshold", alice_shop), {"threshold": "2000"})
    assert response.status_code == 302
    assert SmsAccount.objects.get(shop=alice_shop).low_balance_threshold == 2000


@pytest.mark.parametrize("value", ["-1", "abc", "", "1000000000000"])
def test_a_bad_threshold_is_refused_and_kept(merchant, alice_shop, value):
    make_active_account(alice_shop)
    response = merchant.post(url("portal:account_threshold", alice_shop), {"threshold": value}, follow=True)
    assert SmsAccount.objects.get(shop=alice_shop).low_balance_threshold == 500
    assert "notice-error" in response.content.decode()


# --- dashboard warning ---------------------------------------------------------------


def test_the_dashboard_warns_below_the_threshold(merchant, alice_shop):
    make_active_account(alice_shop, balance=100)  # default threshold 500
    body = merchant.get(url("portal:dashboard", alice_shop)).content.decode()
    assert 'id="low-balance-warning"' in body and "余量不足" in body


def test_the_dashboard_does_not_warn_above_the_threshold_or_when_turned_off(merchant, alice_shop):
    make_active_account(alice_shop, balance=600)
    body = merchant.get(url("portal:dashboard", alice_shop)).content.decode()
    assert "low-balance-warning" not in body and "600 条" in body
    merchant.post(url("portal:account_threshold", alice_shop), {"threshold": "0"})
    account_reserve(shop_id=alice_shop.pk, parts=600, reference="all")
    assert "low-balance-warning" not in merchant.get(url("portal:dashboard", alice_shop)).content.decode()


def test_the_dashboard_invites_to_activate(merchant, alice_shop):
    body = merchant.get(url("portal:dashboard", alice_shop)).content.decode()
    assert "去开通" in body


# --- recharge -----------------------------------------------------------------------


def test_the_benefits_centre_lists_the_packages(merchant, alice_shop):
    make_active_account(alice_shop)
    body = merchant.get(url("portal:account_recharge", alice_shop)).content.decode()
    for text in ["1,000 条", "10,000 条", "100,000 条", "¥50.00", "¥450.00", "¥4,000.00"]:
        assert text in body


def confirmation(merchant, shop, package) -> tuple[str, dict]:
    """The confirmation page of ``package`` and the form data its 确认支付 button posts."""
    response = merchant.get(url("portal:account_recharge_confirm", shop, package=package.pk))
    assert response.status_code == 200
    body = response.content.decode()
    form = body.split('id="recharge-confirm"')[1]
    data = {
        name: form.split(f'name="{name}" value="')[1].split('"')[0] for name in ("package", "quote", "token")
    }
    return body, data


def test_the_purchase_button_only_opens_a_confirmation(merchant, alice_shop):
    make_active_account(alice_shop, balance=120)
    package = RechargePackage.objects.get(units=1_000)
    page = merchant.get(url("portal:account_recharge", alice_shop)).content.decode()
    packages = page.split('id="packages"')[1]
    assert url("portal:account_recharge_confirm", alice_shop) in packages and 'method="post"' not in packages
    body, data = confirmation(merchant, alice_shop, package)
    shown = [package.name, "1,000 条", "¥50.00", "120 条", "1,120 条", "模拟支付（演示）", "确认支付", "取消"]
    for text in shown:
        assert text in body, text
    assert data["package"] == str(package.pk) and data["quote"] and data["token"]
    # Looking (and cancelling, a plain link back) orders and charges nothing.
    assert not RechargeOrder.objects.exists() and SmsAccount.objects.get(shop=alice_shop).balance == 120
    assert f'href="{url("portal:account_recharge", alice_shop)}" id="confirm-cancel"' in body


def test_a_merchant_buys_a_package_after_confirming(merchant, alice_shop):
    make_active_account(alice_shop)
    package = RechargePackage.objects.get(units=1_000)
    _body, data = confirmation(merchant, alice_shop, package)
    response = merchant.post(url("portal:account_recharge_confirm", alice_shop), data, follow=True)
    assert response.redirect_chain[-1][0] == url("portal:account_recharges", alice_shop)
    body = response.content.decode()
    assert "充值成功" in body and "模拟支付（演示）" in body and "simulated" not in body
    assert SmsAccount.objects.get(shop=alice_shop).balance == 1_000
    assert RechargeOrder.objects.get().status == "paid"


def test_the_old_one_click_purchase_is_gone(merchant, alice_shop):
    make_active_account(alice_shop)
    package = RechargePackage.objects.get(units=1_000)
    response = merchant.post(url("portal:account_recharge", alice_shop), {"package": package.pk})
    assert response.status_code == 405
    assert not RechargeOrder.objects.exists()


def test_a_purchase_without_the_confirmed_figures_is_refused(merchant, alice_shop):
    make_active_account(alice_shop)
    package = RechargePackage.objects.get(units=1_000)
    response = merchant.post(url("portal:account_recharge_confirm", alice_shop), {"package": package.pk})
    assert response.status_code == 400 and "已变化" in response.content.decode()
    assert not RechargeOrder.objects.exists()


def test_a_stale_confirmation_is_refused_and_shows_the_new_price(merchant, alice_shop):
    make_active_account(alice_shop)
    package = RechargePackage.objects.get(units=1_000)
    _body, data = confirmation(merchant, alice_shop, package)
    RechargePackage.objects.filter(pk=package.pk).update(price="55.00")  # the operator edits it meanwhile
    response = merchant.post(url("portal:account_recharge_confirm", alice_shop), data)
    body = response.content.decode()
    assert response.status_code == 400
    assert "内容或价格已变化" in body and "本次未扣款" in body and "¥55.00" in body
    assert not RechargeOrder.objects.exists() and SmsAccount.objects.get(shop=alice_shop).balance == 0
    fresh = body.split('name="quote" value="')[1].split('"')[0]
    assert fresh != data["quote"]
    merchant.post(url("portal:account_recharge_confirm", alice_shop), {**data, "quote": fresh})
    assert RechargeOrder.objects.get().price == Decimal("55.00")


@pytest.mark.parametrize("value", ["999999", "x", ""])
def test_buying_an_unknown_package_shows_an_error_and_changes_nothing(merchant, alice_shop, value):
    make_active_account(alice_shop)
    for response in (
        merchant.get(url("portal:account_recharge_confirm", alice_shop, package=value)),
        merchant.post(url("portal:account_recharge_confirm", alice_shop), {"package": value, "quote": "x"}),
    ):
        assert response.status_code == 400
        assert "套餐不存在或已下架" in response.content.decode()
    assert not RechargeOrder.objects.exists() and SmsAccount.objects.get(shop=alice_shop).balance == 0


def test_buying_before_activation_is_refused(merchant, alice_shop):
    package = RechargePackage.objects.get(units=1_000)
    response = merchant.get(url("portal:account_recharge_confirm", alice_shop, package=package.pk))
    assert response.status_code == 400 and "请先开通短信服务" in response.content.decode()
    response = merchant.post(url("portal:account_recharge_confirm", alice_shop), {"package": package.pk})
    assert response.status_code == 400 and "请先开通短信服务" in response.content.decode()
    assert not RechargeOrder.objects.exists()


# --- record pages ---------------------------------------------------------------------


def test_recharge_records_list_and_export(merchant, alice, alice_shop):
    make_active_account(alice_shop)
    order = recharge(shop=alice_shop, user=alice, package_id=RechargePackage.objects.get(units=1_000).pk)
    body = merchant.get(url("portal:account_recharges", alice_shop)).content.decode()
    assert order.order_no in body and "已到账" in body and "¥50.00" in body
    rows = csv_rows(merchant.get(url("portal:account_recharges", alice_shop, export="csv")))
    assert rows[0][:3] == ["订单号", "套餐", "条数"]
    assert rows[1][0] == order.order_no and rows[1][2] == "1000" and rows[1][3] == "50.00"


def test_issuance_records_show_every_credit_but_no_consumption(merchant, alice, alice_shop):
    make_active_account(alice_shop, balance=100)
    recharge(shop=alice_shop, user=alice, package_id=RechargePackage.objects.get(units=1_000).pk)
    account_reserve(shop_id=alice_shop.pk, parts=9, reference="camp-9")
    body = merchant.get(url("portal:account_issuances", alice_shop)).content.decode()
    assert "平台发放" in body and "充值到账" in body and "测试发放" in body
    assert "camp-9" not in body


def test_consumption_records_show_reservations_charges_and_releases(merchant, alice_shop):
    make_active_account(alice_shop, balance=100)
    account_reserve(shop_id=alice_shop.pk, parts=9, reference="camp-9")
    account_charge(reference="camp-9", parts=5, key="c")
    account_release(reference="camp-9", parts=4, key="r")
    body = merchant.get(url("portal:account_consumption", alice_shop)).content.decode()
    assert "发送冻结" in body and "发送扣费" in body and "失败退回" in body
    assert "测试发放" not in body
    rows = csv_rows(merchant.get(url("portal:account_consumption", alice_shop, export="csv")))
    assert [r[1] for r in rows[1:]] == ["失败退回", "发送扣费", "发送冻结"]
    assert rows[0][:5] == ["时间", "类型", "用途", "条数", "可用余量变化"] and rows[0][-1] == "关联单号"
    assert [r[4] for r in rows[1:]] == ["4", "0", "-9"]  # numbers stay numbers
    assert [r[-1] for r in rows[1:]] == ["camp-9"] * 3  # the reference stays in the export


def test_records_are_paginated(merchant, alice_shop):
    make_active_account(alice_shop)
    for n in range(25):
        account_grant(shop_id=alice_shop.pk, units=1, reason=f"第{n}次", actor=None)
    first = merchant.get(url("portal:account_issuances", alice_shop)).content.decode()
    second = merchant.get(url("portal:account_issuances", alice_shop, page=2)).content.decode()
    assert first.count("<tr>") == 21 and "第 1 / 2 页，共 25 条" in first  # 20 rows + the header
    assert second.count("<tr>") == 6 and "第0次" in second and "第24次" in first


def test_records_filter_by_local_date(merchant, alice_shop):
    make_active_account(alice_shop)
    # 23:30 in Shanghai on 1 Nov is 15:30 UTC: it belongs to 1 Nov locally.
    with time_machine.travel(datetime(2026, 11, 1, 23, 30, tzinfo=SHANGHAI), tick=False):
        account_grant(shop_id=alice_shop.pk, units=11, reason="一号", actor=None)
    with time_machine.travel(datetime(2026, 11, 2, 0, 30, tzinfo=SHANGHAI), tick=False):
        account_grant(shop_id=alice_shop.pk, units=22, reason="二号", actor=None)
    body = merchant.get(
        url("portal:account_issuances", alice_shop, start="2026-11-01", end="2026-11-01")
    ).content
    assert "一号" in body.decode() and "二号" not in body.decode()
    rows = csv_rows(
        merchant.get(url("portal:account_issuances", alice_shop, start="2026-11-02", export="csv"))
    )
    notes = [r[5] for r in rows[1:]]
    assert "二号" in notes and "一号" not in notes


def test_an_inverted_date_range_is_explained(merchant, alice_shop):
    make_active_account(alice_shop, balance=5)
    response = merchant.get(url("portal:account_issuances", alice_shop, start="2026-11-05", end="2026-11-01"))
    assert response.status_code == 200
    assert "开始日期不能晚于结束日期" in response.content.decode()


def test_exports_neutralise_formula_cells(merchant, alice_shop):
    make_active_account(alice_shop)
    for reason in ['=HYPERLINK("http://evil.example","点我")', "+1+1", "-2+3", "@SUM(A1)", "正常"]:
        account_grant(shop_id=alice_shop.pk, units=1, reason=reason, actor=None)
    rows = csv_rows(merchant.get(url("portal:account_issuances", alice_shop, export="csv")))
    notes = [r[5] for r in rows[1:]]
    assert '\'=HYPERLINK("http://evil.example","点我")' in notes
    assert {"'+1+1", "'-2+3", "'@SUM(A1)", "正常"} <= set(notes)
    assert not any(n[:1] in "=+-@" for n in notes if n)


def test_records_of_a_never_activated_shop_are_empty(merchant, alice_shop):
    for name in ACCOUNT_PAGES[2:]:
        response = merchant.get(url(name, alice_shop))
        assert response.status_code == 200 and "还没有" in response.content.decode()


# --- isolation and query counts -----------------------------------------------------------


@pytest.mark.parametrize("page", ACCOUNT_PAGES)
def test_another_shops_account_pages_are_404(merchant, bob_shop, page):
    make_active_account(bob_shop, balance=777)
    response = merchant.get(url(page, bob_shop))
    assert response.status_code == 404 and "777" not in response.content.decode()
    assert merchant.get(url(page, bob_shop, export="csv")).status_code == 404


@pytest.mark.parametrize("page", POST_PAGES)
def test_posts_to_another_shops_account_change_nothing(merchant, bob_shop, page):
    make_active_account(bob_shop, balance=7)
    package = RechargePackage.objects.get(units=1_000)
    response = merchant.post(
        url(page, bob_shop), {"accept_terms": "on", "threshold": "1", "package": package.pk}
    )
    assert response.status_code == 404
    account = SmsAccount.objects.get(shop=bob_shop)
    assert (account.balance, account.low_balance_threshold) == (7, 500)
    assert not RechargeOrder.objects.exists()


@pytest.mark.parametrize("page", ACCOUNT_PAGES)
def test_anonymous_users_go_to_login(client, alice_shop, page):
    response = client.get(url(page, alice_shop))
    assert response.status_code == 302 and reverse("login") in response["Location"]


@pytest.mark.parametrize("page", [*ACCOUNT_PAGES, "portal:dashboard"])
def test_pages_use_a_bounded_number_of_queries(
    merchant, alice, alice_shop, page, django_assert_max_num_queries
):
    make_active_account(alice_shop, balance=1_000)
    for n in range(30):
        account_reserve(shop_id=alice_shop.pk, parts=1, reference=f"r{n}")
        account_grant(shop_id=alice_shop.pk, units=1, reason="x", actor=alice)
    for _ in range(3):
        recharge(shop=alice_shop, user=alice, package_id=RechargePackage.objects.get(units=1_000).pk)
    # The dashboard composes every app (setup steps, reviews, recent campaigns, balance trend).
    # The account page: one more for the spending limits' use (消费上限, docs/SPEND_LIMITS.md).
    bound = 16 if page == "portal:dashboard" else 9
    with django_assert_max_num_queries(bound):
        assert merchant.get(url(page, alice_shop)).status_code == 200
    with django_assert_max_num_queries(bound):
        response = merchant.get(url(page, alice_shop, export="csv"))
        if page != "portal:dashboard" and page != "portal:account" and page != "portal:account_recharge":
            assert len(csv_rows(response)) > 3


def test_ledger_entries_have_everything_the_issue_asks_for(alice, alice_shop):
    make_active_account(alice_shop, balance=3)
    entry = LedgerEntry.objects.get()
    assert entry.kind and entry.amount == 3 and entry.balance_after == 3
    assert entry.actor_label and entry.created_at and entry.note == "测试发放"


def test_a_double_submitted_purchase_buys_once(merchant, alice_shop):
    make_active_account(alice_shop)
    package = RechargePackage.objects.get(units=1_000)
    _body, data = confirmation(merchant, alice_shop, package)
    for _ in range(2):
        assert merchant.post(url("portal:account_recharge_confirm", alice_shop), data).status_code == 302
    assert RechargeOrder.objects.count() == 1
    assert SmsAccount.objects.get(shop=alice_shop).balance == 1_000
    # A fresh confirmation is a fresh purchase.
    _body, fresh = confirmation(merchant, alice_shop, package)
    assert fresh["token"] != data["token"]
    merchant.post(url("portal:account_recharge_confirm", alice_shop), fresh)
    assert RechargeOrder.objects.count() == 2
