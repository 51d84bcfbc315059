"""``{% load webhook_notices %}{% webhook_notice shop %}``: the dashboard's notice of failing
webhook endpoints (the dashboard lives in smsmarketing, which does not import campaigns)."""

from __future__ import annotations

from django import template

from campaigns.selectors import shop_webhooks_failing

register = template.Library()


@register.inclusion_tag("campaigns/webhook_notice.html")
def webhook_notice(shop) -> dict:
    return {"shop": shop, "failing": shop_webhooks_failing(shop_id=shop.pk)}
