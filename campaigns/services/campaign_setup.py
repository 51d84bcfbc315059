"""A campaign created whole in one call (the open API's ``POST /api/v1/campaigns``): the draft,
its holdout share, its A/B test and, when a send time is given, its schedule.

Each step is the portal's own service (``campaign_create``, ``campaign_holdout_set``,
``campaign_variants_set``, ``campaign_schedule``), composed as the portal's editor composes
them, in one transaction: a refusal at any step (a variant refused by the content rules, a shop
without a signature when scheduling) leaves nothing written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models.audience import Coupon, Segment
from campaigns.models.sending import Campaign
from campaigns.services.campaigns import (
    CampaignStateError,
    DryRun,
    campaign_create,
    campaign_dry_run,
    campaign_schedule,
)
from campaigns.services.scheduling import campaign_schedule_check
from campaigns.services.variants import VariantInput, campaign_holdout_set, campaign_variants_set
from smsmarketing.models import Shop
from smsmarketing.permissions import Capability, require_capability


def campaign_create_with_tests(
    *,
    shop: Shop,
    user,
    kind: str,
    name: str,
    segment: Segment | None = None,
    text: str = "",
    template=None,
    coupon: Coupon | None = None,
    products: list[str] | None = None,
    days_since_purchase: int | None = None,
    holdout_percent: int = 0,
    variants: Sequence[VariantInput] = (),
    test_percent: int | None = None,
    test_hours: int | None = None,
    metric: str | None = None,
    schedule: bool = False,
    send_at: datetime | None = None,
) -> Campaign:
    """Create a campaign with its tests, and schedule it at ``send_at`` (None: now) when
    ``schedule``. ``variants`` are the A/B test's other versions (B–E): version A is the
    campaign's own text or template, as in the portal. Nothing is written unless every step
    passes."""
    require_capability(shop=shop, user=user, capability=Capability.OPERATE)
    with transaction.atomic():
        campaign = campaign_create(
            shop=shop, user=user, kind=kind, name=name, segment=segment, text=text, template=template,
            coupon=coupon, products=products, days_since_purchase=days_since_purchase,
        )  # fmt: skip
        campaign.shop = shop
        campaign = campaign_holdout_set(campaign=campaign, user=user, percent=holdout_percent)
        if variants:
            own = VariantInput(text=campaign.text, template=campaign.template)
            campaign_variants_set(
                campaign=campaign, user=user, variants=[own, *variants],
                test_percent=test_percent, test_hours=test_hours, metric=metric,
            )  # fmt: skip
        if schedule:
            campaign = campaign_schedule(campaign=campaign, user=user, at=send_at)
    return campaign


@dataclass(frozen=True)
class Quote:
    """A dry run and, for a draft, its quote: the signed figures ``campaign_schedule_confirmed``
    takes back, refusing to schedule when the figures have changed since (None for a campaign
    already scheduled: it is tried at its send time, there is nothing left to confirm)."""

    dry: DryRun
    token: str | None


def campaign_quote(*, campaign: Campaign, at: datetime | None = None) -> Quote:
    """What scheduling a draft at ``at`` (None: now) would do, with the same refusals as
    scheduling it (``campaign_schedule_check``); a scheduled campaign is tried at its send time,
    as the portal's dry run tries it. Refused for a campaign that has started or ended."""
    if campaign.status == Campaign.Status.DRAFT:
        check = campaign_schedule_check(campaign=campaign, at=at)
        return Quote(dry=check.dry, token=check.token)
    if campaign.status != Campaign.Status.SCHEDULED:
        raise CampaignStateError(_("只有草稿或已排期的任务可以试算。"))
    at = campaign.scheduled_at if campaign.scheduled_at and campaign.scheduled_at > timezone.now() else None
    return Quote(dry=campaign_dry_run(campaign=campaign, at=at), token=None)
