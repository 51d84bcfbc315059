"""The merchant's pages of issue 21: the editor's 对照组 and A/B test, the dry run and the
confirmation saying what is sent now and later, the results on the campaign's page (funnel,
revenue, cost, ROI, the holdout comparison, the A/B table and the early pick), revenue and ROI
on the campaign list, and the CSV exports of clicks and attributed orders."""

from __future__ import annotations

import pytest
from django.http import HttpRequest
from django.urls import reverse

from campaigns.models import Campaign, CampaignVariant
from tests.campaigns.campaign_fixtures import MARKETING_TEXT
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

TEXT_B = "夏日上新！满199元立减20元，限时三天，欢迎选购。"


def login(client, user):
    assert client.login(request=HttpRequest(), username=user.username, password=PASSWORD)


def new_marketing(client, shop, **fields):
    data = {"name": "夏季上新", "text": MARKETING_TEXT, "holdout_percent": "10", **fields}
    return client.post(reverse("campaigns:new", args=[shop.pk]) + "?kind=marketing", data)


def test_it_shows_the_holdout_and_a_collapsed_ab_test_on_a_new_marketing_campaign(client, alice, ready_shop):
    login(client, alice)
    html = client.get(reverse("campaigns:new", args=[ready_shop.pk]) + "?kind=marketing").content.decode()
    assert "对照组比例(%)" in html and 'name="holdout_percent"' in html and 'value="0"' in html
    assert "对照组客户收不到短信，也不扣费" in html
    assert '<details class="ab-test" id="ab-test">' in html  # collapsed by default
    assert "A/B 测试（可选）" in html and 'name="variant_b"' in html and 'name="ab_test_percent"' in html
    assert "独立点击率" in html and "归因下单率" in html


def test_it_saves_the_holdout_and_the_variants_with_the_campaign(client, alice, ready_shop):
    login(client, alice)
    response = new_marketing(
        client, ready_shop, ab_enabled="on", variant_b=TEXT_B, ab_test_percent="30", ab_test_hours="6",
        ab_metric="orders",
    )  # fmt: skip
    assert response.status_code == 302
    campaign = Campaign.objects.get(shop=ready_shop)
    assert (campaign.holdout_percent, campaign.ab_test_percent, campaign.ab_test_hours, campaign.ab_metric) == (
        10, 30, 6, "orders",
    )  # fmt: skip
    variants = list(campaign.variants.order_by("position").values_list("name", "text"))
    assert variants == [("A", MARKETING_TEXT), ("B", TEXT_B)]

    # Editing the draft shows them again; unticking the test removes the variants.
    url = reverse("campaigns:edit", args=[ready_shop.pk, campaign.pk])
    html = client.get(url).content.decode()
    assert '<details class="ab-test" id="ab-test" open>' in html and TEXT_B in html
    response = client.post(url, {"name": "夏季上新", "text": MARKETING_TEXT, "holdout_percent": "0"})
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.holdout_percent == 0 and not campaign.variants.exists()


def test_it_refuses_bad_settings_in_chinese_and_writes_nothing(client, alice, ready_shop):
    login(client, alice)
    response = new_marketing(client, ready_shop, holdout_percent="60")
    assert response.status_code == 400
    assert "对照组比例应为 0–50 之间的整数。" in response.content.decode()
    response = new_marketing(client, ready_shop, ab_enabled="on")
    assert "请至少填写版本 B" in response.content.decode()
    response = new_marketing(client, ready_shop, ab_enabled="on", variant_b=TEXT_B, ab_test_hours="500")
    assert "测试时长应为 1–168 之间的整数（小时）。" in response.content.decode()
    assert not Campaign.objects.filter(shop=ready_shop).exists()


def test_it_shows_a_refused_variants_findings_under_it_and_writes_nothing(client, alice, ready_shop):
    login(client, alice)
    response = new_marketing(
        client, ready_shop, ab_enabled="on", variant_b="全网最低价，加微信 abc123 领券", variant_c=TEXT_B
    )
    html = response.content.decode()
    assert response.status_code == 400
    field = html.split('id="field-variant_b"')[1].split('id="field-variant_c"')[0]
    assert "此版本未通过内容检查" in field and 'class="findings"' in field and "不能提交" in field
    assert '<details class="ab-test" id="ab-test" open>' in html
    assert '<details class="more-variants" id="more-variants" open>' in html  # C was filled
    assert not Campaign.objects.filter(shop=ready_shop).exists()
    assert not CampaignVariant.objects.exists()


def test_it_checks_a_variant_as_it_is_typed(client, alice, ready_shop):
    login(client, alice)
    url = reverse("campaigns:variant_check", args=[ready_shop.pk])
    html = client.post(url, {"variant_b": "全网最低价，加微信 abc123 领券"}).content.decode()
    assert 'id="check-variant_b"' in html and "不能提交" in html and "计费" in html
    html = client.post(url, {"variant_c": TEXT_B}).content.decode()
    assert 'id="check-variant_c"' in html and "未发现问题" in html
    assert client.post(url, {"text": TEXT_B}).status_code == 400


def test_it_offers_template_variants_on_a_coupon_campaign_and_none_on_a_reminder(client, alice, ready_shop):
    login(client, alice)
    base = reverse("campaigns:new", args=[ready_shop.pk])
    html = client.get(base + "?kind=coupon").content.decode()
    assert 'name="variant_b"' in html and "版本 B 模板" in html and 'name="holdout_percent"' in html
    html = client.get(base + "?kind=repurchase").content.decode()
    assert 'name="holdout_percent"' in html and 'name="variant_b"' not in html and "A/B 测试" not in html
