"""Demo templates for seed_demo: an approved coupon template and a pending one in the queue."""

from __future__ import annotations

from reviews.models.templates import MessageTemplate
from reviews.services.templates import template_approve, template_submit
from smsmarketing.models import Shop

DEMO_APPROVED = (
    "会员专享券",
    "${shop_name}会员专享：送您${coupon_amount}优惠券，${coupon_threshold}，"
    "${coupon_expiry}前有效，点击${coupon_link}领取。",
)
DEMO_PENDING = (
    "新品上市提醒",
    "${shop_name}秋冬新品上市，新品首发期间下单送${coupon_amount}券，${coupon_threshold}，领取：${coupon_link}",
)


def seed_demo_templates(*, shop: Shop, merchant, reviewer) -> int:
    """Give the shop one approved and one pending custom template, once; return rows created."""
    if shop.sms_restricted or MessageTemplate.objects.filter(shop=shop).exists():
        return 0
    approved = template_submit(
        shop=shop, by=merchant, name=DEMO_APPROVED[0], use="coupon", message_class="marketing",
        text=DEMO_APPROVED[1],
    )
    template_approve(template=approved, reviewer=reviewer)
    template_submit(
        shop=shop, by=merchant, name=DEMO_PENDING[0], use="coupon", message_class="marketing",
        text=DEMO_PENDING[1],
    )
    return 2
