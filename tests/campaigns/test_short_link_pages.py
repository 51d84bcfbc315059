"""The merchant's 短链接 page (the shop's landing page), the coupon form's landing page, and the
admin of landing domains, link previewers and clicks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, CampaignRun, Click, Coupon, LandingDomain, LinkPreviewerAgent, Message
from campaigns.services.links import link_code_new, link_follow, link_policy_forget
from smsmarketing.models import Shop
from tests.factories import make_active_account

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_policy():
    link_policy_forget()
    yield
    link_policy_forget()


def test_it_saves_the_shops_landing_page_on_an_allowed_domain(client, alice, alice_shop):
    client.force_login(alice)
    url = reverse("campaigns:links", args=[alice_shop.pk])
    page = client.get(url).content.decode()
    assert "尚未设置店铺落地页" in page and "<code>jd.com</code>" in page
    assert "/t/AbCdEf1234" in page  # what a link looks like
    response = client.post(url, {"landing_url": " https://mall.jd.com/index-1.html "})
    assert response.status_code == 302 and response["Location"] == url
    alice_shop.refresh_from_db()
    assert alice_shop.landing_url == "https://mall.jd.com/index-1.html"
    page = client.get(url).content.decode()
    assert "店铺落地页已保存" in page and 'value="https://mall.jd.com/index-1.html"' in page


def test_it_refuses_a_landing_page_elsewhere_with_a_chinese_error_and_keeps_the_old_one(
    client, alice, alice_shop
):
    Shop.objects.filter(pk=alice_shop.pk).update(landing_url="https://mall.jd.com/a")
    client.force_login(alice)
    url = reverse("campaigns:links", args=[alice_shop.pk])
    response = client.post(url, {"landing_url": "https://evil.example.com/phish"})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="landing_url-errors"' in page and "落地页只能是平台允许的域名下的页面：jd.com" in page
    assert 'value="https://evil.example.com/phish"' in page  # what was typed is kept
    response = client.post(url, {"landing_url": "http://mall.jd.com/a"})
    assert "落地页链接须以 https:// 开头" in response.content.decode()
    alice_shop.refresh_from_db()
    assert alice_shop.landing_url == "https://mall.jd.com/a"


def test_another_shops_page_is_a_404(client, alice, bob_shop):
    client.force_login(alice)
    url = reverse("campaigns:links", args=[bob_shop.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"landing_url": "https://mall.jd.com/x"}).status_code == 404
    bob_shop.refresh_from_db()
    assert bob_shop.landing_url == ""


def test_the_coupon_form_takes_a_landing_page_and_refuses_one_elsewhere(client, alice, alice_shop):
    make_active_account(alice_shop, balance=10, user=alice)
    client.force_login(alice)
    url = reverse("campaigns:coupons", args=[alice_shop.pk])
    start = timezone.localtime() + timedelta(hours=1)
    data = {
        "name": "会员券", "amount": "20", "threshold": "199", "total_count": "100",
        "valid_from": start.strftime("%Y-%m-%dT%H:%M"),
        "valid_until": (start + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"),
    }  # fmt: skip
    response = client.post(url, {**data, "landing_url": "https://taobao.com/coupon"})
    assert response.status_code == 200 and 'id="landing_url-errors"' in response.content.decode()
    assert "平台允许的域名" in response.content.decode() and not Coupon.objects.exists()
    response = client.post(url, {**data, "landing_url": "https://coupon.jd.com/get?id=1"})
    assert response.status_code == 302
    assert Coupon.objects.get().landing_url == "https://coupon.jd.com/get?id=1"
    page = client.get(url).content.decode()
    assert "https://coupon.jd.com/get?id=1" in page
    client.post(url, {**data, "name": "无落地页券"})
    assert Coupon.objects.get(name="无落地页券").landing_url == ""
    assert "店铺落地页" in client.get(url).content.decode()


def test_reviewers_edit_landing_domains_and_previewers_and_only_read_clicks(client, reviewer, alice_shop):
    client.force_login(reviewer)
    response = client.post(
        reverse("admin:campaigns_landingdomain_add"), {"domain": " Shop.Example.CN. ", "note": "合作商城"}
    )
    assert response.status_code == 302
    assert LandingDomain.objects.get(note="合作商城").domain == "shop.example.cn"
    # The same domain written otherwise is the same domain; a URL is not a domain.
    refused = [("SHOP.example.cn", "已存在"), ("https://jd.com/x", "请填写域名"), ("localhost", "请填写域名")]
    for typed, error in refused:
        response = client.post(reverse("admin:campaigns_landingdomain_add"), {"domain": typed})
        assert response.status_code == 200 and error in response.content.decode()
    assert LandingDomain.objects.count() == 2  # the seeded jd.com and this one
    response = client.post(
        reverse("admin:campaigns_linkprevieweragent_add"), {"pattern": "CarrierLinkCheck", "note": "运营商"}
    )
    assert response.status_code == 302
    assert LinkPreviewerAgent.objects.filter(pattern="CarrierLinkCheck").exists()
    assert client.get(reverse("admin:campaigns_linkprevieweragent_changelist")).status_code == 200
    assert client.get(reverse("admin:campaigns_click_changelist")).status_code == 200
    assert client.get(reverse("admin:campaigns_click_add")).status_code == 403


def test_the_click_list_masks_phones(admin_client, alice, alice_shop):
    campaign = Campaign.objects.create(shop=alice_shop, kind="marketing", name="营销", text="x${shop_link}")
    run = CampaignRun.objects.create(campaign=campaign)
    message = Message.objects.create(
        campaign=campaign, run=run, shop=alice_shop, phone="13912345678", status="delivered",
        link_code=link_code_new(),
    )  # fmt: skip
    link_follow(code=message.link_code, method="GET", user_agent="WhatsApp/2", client="10.0.0.1")
    page = admin_client.get(reverse("admin:campaigns_click_changelist")).content.decode()
    assert "139****5678" in page and "13912345678" not in page
    assert Click.objects.get().human is False
