"""Holdout groups (对照组): a campaign's ``holdout_percent`` of its audience, drawn at planning
from the campaign's seed, gets a ``holdout`` message row and nothing else: no send, no
reservation, no charge, no frequency count."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.db.models import Sum
from django.test import TransactionTestCase
from django.urls import reverse
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from campaigns.models import Campaign, CampaignRun, DeliveryReport, Message, PlatformCounter, ShopCounter
from campaigns.selectors import campaign_statistics, campaigns_progress
from campaigns.services.campaigns import campaign_create, campaign_dry_run, campaign_schedule
from campaigns.services.draws import HELD, REST, Cut
from campaigns.services.frequency import ReplayEvent, frequency_decide, frequency_replay
from campaigns.services.optouts import optout_record
from campaigns.services.planning import plan_batch
from campaigns.services.scheduling import campaign_schedule_check
from campaigns.services.sending import run_execute
from campaigns.services.variants import campaign_holdout_set
from smsmarketing.errors import SmsError
from smsmarketing.models import SmsAccount
from tests.campaigns.campaign_fixtures import (
    MARKETING_TEXT,
    MORNING,
    assert_ledger_clean,
    import_customers,
    live_signature_for,
    phones,
)
from tests.campaigns.test_pipeline_crash import PLAN_BATCH as CRASH_PLAN_BATCH
from tests.campaigns.test_pipeline_crash import PLAN_CRASH, worker
from tests.factories import make_active_account, make_reviewer, make_shop, make_user

pytestmark = pytest.mark.django_db(transaction=False)

AUDIENCE = 600
CRASH_AUDIENCE, CRASH_BALANCE = 2_500, 10_000  # three planning batches of the crash tests' worker


def expected_holdout(seed: int, numbers: list[str], percent: int) -> set[str]:
    """The draw computed by hand: BLAKE2b of the phone keyed with the seed, below the share."""
    key = (seed & (2**64 - 1)).to_bytes(8, "big")
    return {
        p
        for p in numbers
        if int.from_bytes(hashlib.blake2b(p.encode(), key=key, digest_size=8).digest(), "big") / 2**64
        < percent / 100
    }


@pytest.fixture
def big_shop(alice, alice_shop, reviewer, pipeline_settings):
    make_active_account(alice_shop, balance=5000, user=alice)
    live_signature_for(alice_shop, alice, reviewer)
    import_customers(alice_shop, [f"{p},客户{i},,,," for i, p in enumerate(phones(AUDIENCE))])
    return alice_shop


def held_campaign(shop, user, percent: int = 20) -> Campaign:
    campaign = campaign_create(shop=shop, user=user, kind="marketing", name="对照组测试", text=MARKETING_TEXT)
    return campaign_holdout_set(campaign=campaign, user=user, percent=percent)


def plan_all(run_id: int) -> None:
    while not plan_batch(run_id=run_id):
        pass


def test_it_holds_out_the_share_drawn_from_the_seed_the_same_way_whatever_the_batches(
    big_shop, alice, settings
):
    with time_machine.travel(MORNING, tick=False):
        campaign = held_campaign(big_shop, alice, percent=20)
        assert campaign.seed != 0
        run = CampaignRun.objects.create(campaign=campaign, status=CampaignRun.Status.PLANNING)
        expected = expected_holdout(campaign.seed, phones(AUDIENCE), 20)
        # Within 4 standard deviations of 20 % of 600 (sd 9.8).
        assert abs(len(expected) - 120) < 40

        settings.SMS_PIPELINE = {**settings.SMS_PIPELINE, "PLAN_BATCH": 250}
        with transaction.atomic():
            plan_all(run.pk)
            first = set(Message.objects.filter(run=run, status="holdout").values_list("phone", flat=True))
            transaction.set_rollback(True)  # planned again below, in other batches
        settings.SMS_PIPELINE = {**settings.SMS_PIPELINE, "PLAN_BATCH": 37}
        plan_all(run.pk)
    second = set(Message.objects.filter(run=run, status="holdout").values_list("phone", flat=True))
    assert first == second == expected
    assert Message.objects.filter(run=run, status="planned").count() == AUDIENCE - len(expected)


def test_it_draws_another_holdout_for_another_campaign(big_shop, alice):
    one, two = held_campaign(big_shop, alice), held_campaign(big_shop, alice)
    assert one.seed != two.seed
    numbers = phones(AUDIENCE)
    assert expected_holdout(one.seed, numbers, 20) != expected_holdout(two.seed, numbers, 20)


def test_it_sends_reserves_charges_and_counts_nothing_for_the_holdout_and_the_replay_agrees(
    big_shop, alice, django_capture_on_commit_callbacks
):
    opted_out = phones(1)[0]
    optout_record(shop_id=big_shop.pk, phone=opted_out, keyword="TD", source="sms_reply")
    with time_machine.travel(MORNING, tick=False):
        campaign = held_campaign(big_shop, alice, percent=30)
        drawn = expected_holdout(campaign.seed, phones(AUDIENCE), 30)
        held = drawn - {opted_out}
        dry = campaign_dry_run(campaign=campaign)
        assert (dry.recipients, dry.holdout, dry.sendable) == (AUDIENCE, len(held), AUDIENCE - 1 - len(held))
        assert dry.parts == dry.sendable and dry.balance_after == 5000 - dry.sendable
        check = campaign_schedule_check(campaign=campaign)
        assert check.figures["holdout"] == len(held)

        # Planning only, as the run task starts it (it would go on to dispatch): what is reserved.
        campaign = campaign_schedule(campaign=campaign, user=alice, at=MORNING + timedelta(hours=1))
        campaign.start(at=MORNING)
        campaign.save()
        run = campaign.runs.get()
        run.status = CampaignRun.Status.PLANNING
        run.save(update_fields=["status"])
        plan_all(run.pk)
        account = SmsAccount.objects.get(shop=big_shop)
        planned = Message.objects.filter(run=run, status="planned")
        assert account.reserved == planned.aggregate(p=Sum("parts"))["p"] == AUDIENCE - 1 - len(held)

    messages = Message.objects.filter(campaign=campaign)
    assert set(messages.filter(status="holdout").values_list("phone", flat=True)) == held
    assert messages.get(phone=opted_out).status == "suppressed"  # drawn or not: never sendable
    for message in messages.filter(status="holdout"):
        assert (message.parts, message.settlement, message.body, message.link_code) == (0, "none", "", None)
        assert message.counted_at is None and message.sent_at is None and message.variant_id is None
    # Nothing counted for the holdout: no counter row of this shop, no platform count.
    held_numbers = [int(p) for p in held]
    assert not ShopCounter.objects.filter(shop=big_shop, phone__in=held_numbers, marketing__gt=0).exists()
    assert not PlatformCounter.objects.filter(phone__in=held_numbers, marketing__gt=0).exists()

    # Dispatch and settle: the holdout stays as it was; only delivered parts are charged.
    with time_machine.travel(MORNING + timedelta(hours=1, minutes=1), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            run_execute(run_id=run.pk)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    assert set(messages.filter(status="holdout").values_list("phone", flat=True)) == held
    assert not messages.filter(status="holdout").exclude(settlement="none").exists()
    # The statistics count the holdout apart: the campaign is done (100 %) and settles.
    stats = campaign_statistics(campaign=campaign)
    listed = campaigns_progress(campaigns=[campaign])[campaign.pk]
    assert stats.holdout == listed.holdout == len(held)
    assert stats.planned == listed.planned == AUDIENCE - 1 - len(held)
    assert stats.progress_percent == listed.progress_percent == 100
    assert stats.total == AUDIENCE
    account.refresh_from_db()
    delivered = messages.filter(status="delivered").aggregate(p=Sum("parts"))["p"]
    assert account.reserved == 0 and account.balance == 5000 - delivered
    assert_ledger_clean()

    # The caps' replay agrees: replaying only the messages really sent (failed ones released)
    # gives, for a second send of the shop to everyone later that day, the live decisions.
    later = MORNING + timedelta(hours=3)
    sent = messages.exclude(status__in=["holdout", "suppressed"]).order_by("sent_at", "id")
    events = [
        ReplayEvent(m.sent_at, "店", m.phone, "marketing", failed=m.status != "delivered") for m in sent
    ]
    probes = [ReplayEvent(at=later, shop="店", phone=p, message_class="marketing") for p in phones(AUDIENCE)]
    replayed = frequency_replay(events=events + probes)[len(events) :]
    live = frequency_decide(
        shop_id=big_shop.pk, message_class="marketing", phones=phones(AUDIENCE), at=later, commit=False
    )
    # The replay knows no opt-outs: the opted-out phone is the one difference.
    optout = "OPTED-OUT"
    live_answers = [
        (d.phone, d.allowed or d.reason == optout, None if d.reason == optout else d.reason) for d in live
    ]
    assert [(d.phone, d.allowed, d.reason) for d in replayed] == live_answers
    live_held = [d for d in live if d.phone in held]
    assert len(live_held) == len(held) and all(d.allowed for d in live_held)  # sendable at once


def test_it_refuses_a_holdout_over_half_or_on_a_scheduled_campaign(big_shop, alice):
    campaign = campaign_create(shop=big_shop, user=alice, kind="marketing", name="对照", text=MARKETING_TEXT)
    for bad in (51, -1, 100):
        with pytest.raises(SmsError, match="对照组比例"):
            campaign_holdout_set(campaign=campaign, user=alice, percent=bad)
    campaign.refresh_from_db()
    assert campaign.holdout_percent == 0
    with time_machine.travel(MORNING, tick=False):
        campaign_schedule(campaign=campaign, user=alice, at=MORNING + timedelta(hours=1))
    with pytest.raises(SmsError, match="只有草稿"):
        campaign_holdout_set(campaign=campaign, user=alice, percent=10)


def test_the_dry_run_and_the_confirmation_pages_show_the_holdout(client, big_shop, alice):
    client.force_login(alice)
    with time_machine.travel(MORNING, tick=False):
        campaign = held_campaign(big_shop, alice, percent=20)
        held = len(expected_holdout(campaign.seed, phones(AUDIENCE), 20))
        dry = client.get(reverse("campaigns:dry_run", args=[big_shop.pk, campaign.pk])).content.decode()
        page = client.get(reverse("campaigns:schedule", args=[big_shop.pk, campaign.pk]), {"when": "now"})
    assert f'<span>对照组（不发送）</span><strong id="dry-holdout">{held}</strong>' in dry
    assert f'<dd id="confirm-holdout">{held} 人' in page.content.decode()
    assert f"确认，立即发送 {AUDIENCE - held} 人" in page.content.decode()
    # A campaign without a holdout shows no such line.
    plain = campaign_create(shop=big_shop, user=alice, kind="marketing", name="普通", text=MARKETING_TEXT)
    with time_machine.travel(MORNING, tick=False):
        dry = client.get(reverse("campaigns:dry_run", args=[big_shop.pk, plain.pk])).content.decode()
    assert "dry-holdout" not in dry


class HoldoutCrashTests(TransactionTestCase):
    """Real commits and real processes: the planner dies after its first batch, another plans the
    rest (``tests.campaigns.test_pipeline_crash``'s worker)."""

    serialized_rollback = True


    def test_it_draws_the_same_holdout_when_a_planner_dies_and_another_takes_over(self):
        alice = make_user("alice")
        shop = make_shop("爱丽丝服饰", owner=alice)
        make_active_account(shop, balance=CRASH_BALANCE, user=alice)
        live_signature_for(shop, alice, make_reviewer())
        import_customers(shop, [f"{p},客户,,,," for p in phones(CRASH_AUDIENCE)])
        with time_machine.travel(MORNING, tick=False):
            campaign = held_campaign(shop, alice, percent=25)
            campaign_schedule(campaign=campaign, user=alice, at=MORNING + timedelta(hours=1))
        run = CampaignRun.objects.get(campaign=campaign)
        first = worker(run.pk, **{PLAN_CRASH: "1"})
        assert first.wait(timeout=120) == 17, first.stderr.read()
        assert Message.objects.filter(run=run).count() == CRASH_PLAN_BATCH
        assert worker(run.pk).wait(timeout=180) == 0
        messages = Message.objects.filter(run=run)
        expected = expected_holdout(campaign.seed, phones(CRASH_AUDIENCE), 25)
        assert set(messages.filter(status="holdout").values_list("phone", flat=True)) == expected
        assert messages.count() == CRASH_AUDIENCE
        # No held-out recipient was handed to the gateway (it reports every hand-over).
        assert not DeliveryReport.objects.filter(message__status="holdout").exists()
        assert not messages.exclude(status__in=["holdout", "delivered", "failed"]).exists()
        account = SmsAccount.objects.get(shop=shop)
        charged = messages.filter(status="delivered").aggregate(p=Sum("parts"))["p"]
        assert account.reserved == 0 and account.balance == CRASH_BALANCE - charged
        assert_ledger_clean()


@given(
    seed=st.integers(min_value=1, max_value=2**62),
    holdout=st.integers(min_value=0, max_value=50),
    share=st.integers(min_value=2, max_value=100),
    variants=st.sampled_from([0, 2, 3, 5]),
    phone=st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
)
@hypothesis_settings(max_examples=300, deadline=None)
def test_the_cut_is_the_draw_cut_at_the_shares_as_documented(seed, holdout, share, variants, phone):
    """``Cut.of`` (integer thresholds) against the definition in floats (docs/RESULTS.md)."""
    campaign = Campaign(seed=seed, holdout_percent=holdout, ab_test_percent=share)
    key = (seed & (2**64 - 1)).to_bytes(8, "big")
    u = int.from_bytes(hashlib.blake2b(phone.encode(), key=key, digest_size=8).digest(), "big") / 2**64
    if u < holdout / 100:
        expected = HELD
    elif variants < 2:
        expected = REST
    else:
        v = (u - holdout / 100) / (1 - holdout / 100)
        expected = min(int(v / (share / 100) * variants), variants - 1) if v < share / 100 else REST
    assert Cut(campaign=campaign, variants=variants).of(phone) == expected


def test_the_variants_split_the_test_share_evenly():
    campaign = Campaign(seed=20261207, holdout_percent=10, ab_test_percent=30)
    cut = Cut(campaign=campaign, variants=3)
    counts = Counter(cut.of(p) for p in phones(30_000))
    # 10 % held out, 30 % of the other 90 % split in three (9 % each), the rest 63 %; 4 sd.
    for group, share in ((HELD, 0.10), (0, 0.09), (1, 0.09), (2, 0.09), (REST, 0.63)):
        assert abs(counts[group] - 30_000 * share) < 4 * (30_000 * share * (1 - share)) ** 0.5, group
