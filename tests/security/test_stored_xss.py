"""Stored XSS: text a merchant (or a handset, through a reply) controls is shown escaped on the
merchant's pages and, across the trust boundary, on the reviewers' admin pages."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse

from campaigns.models import Campaign
from campaigns.services.importing import customers_import
from campaigns.services.inbound import inbound_receive
from reviews.services.templates import template_submit

pytestmark = pytest.mark.django_db

PAYLOADS = ['<script>alert("x")</script>', "<img src=x onerror=alert(1)>", '"><svg onload=alert(1)>']
RAW_MARKERS = ["<script>alert", "<img src=x", "<svg onload"]


def assert_escaped(response, url: str) -> int:
    """No payload raw; returns how many payloads the page shows escaped."""
    assert response.status_code == 200, url
    body = response.content.decode()
    for marker in RAW_MARKERS:
        assert marker not in body, f"{url}: unescaped {marker}"
    return sum(marker.replace("<", "&lt;") in body for marker in RAW_MARKERS)


def test_merchant_text_is_escaped_on_portal_and_admin_pages(client, admin_client, alice, ready_shop):
    shop = ready_shop
    names = "\n".join(f"1390013900{i},{payload},,,," for i, payload in enumerate(PAYLOADS))
    customers_import(shop=shop, stream=io.BytesIO(("手机号,姓名,标签,商品,购买时间,金额\n" + names).encode()))
    template = template_submit(
        shop=shop,
        by=alice,
        name=PAYLOADS[0][:20],
        use="repurchase",
        message_class="marketing",
        text="夏季新品上架，全场满199元减20元，欢迎进店选购。",
    )
    campaign = Campaign.objects.create(shop=shop, kind="marketing", name=PAYLOADS[1], text="你好")
    inbound_receive(sender="13900139000", receiver="10690001", text=PAYLOADS[2], kannel_id="xss-1")
    client.force_login(alice)
    shown = 0
    for url in (
        reverse("campaigns:customers", args=[shop.pk]),
        reverse("campaigns:customers", args=[shop.pk]) + "?q=" + PAYLOADS[0],
        reverse("reviews:templates", args=[shop.pk]),
        reverse("campaigns:list", args=[shop.pk]),
        reverse("campaigns:detail", args=[shop.pk, campaign.pk]),
    ):
        shown += assert_escaped(client.get(url), url)
    assert shown >= 3  # the payloads were on the pages, escaped
    for url in (
        reverse("admin:reviews_messagetemplate_changelist"),
        reverse("admin:reviews_messagetemplate_change", args=[template.pk]),
        reverse("admin:reviews_messagetemplate_decide", args=[template.pk]),
        reverse("admin:campaigns_campaign_changelist"),
        reverse("admin:campaigns_inboundmessage_changelist"),
        reverse("admin:campaigns_customer_changelist") if _registered("campaigns", "customer") else None,
    ):
        if url:
            shown += assert_escaped(admin_client.get(url), url)
    assert shown >= 6


def _registered(app: str, model: str) -> bool:
    from django.apps import apps
    from django.contrib import admin

    return apps.get_model(app, model) in admin.site._registry
