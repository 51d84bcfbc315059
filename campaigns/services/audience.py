"""Segments and coupons: the merchant's audience definitions and offers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models.audience import Coupon, Segment
from smsmarketing.errors import SmsError
from smsmarketing.models import Shop
from smsmarketing.services import shop_ensure_sms_allowed

MAX_COUPON_COUNT = 1_000_000
# A coupon valid for years (or until 2999) is a typo, not a promotion.
MAX_COUPON_VALIDITY_DAYS = 366
SEGMENT_FIELDS = (
    "tags_any",
    "purchased_within_days",
    "not_purchased_within_days",
    "min_purchases",
    "max_purchases",
    "min_total_spent",
    "max_total_spent",
    "products_any",
)


class AudienceInvalid(SmsError):
    rule = "AUDIENCE-INVALID"


def _check_range(low, high, what: str) -> None:
    if low is not None and high is not None and low > high:
        raise AudienceInvalid(_("{what}的下限不能大于上限。").format(what=what))


def segment_save(*, shop: Shop, user, name: str, segment: Segment | None = None, **filters) -> Segment:
    """Create (or update) a segment of the shop's customers from its filters."""
    shop_ensure_sms_allowed(shop=shop)
    name = (name or "").strip()
    if not name:
        raise AudienceInvalid(_("请填写人群名称。"))
    unknown = set(filters) - set(SEGMENT_FIELDS)
    if unknown:
        raise TypeError(f"unknown segment filters: {sorted(unknown)}")
    _check_range(filters.get("min_purchases"), filters.get("max_purchases"), _("购买次数"))
    _check_range(filters.get("min_total_spent"), filters.get("max_total_spent"), _("累计消费"))
    for key in ("tags_any", "products_any"):
        filters[key] = sorted({v.strip() for v in filters.get(key) or [] if v and v.strip()})
    if segment is None:
        segment = Segment(shop=shop)
    elif segment.shop_id != shop.pk:
        raise AudienceInvalid(_("人群不属于本店铺。"))
    segment.name = name
    for key in SEGMENT_FIELDS:
        setattr(segment, key, filters.get(key, [] if key.endswith("_any") else None))
    segment.save()
    return segment


def coupon_create(
    *,
    shop: Shop,
    user,
    name: str,
    amount: Decimal,
    threshold: Decimal,
    valid_from: datetime,
    valid_until: datetime,
    total_count: int,
) -> Coupon:
    """A coupon for targeted coupon campaigns: amount, threshold (满X), validity, total count."""
    shop_ensure_sms_allowed(shop=shop)
    name = (name or "").strip()
    if not name:
        raise AudienceInvalid(_("请填写优惠券名称。"))
    if amount is None or amount <= 0:
        raise AudienceInvalid(_("优惠券面额必须大于 0。"))
    if threshold is None or threshold < 0:
        raise AudienceInvalid(_("使用门槛不能为负数。"))
    if threshold and amount >= threshold:
        raise AudienceInvalid(_("优惠券面额必须小于使用门槛。"))
    if valid_until <= valid_from or valid_until <= timezone.now():
        raise AudienceInvalid(_("有效期结束时间必须晚于开始时间和当前时间。"))
    if (valid_until - valid_from).days > MAX_COUPON_VALIDITY_DAYS:
        raise AudienceInvalid(_("优惠券有效期不能超过 {days} 天。").format(days=MAX_COUPON_VALIDITY_DAYS))
    if not total_count or not 1 <= total_count <= MAX_COUPON_COUNT:
        raise AudienceInvalid(_("发放总量须在 1 到 {max} 之间。").format(max=MAX_COUPON_COUNT))
    return Coupon.objects.create(
        shop=shop,
        name=name,
        amount=amount,
        threshold=threshold,
        valid_from=valid_from,
        valid_until=valid_until,
        total_count=total_count,
    )
