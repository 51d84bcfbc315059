"""Journey: short links, at 1440x900 and at 390x844.

The merchant opens 短链接 from the menu: a notice says no shop landing page is set yet, and the
allowed domains are listed. A page on another domain is refused in Chinese under the field with
what she typed kept; a page on the platform is saved. A coupon gets its own landing page, shown in
the coupon list. A customer's tap of a message's link answers a 302 to the coupon's page and is
recorded; an unknown code answers the customer's Chinese 404 page.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignRun, Click, Coupon, Message
from campaigns.services.links import link_code_new, link_policy_forget
from smsmarketing.models import Shop
from tests.factories import PASSWORD, make_active_account, make_shop, make_user

JOURNEY = "links"
PHONE_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 MicroMessenger/8.0.40 NetType/WIFI Language/zh_CN"
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_it_sets_the_landing_pages_and_a_tap_goes_there(journey):
    link_policy_forget()
    lily = make_user("lily")
    shop = make_shop("莉莉茶庄", owner=lily)
    make_active_account(shop, balance=100, user=lily)

    merchant = journey.open()
    journey.login(merchant, "lily", PASSWORD)
    journey.ready(merchant)
    merchant.click("#sidenav >> text=短链接")
    merchant.locator("#shop-landing").wait_for()
    assert "尚未设置店铺落地页" in merchant.inner_text("#shop-landing")
    assert "jd.com" in merchant.inner_text("#landing-domains")
    journey.check_both(merchant, "links")

    # Another domain: refused under the field, what she typed kept, nothing saved.
    merchant.fill("#id_landing_url", "https://tea-lily.example.com/home")
    merchant.click("#shop-landing button[type=submit]")
    merchant.locator("#field-landing_url .errorlist").wait_for()
    assert "平台允许的域名" in merchant.inner_text("#field-landing_url .errorlist")
    assert merchant.input_value("#id_landing_url") == "https://tea-lily.example.com/home"
    journey.check_both(merchant, "links-refused")
    assert Shop.objects.get(pk=shop.pk).landing_url == ""

    merchant.fill("#id_landing_url", "https://mall.jd.com/index-2024.html")
    merchant.click("#shop-landing button[type=submit]")
    merchant.get_by_text("店铺落地页已保存").wait_for()
    assert "尚未设置" not in merchant.inner_text("#shop-landing")
    journey.check_both(merchant, "links-saved")
    assert Shop.objects.get(pk=shop.pk).landing_url == "https://mall.jd.com/index-2024.html"

    # A coupon with its own landing page.
    now = timezone.localtime()
    merchant.click("#sidenav >> text=优惠券")
    merchant.fill("#id_name", "新茶尝鲜券")
    merchant.fill("#id_amount", "10")
    merchant.fill("#id_threshold", "99")
    merchant.fill("#id_valid_from", now.strftime("%Y-%m-%dT%H:%M"))
    merchant.fill("#id_valid_until", (now + timedelta(days=14)).strftime("%Y-%m-%dT%H:%M"))
    merchant.fill("#id_total_count", "100")
    merchant.fill("#id_landing_url", "https://pro.jd.com/mall/active/tea.html")
    merchant.click("main form button[type=submit]")
    merchant.get_by_text("优惠券已创建").wait_for()
    assert "https://pro.jd.com/mall/active/tea.html" in merchant.inner_text("#coupon-list")
    journey.check_both(merchant, "coupons")

    # A customer taps a sent message's link: a 302 to the coupon's page, and the click is kept.
    coupon = Coupon.objects.get(shop=shop)
    campaign = Campaign.objects.create(
        shop=shop, kind="coupon", coupon=coupon, name="新茶", status="completed", text="x${coupon_link}"
    )
    message = Message.objects.create(
        campaign=campaign, run=CampaignRun.objects.create(campaign=campaign), shop=shop,
        phone="13912340000", status="delivered", link_code=link_code_new(),
    )  # fmt: skip
    # (Headless Chromium names itself HeadlessChrome, a previewer pattern: the tap sends a phone's agent.)
    customer = journey.open()
    tap = f"/t/{message.link_code}"
    answer = customer.request.get(tap, max_redirects=0, headers={"user-agent": PHONE_AGENT})
    assert answer.status == 302 and answer.headers["location"] == "https://pro.jd.com/mall/active/tea.html"
    assert Click.objects.filter(message=message, human=True).count() == 1
    customer.request.get(tap, max_redirects=0)
    assert Click.objects.filter(message=message, human=False).count() == 1

    # An unknown code: the customer's Chinese 404 page.
    response = customer.goto("/t/NoSuchCode")
    assert response.status == 404
    customer.locator("#link-missing").wait_for()
    assert "链接不存在或已过期" in customer.inner_text("#link-missing")
    journey.check_both(customer, "link-missing")
    journey.console_errors[:] = [e for e in journey.console_errors if "404" not in e]
    journey.assert_console_clean()
