"""campaign_create_with_tests and campaign_quote: a campaign created whole (the open API's
POST /campaigns) and the dry run whose quote a schedule takes back."""

from __future__ import annotations

import pytest
import time_machine

from campaigns.models import Campaign, CampaignVariant
from campaigns.services.campaign_setup import campaign_create_with_tests, campaign_quote
from campaigns.services.campaigns import CampaignContentRejected, CampaignInvalid, CampaignStateError
from campaigns.services.scheduling import CampaignFiguresStale, campaign_schedule_confirmed
from campaigns.services.variants import VariantInput
from tests.campaigns.campaign_fixtures import MARKETING_TEXT, MORNING, import_customers

pytestmark = pytest.mark.django_db

OTHER_TEXT = "秋季新品上架，全场满299元减30元，欢迎进店选购。"


@time_machine.travel(MORNING, tick=False)
def test_it_creates_the_draft_with_its_holdout_and_ab_test(alice, ready_shop):
    campaign = campaign_create_with_tests(
        shop=ready_shop, user=alice, kind="marketing", name="上新", text=MARKETING_TEXT,
        holdout_percent=10, variants=[VariantInput(text=OTHER_TEXT)], test_percent=30, test_hours=6,
        metric="orders",
    )  # fmt: skip
    campaign.refresh_from_db()
    assert (campaign.status, campaign.holdout_percent) == (Campaign.Status.DRAFT, 10)
    assert (campaign.ab_test_percent, campaign.ab_test_hours, campaign.ab_metric) == (30, 6, "orders")
    variants = list(CampaignVariant.objects.filter(campaign=campaign).values_list("name", "text"))
    assert variants == [("A", MARKETING_TEXT), ("B", OTHER_TEXT)]


@time_machine.travel(MORNING, tick=False)
def test_it_writes_nothing_when_a_variant_is_refused(alice, ready_shop):
    with pytest.raises(CampaignContentRejected) as refused:
        campaign_create_with_tests(
            shop=ready_shop, user=alice, kind="marketing", name="上新", text=MARKETING_TEXT,
            holdout_percent=10, variants=[VariantInput(text="全网最低价，快来抢购！")],
        )  # fmt: skip
    assert "版本 B" in refused.value.message
    assert not Campaign.objects.filter(shop=ready_shop).exists()


@time_machine.travel(MORNING, tick=False)
def test_it_refuses_variants_for_a_repurchase_reminder(alice, ready_shop):
    with pytest.raises(CampaignInvalid):
        campaign_create_with_tests(
            shop=ready_shop, user=alice, kind="repurchase", name="复购", text=MARKETING_TEXT,
            products=["T恤"], days_since_purchase=30, variants=[VariantInput(text=OTHER_TEXT)],
        )  # fmt: skip
    assert not Campaign.objects.filter(shop=ready_shop).exists()


@time_machine.travel(MORNING, tick=False)
def test_it_schedules_at_creation_and_writes_nothing_when_the_schedule_is_refused(alice, ready_shop):
    campaign = campaign_create_with_tests(
        shop=ready_shop, user=alice, kind="marketing", name="上新", text=MARKETING_TEXT,
        schedule=True, send_at=MORNING.replace(hour=15),
    )  # fmt: skip
    assert campaign.status == Campaign.Status.SCHEDULED
    assert campaign.scheduled_at == MORNING.replace(hour=15)
    with pytest.raises(CampaignInvalid):
        campaign_create_with_tests(
            shop=ready_shop, user=alice, kind="marketing", name="过去", text=MARKETING_TEXT,
            schedule=True, send_at=MORNING.replace(hour=8),
        )  # fmt: skip
    assert list(Campaign.objects.filter(shop=ready_shop).values_list("name", flat=True)) == ["上新"]


@time_machine.travel(MORNING, tick=False)
def test_it_quotes_a_draft_and_the_quote_schedules_it_while_the_figures_hold(alice, ready_shop):
    campaign = campaign_create_with_tests(
        shop=ready_shop, user=alice, kind="marketing", name="上新", text=MARKETING_TEXT
    )
    quote = campaign_quote(campaign=campaign)
    assert quote.token and quote.dry.recipients == 20 and quote.dry.sendable == 20
    scheduled, _check = campaign_schedule_confirmed(
        campaign=campaign, user=alice, at=None, figures=quote.token
    )
    assert scheduled.status == Campaign.Status.SCHEDULED
    # A scheduled campaign is tried at its send time; there is nothing left to confirm.
    again = campaign_quote(campaign=scheduled)
    assert again.token is None and again.dry.recipients == 20


@time_machine.travel(MORNING, tick=False)
def test_it_refuses_a_quote_whose_figures_changed(alice, ready_shop):
    campaign = campaign_create_with_tests(
        shop=ready_shop, user=alice, kind="marketing", name="上新", text=MARKETING_TEXT
    )
    quote = campaign_quote(campaign=campaign)
    import_customers(ready_shop, ["13900139000,新客,,,,"])
    with pytest.raises(CampaignFiguresStale) as stale:
        campaign_schedule_confirmed(campaign=campaign, user=alice, at=None, figures=quote.token)
    assert "20 人变为 21 人" in stale.value.message
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


@time_machine.travel(MORNING, tick=False)
def test_it_refuses_to_quote_a_cancelled_campaign(alice, ready_shop):
    campaign = campaign_create_with_tests(
        shop=ready_shop, user=alice, kind="marketing", name="上新", text=MARKETING_TEXT
    )
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.CANCELLED)
    campaign.refresh_from_db()
    with pytest.raises(CampaignStateError):
        campaign_quote(campaign=campaign)
