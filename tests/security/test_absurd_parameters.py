"""Absurd campaign, coupon and segment parameters are answered with a clear Chinese error
and nothing written: negative or enormous numbers, dates in 1900 or 2999, overflowing counts."""

from __future__ import annotations

import pytest
import time_machine
from django.urls import reverse

from campaigns.models import Campaign, CampaignRun, Coupon, Segment
from tests.campaigns.campaign_fixtures import MARKETING_TEXT, MORNING
from tests.security.conftest import snapshot

pytestmark = pytest.mark.django_db

HUGE = str(10**12)
ENORMOUS = "9" * 40


def assert_refused(response, before) -> None:
    assert response.status_code in (200, 400), response.status_code
    body = response.content.decode()
    assert "errorlist" in body or "notice-error" in body
    assert snapshot() == before


@pytest.mark.parametrize(
    "days",
    ["-5", "0", HUGE, ENORMOUS, "1.5", "abc", "١٠"],
)
def test_it_refuses_absurd_repurchase_days(client, alice, ready_shop, days):
    client.force_login(alice)
    before = snapshot()
    url = reverse("campaigns:new", args=[ready_shop.pk]) + "?kind=repurchase"
    response = client.post(
        url, {"name": "复购", "text": MARKETING_TEXT, "products": "T恤", "days_since_purchase": days}
    )
    if days == "١٠":  # Arabic-Indic digits are a number (10) for Django forms: fine, but never an error page
        assert response.status_code in (200, 302)
        return
    assert_refused(response, before)


COUPONS = {
    "negative amount": {"amount": "-5"},
    "zero amount": {"amount": "0"},
    "enormous amount": {"amount": ENORMOUS},
    "negative count": {"total_count": "-1"},
    "overflowing count": {"total_count": HUGE},
    "enormous count": {"total_count": ENORMOUS},
    "ends before it starts": {"valid_from": "2026-07-01T10:00", "valid_until": "2026-06-01T10:00"},
    "in 1900": {"valid_from": "1900-01-01T00:00", "valid_until": "1900-02-01T00:00"},
    "until 2999": {"valid_until": "2999-12-31T23:59"},
    "year 0": {"valid_from": "0000-01-01T00:00"},
    "not a date": {"valid_until": "明天"},
}


@pytest.mark.parametrize("change", COUPONS.values(), ids=COUPONS.keys())
def test_it_refuses_absurd_coupons(client, alice, ready_shop, change):
    client.force_login(alice)
    data = {
        "name": "券",
        "amount": "20",
        "threshold": "199",
        "valid_from": "2026-06-01T10:00",
        "valid_until": "2026-07-01T10:00",
        "total_count": "100",
        **change,
    }
    before = snapshot()
    with time_machine.travel(MORNING, tick=False):
        response = client.post(reverse("campaigns:coupons", args=[ready_shop.pk]), data)
    assert_refused(response, before)
    assert not Coupon.objects.exists()


SEGMENTS = {
    "negative days": {"purchased_within_days": "-1"},
    "overflowing days": {"purchased_within_days": HUGE},
    "enormous purchases": {"min_purchases": ENORMOUS},
    "min above max": {"min_purchases": "5", "max_purchases": "2"},
    "enormous spend": {"min_total_spent": ENORMOUS},
    "negative spend": {"max_total_spent": "-1"},
}


@pytest.mark.parametrize("change", SEGMENTS.values(), ids=SEGMENTS.keys())
def test_it_refuses_absurd_segments(client, alice, ready_shop, change):
    client.force_login(alice)
    before = snapshot()
    response = client.post(reverse("campaigns:segments", args=[ready_shop.pk]), {"name": "人群", **change})
    assert_refused(response, before)
    assert not Segment.objects.exists()
    live = client.get(reverse("campaigns:segment_count", args=[ready_shop.pk]), change)
    assert live.status_code == 200


@pytest.mark.parametrize(
    "at", ["1900-01-01T10:00", "2026-05-31T10:00", "2999-12-31T10:00", "0001-01-01T00:00", "x"]
)
def test_it_refuses_to_schedule_in_the_past_or_the_far_future(client, alice, ready_shop, at):
    from campaigns.services.campaigns import campaign_create

    with time_machine.travel(MORNING, tick=False):
        campaign = campaign_create(
            shop=ready_shop, user=alice, kind="marketing", name="排期", text=MARKETING_TEXT
        )
        client.force_login(alice)
        before = snapshot()
        response = client.post(
            reverse("campaigns:schedule", args=[ready_shop.pk, campaign.pk]),
            {"when": "at", "at": at},
            follow=True,
        )
    assert response.status_code in (200, 400)
    body = response.content.decode()
    assert "notice-error" in body or "errorlist" in body
    assert snapshot() == before
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.DRAFT
    assert not CampaignRun.objects.filter(campaign=campaign).exists()
