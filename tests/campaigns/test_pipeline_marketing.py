"""End to end on the simulated gateway: an SMS marketing campaign scheduled at a time."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from django.db.models import Sum
from django_q.models import Schedule
from django_q.scheduler import scheduler

from campaigns.gateways.simulated import SimulatedGateway
from campaigns.models import Campaign, Message, ShopCounter
from campaigns.selectors import campaign_statistics
from campaigns.services.campaigns import campaign_create, campaign_dry_run, campaign_schedule
from campaigns.services.optouts import optout_record
from smsmarketing.models import SmsAccount
from tests.campaigns.campaign_fixtures import (
    MARKETING_TEXT,
    MORNING,
    assert_ledger_clean,
    phones,
)


def test_it_sends_a_scheduled_marketing_campaign_and_settles_every_report(
    ready_shop, alice, django_capture_on_commit_callbacks
):
    optout_record(shop_id=ready_shop.pk, phone=phones(1)[0], keyword="TD", source="sms_reply")
    with time_machine.travel(MORNING, tick=False):
        campaign = campaign_create(
            shop=ready_shop, user=alice, kind="marketing", name="夏季上新", text=MARKETING_TEXT
        )
        dry = campaign_dry_run(campaign=campaign)
        assert (dry.recipients, dry.sendable, dict(dry.suppressed)) == (20, 19, {"OPTED-OUT": 1})
        assert dry.parts == 19 and dry.balance_after == 1000 - 19
        campaign_schedule(campaign=campaign, user=alice, at=MORNING + timedelta(minutes=30))
        assert Schedule.objects.filter(
            name__startswith=f"campaign-{campaign.pk}-run", schedule_type="O"
        ).exists()
        assert not Message.objects.exists()
    with time_machine.travel(MORNING + timedelta(minutes=31), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            scheduler()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    messages = Message.objects.filter(campaign=campaign)
    assert messages.count() == 20
    assert messages.filter(status="suppressed", reason="OPTED-OUT").count() == 1
    sent = messages.exclude(status="suppressed")
    failed_ids = {m.pk for m in sent if SimulatedGateway.fails(m.pk, 0.3)}
    assert failed_ids and len(failed_ids) < 19
    assert set(sent.filter(status="failed").values_list("pk", flat=True)) == failed_ids
    assert sent.filter(status="delivered").count() == 19 - len(failed_ids)
    assert all(m.text.startswith("【爱丽丝服饰】") and m.text.endswith("拒收请回复R") for m in sent)
    assert not sent.exclude(settlement__in=["charged", "released"]).exists()
    # Balance: only delivered parts are charged; nothing stays reserved.
    account = SmsAccount.objects.get(shop=ready_shop)
    delivered_parts = sent.filter(status="delivered").aggregate(p=Sum("parts"))["p"]
    assert account.balance == 1000 - delivered_parts and account.reserved == 0
    # Frequency: delivered phones count once for the shop today, failed ones were released.
    counters = dict(ShopCounter.objects.filter(shop=ready_shop).values_list("phone", "marketing"))
    for message in sent:
        assert counters.get(int(message.phone), 0) == (0 if message.pk in failed_ids else 1)
    stats = campaign_statistics(campaign=campaign)
    assert (stats.planned, dict(stats.suppressed), stats.sent) == (19, {"OPTED-OUT": 1}, 19)
    assert (stats.delivered, stats.failed) == (19 - len(failed_ids), len(failed_ids))
    assert stats.parts_charged == delivered_parts and stats.parts_refunded == len(failed_ids)
    assert stats.progress_percent == 100 and stats.optouts_after == 0
    delivered_phone = sent.filter(status="delivered").first().phone
    with time_machine.travel(MORNING + timedelta(hours=2), tick=False):
        optout_record(shop_id=ready_shop.pk, phone=delivered_phone, keyword="R", source="sms_reply")
    assert campaign_statistics(campaign=campaign).optouts_after == 1  # the earlier opt-out does not count
    assert_ledger_clean()
