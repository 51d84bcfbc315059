"""Journey: recharge with confirmation, at 1440x900 and at 390x844.

购买 only opens a confirmation stating the package, the price, the parts, the balance after
and the payment method; 取消 charges nothing; a confirmation gone stale (the operator
changed the price meanwhile) is refused with the new price shown; confirming charges
once, even when the confirmation is submitted twice. Then the records name the campaign
a send was for, the dashboard shows the open reviews (an overdue one says it is delayed)
and the campaign's results, and an unknown address answers the portal's Chinese 404 page.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignRun, Message
from reviews.models import MessageTemplate, Signature
from smsmarketing.models import RechargeOrder, RechargePackage, SmsAccount
from smsmarketing.services import account_charge, account_reserve
from tests.campaigns.campaign_fixtures import MARKETING_TEXT
from tests.factories import PASSWORD, make_active_account, make_shop, make_user

JOURNEY = "recharge"

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_it_buys_a_package_only_after_a_confirmation_that_states_its_effect(journey):
    erin = make_user("erin")
    shop = make_shop("艾琳鲜花", owner=erin)
    make_active_account(shop, balance=120, user=erin)
    package = RechargePackage.objects.get(units=10_000)

    merchant = journey.open()
    journey.login(merchant, "erin", PASSWORD)
    journey.ready(merchant)
    journey.check_both(merchant, "dashboard")

    # The phone layout: the navigation opens from the menu button.
    merchant.set_viewport_size({"width": 390, "height": 844})
    assert not merchant.locator("#sidenav").is_visible()
    merchant.click(".nav-toggle")
    merchant.locator("#sidenav").wait_for()
    assert merchant.get_attribute(".nav-toggle", "aria-expanded") == "true"
    journey.check_both(merchant, "menu-open")
    merchant.click("#sidenav >> text=短信账户")
    merchant.click("nav.tabs >> text=权益中心")
    merchant.locator("#packages").wait_for()
    merchant.set_viewport_size({"width": 1366, "height": 768})
    journey.check_both(merchant, "packages")

    # 购买 shows what it will do; cancelling changes nothing.
    card = merchant.locator("#packages .package", has_text=package.name)
    card.locator("button[type=submit]").click()
    merchant.locator("#recharge-confirm").wait_for()
    assert merchant.inner_text("#confirm-package") == package.name
    assert merchant.inner_text("#confirm-price") == "¥450.00"
    assert merchant.inner_text("#confirm-units").startswith("10,000 条")
    assert merchant.inner_text("#confirm-balance") == "120 条"
    assert merchant.inner_text("#confirm-balance-after") == "10,120 条"
    assert merchant.inner_text("#confirm-payment") == "模拟支付（演示）"
    journey.check_both(merchant, "confirm")
    merchant.click("#confirm-cancel")
    merchant.locator("#packages").wait_for()
    assert not RechargeOrder.objects.exists() and SmsAccount.objects.get(shop=shop).balance == 120

    # A confirmation gone stale is refused, shows the new price, and charges nothing.
    card.locator("button[type=submit]").click()
    merchant.locator("#recharge-confirm").wait_for()
    RechargePackage.objects.filter(pk=package.pk).update(price=Decimal("480.00"))
    merchant.click("#confirm-pay")
    merchant.locator("#recharge-error").wait_for()
    assert "内容或价格已变化" in merchant.inner_text("#recharge-error")
    assert merchant.inner_text("#confirm-price") == "¥480.00"
    assert not RechargeOrder.objects.exists() and SmsAccount.objects.get(shop=shop).balance == 120
    journey.check_both(merchant, "confirm-stale")

    # Confirming the figures shown charges once, even if the same confirmation is sent twice.
    form = {
        name: merchant.get_attribute(f"#recharge-confirm input[name={name}]", "value")
        for name in ("csrfmiddlewaretoken", "package", "quote", "token")
    }
    merchant.click("#confirm-pay")
    merchant.get_by_text("充值成功").wait_for()
    again = merchant.request.post(
        merchant.url.replace("/recharges/", "/recharge/confirm/"),
        form=form,
        headers={"Referer": merchant.url},
        max_redirects=0,
    )
    assert again.status == 302
    order = RechargeOrder.objects.get()
    assert (order.status, order.units, order.price) == ("paid", 10_000, Decimal("480.00"))
    assert SmsAccount.objects.get(shop=shop).balance == 10_120
    assert "模拟支付（演示）" in merchant.inner_text("#records")
    journey.check_both(merchant, "records")

    # 消费记录 names the campaign a send was for and links to it.
    campaign = Campaign.objects.create(
        shop=shop, kind="marketing", name="母亲节花束预订", status="completed", text=MARKETING_TEXT,
        created_by=erin,
    )
    reference = f"campaign:{campaign.pk}:run:1:batch:0"
    account_reserve(shop_id=shop.pk, parts=3, reference=reference, label="营销任务「母亲节花束预订」")
    account_charge(reference=reference, parts=3, key=f"settle:charge:{campaign.pk}")
    merchant.click("nav.tabs >> text=消费记录")
    link = merchant.locator("#records a.ledger-subject").first
    link.wait_for()
    assert link.inner_text() == "营销任务「母亲节花束预订」"
    assert "campaign:" not in merchant.inner_text("#records")
    journey.check_both(merchant, "consumption")
    with merchant.expect_navigation():
        link.click()
    assert merchant.url.endswith(f"/campaigns/{campaign.pk}/")

    # The dashboard after onboarding: open reviews (one overdue, one rejected with its reason),
    # the recent campaign with its results, the balance trend.
    now = timezone.now()
    MessageTemplate.objects.create(
        shop=shop, name="母亲节满减券", text="亲，您的${coupon_amount}优惠券已到账，点击${coupon_link}领取。",
        due_at=now - timedelta(hours=5),
    )
    rejected = Signature.objects.create(shop=shop, text="艾琳花坊", normalized="艾琳花坊", due_at=now)
    Signature.objects.filter(pk=rejected.pk).update(
        state="rejected", decided_at=now, reason_code="shop_mismatch", reason_text="请用店铺名称"
    )
    run = CampaignRun.objects.create(campaign=campaign, status="finished")
    Message.objects.bulk_create(
        Message(campaign=campaign, run=run, shop=shop, phone=f"1390000{i:04d}", parts=1, sent_at=now,
                final_at=now, status="delivered" if i < 9 else "failed", text=MARKETING_TEXT)
        for i in range(10)
    )  # fmt: skip
    journey.visit_both(merchant, f"/shop/{shop.pk}/", "dashboard-activity")
    reviews = merchant.inner_text("#dashboard-reviews")
    assert "审核已延迟" in reviews and "平台正在加急处理" in reviews and "预计" not in reviews
    assert "签名与店铺名称不符" in reviews and "请用店铺名称" in reviews
    assert "成功率 90%" in merchant.inner_text("#dashboard-campaigns")

    # An unknown address: the portal's Chinese 404 page.
    response = merchant.goto(f"/shop/{shop.pk + 1000}/account/")
    assert response.status == 404
    merchant.locator("#not-found").wait_for()
    journey.check_both(merchant, "not-found")
    journey.console_errors[:] = [e for e in journey.console_errors if "404" not in e]
    journey.assert_console_clean()
