"""Segments and coupons: the merchant's audience definitions and offers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models.audience import Coupon, Segment
from campaigns.models.sending import Campaign, CampaignRun
from campaigns.services.links import landing_url_check
from smsmarketing.errors import SmsError
from smsmarketing.models import Shop
from smsmarketing.permissions import Capability, require_capability
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


# The longest tag and product name a customer row holds (Customer.tags, Purchase.product).
MAX_TAG_LENGTH, MAX_PRODUCT_LENGTH = 32, 128


def segment_conditions(**filters) -> dict:
    """A segment's conditions checked and normalised (the live count and the save share it):
    each refusal names its field. Tags are kept as typed, without duplicates that differ
    only in case (they match whatever their case)."""
    unknown = set(filters) - set(SEGMENT_FIELDS)
    if unknown:
        raise TypeError(f"unknown segment filters: {sorted(unknown)}")
    _check_range(filters.get("min_purchases"), filters.get("max_purchases"), _("购买次数"))
    _check_range(filters.get("min_total_spent"), filters.get("max_total_spent"), _("累计消费"))
    tags: dict[str, str] = {}
    for tag in filters.get("tags_any") or []:
        if tag and tag.strip():
            tags.setdefault(tag.strip().lower(), tag.strip())
    products = {p.strip() for p in filters.get("products_any") or [] if p and p.strip()}
    for label, values, limit in (
        (_("包含任一标签"), tags.values(), MAX_TAG_LENGTH),
        (_("购买过任一商品"), products, MAX_PRODUCT_LENGTH),
    ):
        too_long = next((v for v in values if len(v) > limit), None)
        if too_long is not None:
            raise AudienceInvalid(
                _("“{field}”中的“{value}”超过 {limit} 个字。").format(
                    field=label, value=too_long, limit=limit
                )
            )
    return {**filters, "tags_any": sorted(tags.values()), "products_any": sorted(products)}


def segment_save(*, shop: Shop, user, name: str, segment: Segment | None = None, **filters) -> Segment:
    """Create (or update) a segment of the shop's customers from its filters.

    An update is refused while a campaign using the segment is being planned: the
    planner reads the conditions batch by batch, and changing them midway would send
    to half of one audience and half of another. A scheduled campaign sends to the
    conditions as they are when it starts.
    """
    require_capability(shop=shop, user=user, capability=Capability.OPERATE)
    shop_ensure_sms_allowed(shop=shop)
    name = (name or "").strip()
    if not name:
        raise AudienceInvalid(_("请填写人群名称。"))
    filters = segment_conditions(**filters)
    with transaction.atomic():
        if segment is None:
            segment = Segment(shop=shop)
        else:
            if segment.shop_id != shop.pk:
                raise AudienceInvalid(_("人群不属于本店铺。"))
            # Two edits of one segment in two tabs: the row lock makes the second apply after
            # the first. A run that starts planning after this check reads the new conditions
            # from its first batch; only a run already planning is refused here.
            segment = Segment.objects.select_for_update().get(pk=segment.pk)
            planning = _campaigns_using(segment, runs=[CampaignRun.Status.PLANNING])
            if planning:
                raise AudienceInvalid(
                    _("任务“{name}”正在按此人群计算发送名单，请稍后再修改。").format(name=planning[0].name)
                )
        segment.name = name
        for key in SEGMENT_FIELDS:
            setattr(segment, key, filters.get(key, [] if key.endswith("_any") else None))
        segment.save()
    return segment


# Campaigns whose audience a deleted segment would change or leave undefined.
SEGMENT_BLOCKING_STATUSES = (Campaign.Status.DRAFT, Campaign.Status.SCHEDULED, Campaign.Status.RUNNING)


def segment_delete(*, shop: Shop, user, segment: Segment) -> None:
    """Delete a saved segment that no draft, scheduled or running campaign uses.

    A finished (or cancelled, stopped) campaign keeps its segment for its record: the
    segment is then only hidden (``archived_at``), never removed from under it.
    """
    require_capability(shop=shop, user=user, capability=Capability.OPERATE)
    shop_ensure_sms_allowed(shop=shop)
    if segment.shop_id != shop.pk:
        raise AudienceInvalid(_("人群不属于本店铺。"))
    with transaction.atomic():
        # Race: a campaign created with this segment while it is deleted; the campaign's
        # foreign key is PROTECT, so the DELETE fails rather than orphan it, and the lock
        # makes this check see every campaign committed before it.
        segment = Segment.objects.select_for_update().get(pk=segment.pk)
        blocking = _campaigns_using(segment, statuses=SEGMENT_BLOCKING_STATUSES)
        if blocking:
            campaign = blocking[0]
            raise AudienceInvalid(
                _("任务“{name}”（{status}）使用了此人群，不能删除。请先在该任务中改选其他人群，或等它结束后再删除。").format(
                    name=campaign.name, status=campaign.get_status_display()
                )
            )
        if segment.campaigns.exists():
            segment.archived_at = timezone.now()
            segment.save(update_fields=["archived_at"])
        else:
            segment.delete()


def _campaigns_using(segment: Segment, *, statuses=None, runs=None) -> list[Campaign]:
    campaigns = Campaign.objects.filter(segment=segment)
    if statuses is not None:
        campaigns = campaigns.filter(status__in=statuses)
    if runs is not None:
        campaigns = campaigns.filter(runs__status__in=runs)
    return list(campaigns.order_by("-id")[:1])


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
    landing_url: str = "",
) -> Coupon:
    """A coupon for targeted coupon campaigns: amount, threshold (满X), validity, total count,
    and where its short links lead (an allowed landing page; "" for the shop's)."""
    require_capability(shop=shop, user=user, capability=Capability.OPERATE)
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
    landing_url = landing_url_check(url=landing_url)
    return Coupon.objects.create(
        shop=shop,
        name=name,
        amount=amount,
        threshold=threshold,
        valid_from=valid_from,
        valid_until=valid_until,
        total_count=total_count,
        landing_url=landing_url,
    )
