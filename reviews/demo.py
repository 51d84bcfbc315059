"""Demo data of the reviews app: a live signature, a pending change, an approved and a pending
template, so the queues have work in them."""

from __future__ import annotations

from reviews.models.signatures import Signature
from reviews.models.templates import MessageTemplate
from reviews.services.signatures import signature_approve, signature_submit
from reviews.services.templates import template_approve, template_submit
from smsmarketing.models import Shop

DEMO_LIVE_SIGNATURE = "爱丽丝服饰"
DEMO_PENDING_SIGNATURE = "爱丽丝旗舰店"
DEMO_APPROVED_TEMPLATE = (
    "会员专享券",
    "${shop_name}会员专享：送您${coupon_amount}优惠券，${coupon_threshold}，"
    "${coupon_expiry}前有效，点击${coupon_link}领取。",
)
DEMO_PENDING_TEMPLATE = (
    "新品上市提醒",
    "${shop_name}秋冬新品上市，新品首发期间下单送${coupon_amount}券，${coupon_threshold}，领取：${coupon_link}",
)


def seed_demo_reviews(*, shop: Shop, merchant, reviewer) -> int:
    """Signatures and templates for the shop, each kind once; return rows created."""
    if shop.sms_restricted:
        return 0
    return _seed_signatures(shop, merchant, reviewer) + _seed_templates(shop, merchant, reviewer)


def _seed_signatures(shop: Shop, merchant, reviewer) -> int:
    if Signature.objects.filter(shop=shop).exists():
        return 0
    live = signature_submit(shop=shop, text=DEMO_LIVE_SIGNATURE, by=merchant)
    signature_approve(signature=live, reviewer=reviewer)
    signature_submit(shop=shop, text=DEMO_PENDING_SIGNATURE, by=merchant)
    return 2


def _seed_templates(shop: Shop, merchant, reviewer) -> int:
    if MessageTemplate.objects.filter(shop=shop).exists():
        return 0
    name, text = DEMO_APPROVED_TEMPLATE
    approved = template_submit(
        shop=shop, by=merchant, name=name, use="coupon", message_class="marketing", text=text
    )
    template_approve(template=approved, reviewer=reviewer)
    name, text = DEMO_PENDING_TEMPLATE
    template_submit(shop=shop, by=merchant, name=name, use="coupon", message_class="marketing", text=text)
    return 2
