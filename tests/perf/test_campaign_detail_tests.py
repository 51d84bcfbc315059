"""The statistics page lists the campaign's last test messages without scanning its messages
(the 1M-message plan of docs/PERFORMANCE.md): those of its last 5 test runs, newest first."""

from __future__ import annotations

import pytest
from django.urls import reverse

from campaigns.models import Campaign, CampaignRun, Message
from tests.campaigns.campaign_fixtures import MARKETING_TEXT

pytestmark = pytest.mark.django_db


def test_it_shows_the_last_five_test_messages_newest_first(client, alice, alice_shop):
    campaign = Campaign.objects.create(
        shop=alice_shop, kind="marketing", name="营销", status="draft", text=MARKETING_TEXT, created_by=alice
    )
    audience = CampaignRun.objects.create(campaign=campaign, status="finished")
    Message.objects.create(campaign=campaign, run=audience, shop=alice_shop, phone="13800000000", parts=1)
    for i in range(7):
        run = CampaignRun.objects.create(campaign=campaign, kind="test", test_phone=f"1390000000{i}")
        Message.objects.create(campaign=campaign, run=run, shop=alice_shop, phone=run.test_phone, parts=1)
    client.force_login(alice)
    response = client.get(reverse("campaigns:detail", args=[alice_shop.pk, campaign.pk]))
    shown = [m.phone for m in response.context["test_messages"]]
    assert shown == [f"1390000000{i}" for i in (6, 5, 4, 3, 2)]
    assert "13800000000" not in response.content.decode()


def test_it_shows_no_test_message_for_a_campaign_never_tested(client, alice, alice_shop):
    campaign = Campaign.objects.create(
        shop=alice_shop, kind="marketing", name="营销", status="draft", text=MARKETING_TEXT, created_by=alice
    )
    client.force_login(alice)
    response = client.get(reverse("campaigns:detail", args=[alice_shop.pk, campaign.pk]))
    assert response.context["test_messages"] == []
