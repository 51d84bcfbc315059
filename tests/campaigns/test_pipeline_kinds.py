"""End to end on the simulated gateway: targeted coupon and repurchase reminder campaigns."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import time_machine
from django.conf import settings
from django.db.models import Sum
from django_q.models import Schedule
from django_q.scheduler import scheduler

from campaigns.gateways.simulated import SimulatedGateway
from campaigns.models import Campaign, CampaignRun, Coupon, Message, ShopCounter
from campaigns.selectors import campaign_statistics
from campaigns.services.audience import coupon_create, segment_save
from campaigns.services.campaigns import campaign_create, campaign_schedule, campaign_stop
from reviews.models.templates import MessageTemplate
from smsmarketing.models import SmsAccount
from tests.campaigns.campaign_fixtures import (
    MORNING,
    assert_ledger_clean,
    import_customers,
    phones,
)


def official(name: str) -> MessageTemplate:
    return MessageTemplate.objects.get(origin="official", name=name)


def assert_settled(campaign, start_balance: int) -> None:
    sent = Message.objects.filter(campaign=campaign).exclude(status="suppressed")
    for message in sent:
        expected = "failed" if SimulatedGateway.fails(message.pk, 0.3) else "delivered"
        assert message.status == expected
        assert message.settlement == ("charged" if expected == "delivered" else "released")
    account = SmsAccount.objects.get(shop=campaign.shop)
    delivered = sent.filter(status="delivered").aggregate(p=Sum("parts"))["p"] or 0
    assert account.reserved == 0
    return delivered


def test_it_sends_a_coupon_campaign_with_one_short_link_per_recipient_until_stock_runs_out(
    ready_shop, alice, django_capture_on_commit_callbacks
):
    with time_machine.travel(MORNING, tick=False):
        vip = segment_save(shop=ready_shop, user=alice, name="VIP", tags_any=["VIP"])
        coupon = coupon_create(
            shop=ready_shop,
            user=alice,
            name="会员券",
            amount=Decimal("20"),
            threshold=Decimal("199"),
            valid_from=MORNING,
            valid_until=MORNING + timedelta(days=30),
            total_count=8,
        )
        campaign = campaign_create(
            shop=ready_shop,
            user=alice,
            kind="coupon",
            name="会员回馈",
            segment=vip,
            template=official("优惠券到账提醒"),
            coupon=coupon,
        )
        with django_capture_on_commit_callbacks(execute=True):
            campaign_schedule(campaign=campaign, user=alice)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    messages = Message.objects.filter(campaign=campaign)
    assert messages.count() == 10  # the 10 VIP customers
    assert messages.filter(status="suppressed", reason="COUPON-EXHAUSTED").count() == 2
    sent = messages.exclude(status="suppressed")
    assert sent.count() == 8 and Coupon.objects.get(pk=coupon.pk).issued_count == 8
    codes = set(sent.values_list("link_code", flat=True))
    assert len(codes) == 8 and None not in codes
    for message in sent:
        assert f"{settings.SMS_SHORT_LINK_BASE}{message.link_code}" in message.text
        assert "20元" in message.text and "满199元可用" in message.text and "${" not in message.text
    delivered = assert_settled(campaign, 1000)
    assert SmsAccount.objects.get(shop=ready_shop).balance == 1000 - delivered
    stats = campaign_statistics(campaign=campaign)
    assert stats.planned == 8 and stats.coupons_issued == 8 and stats.parts_charged == delivered
    assert dict(stats.suppressed) == {"COUPON-EXHAUSTED": 2}
    assert_ledger_clean()


def test_it_reminds_each_day_the_customers_whose_last_purchase_is_n_days_old_until_stopped(
    ready_shop, alice, django_capture_on_commit_callbacks
):
    # ready_shop's customer i bought a T恤 on 2026-05-(1 + i % 20): 30 days before 06-01 is 05-02 (i = 1).
    import_customers(ready_shop, [f"{phones(1, 1)[0]},客户1,,T恤,2026-04-01 09:00,10"])  # older: still 05-02
    with time_machine.travel(MORNING, tick=False):
        campaign = campaign_create(
            shop=ready_shop,
            user=alice,
            kind="repurchase",
            name="T恤回购",
            template=official("复购提醒"),
            products=["T恤"],
            days_since_purchase=30,
        )
        campaign_schedule(campaign=campaign, user=alice, at=MORNING + timedelta(minutes=5))
        schedule = Schedule.objects.get(name=f"campaign-{campaign.pk}-daily")
        assert schedule.schedule_type == Schedule.DAILY
    for day in range(3):
        with time_machine.travel(MORNING + timedelta(days=day, minutes=6), tick=False):
            with django_capture_on_commit_callbacks(execute=True):
                scheduler()
    runs = CampaignRun.objects.filter(campaign=campaign).order_by("run_date")
    assert [r.run_date.isoformat() for r in runs] == ["2026-06-01", "2026-06-02", "2026-06-03"]
    assert all(r.status == "finished" for r in runs)
    by_day = {r.run_date.day: list(r.messages.values_list("phone", flat=True)) for r in runs}
    assert by_day == {1: [phones(1, 1)[0]], 2: [phones(1, 2)[0]], 3: [phones(1, 3)[0]]}
    sent = Message.objects.filter(campaign=campaign)
    assert all("T恤" in m.text and m.text.startswith("【爱丽丝服饰】") for m in sent)
    delivered = assert_settled(campaign, 1000)
    assert SmsAccount.objects.get(shop=ready_shop).balance == 1000 - delivered
    counted = ShopCounter.objects.filter(shop=ready_shop, marketing__gt=0).count()
    assert counted == sent.filter(status="delivered").count()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING
    campaign_stop(campaign=campaign, user=alice)
    assert not Schedule.objects.filter(name=f"campaign-{campaign.pk}-daily").exists()
    with time_machine.travel(MORNING + timedelta(days=3, minutes=6), tick=False):
        scheduler()
    assert CampaignRun.objects.filter(campaign=campaign).count() == 3
    stats = campaign_statistics(campaign=campaign)
    assert stats.planned == 3 and stats.delivered + stats.failed == 3
    assert_ledger_clean()
