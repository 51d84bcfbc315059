"""Journey: recharge with confirmation, at 1440x900 and at 390x844.

购买 only opens a confirmation stating the package, the price, the parts, the balance after
and the payment method; 取消 charges nothing; a confirmation gone stale (the operator
changed the price meanwhile) is refused with the new price shown; confirming charges
once, even when the confirmation is submitted twice. Then the records name the campaign
a send was for, and an unknown address answers the portal's Chinese 404 page.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from campaigns.models import Campaign
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

    # An unknown address: the portal's Chinese 404 page.
    response = merchant.goto(f"/shop/{shop.pk + 1000}/account/")
    assert response.status == 404
    merchant.locator("#not-found").wait_for()
    journey.check_both(merchant, "not-found")
    journey.console_errors[:] = [e for e in journey.console_errors if "404" not in e]
    journey.assert_console_clean()
