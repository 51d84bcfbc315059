"""Journey 1: a new merchant activates SMS, recharges and submits a signature; a reviewer approves it.

Every page is checked at 1440x900 and at 390x844 (tests/e2e/page_checks.py)."""

from __future__ import annotations

import pytest

from reviews.models import Signature
from smsmarketing.models import LedgerEntry, RechargeOrder, SmsAccount
from tests.factories import PASSWORD, make_reviewer, make_shop, make_user

JOURNEY = "signature"

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_it_takes_a_new_merchant_from_login_to_a_live_signature(journey):
    dora = make_user("dora")
    shop = make_shop("朵拉家居", owner=dora)
    rita = make_reviewer("rita")

    merchant = journey.open()
    journey.visit_both(merchant, "/accounts/login/", "login")
    journey.login(merchant, "dora", PASSWORD)
    assert merchant.url.endswith(f"/shop/{shop.pk}/")
    merchant.get_by_text("短信服务尚未开通").wait_for()
    assert merchant.locator("#setup-steps li.done").count() == 0
    journey.check_both(merchant, "dashboard-not-activated")

    # Activate: the terms must be accepted; refusing keeps the merchant on the page with the error.
    merchant.click("#balance-card a.button")
    merchant.locator("#activation").wait_for()
    merchant.click("#activation button[type=submit]")
    merchant.locator("#activation .errorlist").wait_for()
    assert not SmsAccount.objects.filter(shop=shop, activated_at__isnull=False).exists()
    journey.check_both(merchant, "activation-terms-required")
    merchant.check("#activation input[type=checkbox]")
    merchant.click("#activation button[type=submit]")
    merchant.get_by_text("短信服务已开通").wait_for()
    journey.check_both(merchant, "account-activated")

    # Recharge the smallest package in the benefits centre, after its confirmation.
    merchant.click("text=去充值")
    merchant.locator("#packages").wait_for()
    journey.check_both(merchant, "recharge-packages")
    merchant.locator("#packages .package button[type=submit]").first.click()
    merchant.locator("#recharge-confirm").wait_for()
    assert not RechargeOrder.objects.filter(account__shop=shop).exists()
    journey.check_both(merchant, "recharge-confirm")
    merchant.click("#confirm-pay")
    merchant.get_by_text("充值成功").wait_for()
    order = RechargeOrder.objects.get(account__shop=shop)
    assert order.status == RechargeOrder.Status.PAID
    assert "模拟支付（演示）" in merchant.inner_text("#records")
    journey.check_both(merchant, "recharge-records")
    merchant.click("nav.tabs >> text=账户概览")
    balance = SmsAccount.objects.get(shop=shop).balance
    assert balance == order.units
    assert merchant.inner_text("#balance").replace(",", "").startswith(str(balance))
    assert f"{balance:,}" in merchant.inner_text("#balance")
    merchant.locator("#balance-chart").wait_for()
    assert LedgerEntry.objects.filter(account__shop=shop, kind=LedgerEntry.Kind.RECHARGE).count() == 1
    journey.check_both(merchant, "account-overview")

    # The signature form shows rule findings as the merchant types, then takes a good one.
    merchant.click("nav.sidenav >> text=短信签名")
    journey.ready(merchant)
    merchant.fill("#id_text", "京东朵拉")
    merchant.locator("#signature-findings li[data-rule=SIG-PLATFORM]").wait_for()
    assert merchant.locator("#signature-findings mark.finding").count() >= 1
    journey.check_both(merchant, "signature-finding")
    merchant.fill("#id_text", "朵拉家居")
    merchant.locator("#signature-findings .notice-success").wait_for()
    merchant.click("#signature-form button[type=submit]")
    merchant.get_by_text("签名已提交审核").wait_for()
    assert merchant.inner_text("#pending-signature").find("朵拉家居") >= 0
    signature = Signature.objects.get(shop=shop)
    assert signature.state == "pending"
    journey.check_both(merchant, "signature-pending")

    # The reviewer approves it in the admin workbench.
    reviewer = journey.open()
    journey.visit_both(reviewer, "/admin/login/", "admin-login", merchant=False)
    journey.login(reviewer, rita.username, PASSWORD, admin=True)
    reviewer.goto("/admin/reviews/signature/")
    row = reviewer.locator("#result_list tr", has_text="朵拉家居")
    row.wait_for()
    journey.check_both(reviewer, "admin-signature-queue", merchant=False)
    row.locator("a.button", has_text="审核").click()
    reviewer.locator("#review-decide-form").wait_for()
    reviewer.check("#review-decide-form input[value=approve]")
    journey.check_both(reviewer, "admin-signature-decide", merchant=False)
    reviewer.click("#review-decide-form input[type=submit]")
    reviewer.get_by_text("已通过").first.wait_for()
    signature.refresh_from_db()
    assert signature.state == "approved" and signature.decided_by == rita
    journey.check_both(reviewer, "admin-signature-approved", merchant=False)

    # The merchant sees it live.
    merchant.reload()
    assert "【朵拉家居】" in merchant.inner_text("#live-signature")
    journey.check_both(merchant, "signature-live")
    merchant.click("nav.sidenav >> text=概览")
    done = merchant.locator("#setup-steps li.done").all_inner_texts()
    assert [text.split()[1] for text in done] == ["开通短信服务", "购买短信套餐", "设置短信签名"]
    assert "【朵拉家居】已生效" in merchant.inner_text("#setup-steps")
    journey.check_both(merchant, "dashboard-next-steps")
    journey.assert_console_clean()
