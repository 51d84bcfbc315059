"""Planning under the spending limits (docs/SPEND_LIMITS.md): the must-show — two campaigns
planned at once against a daily cap of 1,000 parts reserve at most 1,000 in total, the rest is
SPEND-LIMIT in the dry run and the statistics — and the pause and resume of a run."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
import time_machine
from django.db.models import Sum
from django.urls import reverse
from django_q.models import Schedule

from campaigns.models import Campaign, CampaignRun, Message, PlanBatch
from campaigns.selectors import campaign_statistics
from campaigns.services.audience import segment_save
from campaigns.services.campaigns import (
    CampaignStateError,
    campaign_create,
    campaign_dry_run,
    campaign_schedule,
)
from campaigns.services.planning import SPEND_LIMIT, plan_batch
from campaigns.services.spend_pause import campaign_resume, spend_paused_runs_resume_due
from campaigns.tasks import run_campaign
from smsmarketing.errors import SpendLimitReached
from smsmarketing.models import Membership, Reservation, SmsAccount, SpendCounter
from smsmarketing.permissions import RoleRequired
from smsmarketing.services.spend_limits import account_set_spend_limits, spend_limit_state
from tests.campaigns.campaign_fixtures import (
    MARKETING_TEXT,
    MORNING,
    SH,
    assert_ledger_clean,
    import_customers,
    live_signature_for,
    phones,
)
from tests.campaigns.test_parallel_planning import in_thread
from tests.factories import make_active_account, make_user

pytestmark = pytest.mark.django_db(transaction=True)

BATCH = 200
CAP = 1_000
BALANCE = 10_000


@pytest.fixture
def shop(alice, alice_shop, reviewer, settings):
    settings.SMS_PIPELINE = {
        **settings.SMS_PIPELINE, "PLAN_BATCH": BATCH, "DISPATCH_RATE": 0, "PLAN_WORKERS": 1
    }
    settings.SMS_GATEWAY = {"BACKEND": "campaigns.gateways.simulated.SimulatedGateway", "OPTIONS": {}}
    with time_machine.travel(MORNING - timedelta(days=1), tick=False):
        make_active_account(alice_shop, balance=BALANCE, user=alice)
    live_signature_for(alice_shop, alice, reviewer)
    account_set_spend_limits(shop=alice_shop, user=alice, daily=CAP, monthly=None)
    return alice_shop


def make_campaign(shop, user, *, name: str, tag: str | None, count: int, start: int) -> Campaign:
    """A campaign to ``count`` new customers (tagged ``tag``), every message one part."""
    import_customers(shop, [f"{p},客户,{tag or ''},,," for p in phones(count, start)])
    segment = segment_save(shop=shop, user=user, name=f"人群{tag}", tags_any=[tag]) if tag else None
    with time_machine.travel(MORNING, tick=False):
        campaign = campaign_create(shop=shop, user=user, kind="marketing", name=name, segment=segment,
                                   text=MARKETING_TEXT)
    return campaign


def start_planning(campaign: Campaign, user) -> CampaignRun:
    with time_machine.travel(MORNING, tick=False):
        campaign_schedule(campaign=campaign, user=user, at=MORNING + timedelta(hours=1))
    run = CampaignRun.objects.get(campaign=campaign)
    CampaignRun.objects.filter(pk=run.pk).update(status=CampaignRun.Status.PLANNING)
    return run


def plan_until_done(run_id: int) -> None:
    while not plan_batch(run_id=run_id, now=MORNING):
        pass


def planned_parts(campaign: Campaign) -> int:
    rows = Message.objects.filter(campaign=campaign, status=Message.Status.PLANNED)
    return rows.aggregate(p=Sum("parts"))["p"] or 0


def test_two_campaigns_planned_at_once_reserve_at_most_the_daily_cap(alice, shop):
    first = make_campaign(shop, alice, name="大促一", tag="甲", count=1_200, start=0)
    second = make_campaign(shop, alice, name="大促二", tag="乙", count=1_200, start=5_000)

    # The dry run, before: each alone would take the whole cap and hold 200 back.
    with time_machine.travel(MORNING, tick=False):
        for campaign in (first, second):
            dry = campaign_dry_run(campaign=campaign)
            assert (dry.sendable, dry.parts) == (1_200, 1_200)
            assert (dry.spend.daily_limit, dry.spend.daily_used) == (CAP, 0)
            assert (dry.spend_take, dry.spend_held) == (CAP, 200)

    runs = [start_planning(first, alice), start_planning(second, alice)]
    # Two planners per run, all four at once (real threads, own connections).
    start = threading.Barrier(4)

    def planner(run_id: int) -> None:
        start.wait(timeout=30)
        plan_until_done(run_id)

    with time_machine.travel(MORNING, tick=True):  # process-wide: the threads' clock too
        threads = [in_thread(planner, run.pk) for run in runs for _ in range(2)]
        for thread, _ in threads:
            thread.join(timeout=120)
    assert [result.get("error") for _, result in threads] == [None] * 4

    # Exactly the cap is reserved in total (demand 2,400 > 1,000), never more.
    reserved = Reservation.objects.filter(account__shop=shop).aggregate(p=Sum("parts"))["p"]
    assert reserved == CAP
    assert planned_parts(first) + planned_parts(second) == CAP
    account = SmsAccount.objects.get(shop=shop)
    assert (account.reserved, account.balance) == (CAP, BALANCE - CAP)
    assert SpendCounter.objects.get(account=account, period="day").spent == CAP

    # The rest: suppressed as SPEND-LIMIT (those of claimed batches) or not claimed yet; both runs
    # paused for the day, with the reason visible in the statistics and the dry run.
    for campaign, run in zip((first, second), runs, strict=True):
        run.refresh_from_db()
        assert run.spend_paused == "day" and run.status == CampaignRun.Status.DISPATCHING
        assert run.spend_resume_at == datetime(2026, 6, 2, 0, 0, tzinfo=SH)
        stats = campaign_statistics(campaign=campaign)
        held = Message.objects.filter(campaign=campaign, reason=SPEND_LIMIT, status=Message.Status.SUPPRESSED)
        assert stats.suppressed[SPEND_LIMIT] == held.count()
        assert stats.suppressed[SPEND_LIMIT] > 0
        assert set(stats.suppressed) == {SPEND_LIMIT}
        assert stats.planned + stats.suppressed[SPEND_LIMIT] <= 1_200
    # The dry run now: the cap is used up, everyone it would still send waits (SPEND-LIMIT).
    with time_machine.travel(MORNING, tick=False):
        dry = campaign_dry_run(campaign=first)
        assert (dry.spend.daily_used, dry.spend.left, dry.spend_take) == (CAP, 0, 0)
        assert dry.spend_held == dry.sendable > 0
    assert_ledger_clean()


def test_a_paused_run_sends_what_it_reserved_and_resumes_the_next_day_with_nobody_lost(alice, shop):
    campaign = make_campaign(shop, alice, name="大促", tag=None, count=1_500, start=0)
    with time_machine.travel(MORNING, tick=False):
        campaign_schedule(campaign=campaign, user=alice)  # now: the run task runs inline
    run = CampaignRun.objects.get(campaign=campaign)
    with time_machine.travel(MORNING, tick=True):
        outcome = run_campaign(run.pk)
    run.refresh_from_db()
    assert outcome == "paused" or run.status == CampaignRun.Status.PAUSED
    assert (run.status, run.spend_paused) == (CampaignRun.Status.PAUSED, "day")
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING
    messages = Message.objects.filter(run=run)
    sent = messages.exclude(status=Message.Status.SUPPRESSED)
    assert not sent.filter(status=Message.Status.PLANNED).exists()  # what was reserved went out
    assert sent.aggregate(p=Sum("parts"))["p"] == CAP
    held = messages.filter(reason=SPEND_LIMIT).count()
    assert held > 0
    assert messages.count() <= 1_500
    assert Schedule.objects.filter(name="campaigns-resume-spend-paused-runs").exists()

    # A stray run task does nothing to a paused run; the minute schedule before midnight neither.
    with time_machine.travel(MORNING + timedelta(hours=2), tick=True):
        assert run_campaign(run.pk) == "skipped"
        assert spend_paused_runs_resume_due() == 0

    # The next day: resumed by the schedule, the held-back recipients planned again, then the rest.
    next_day = datetime(2026, 6, 2, 9, 0, tzinfo=SH)
    with time_machine.travel(next_day, tick=True):
        assert spend_paused_runs_resume_due() == 1
        run.refresh_from_db()
        assert run.status in {CampaignRun.Status.FINISHED, CampaignRun.Status.PLANNING}
        if run.status != CampaignRun.Status.FINISHED:
            run_campaign(run.pk)
    run.refresh_from_db()
    assert run.status == CampaignRun.Status.FINISHED and run.spend_paused == ""
    assert PlanBatch.objects.filter(run=run, replans__isnull=False).count() >= 1
    messages = Message.objects.filter(run=run)
    assert not messages.filter(reason=SPEND_LIMIT).exists()
    assert messages.count() == 1_500
    assert set(messages.values_list("phone", flat=True)) == set(phones(1_500))
    assert messages.exclude(status=Message.Status.SUPPRESSED).count() == 1_500
    assert not messages.filter(status=Message.Status.PLANNED).exists()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    account = SmsAccount.objects.get(shop=shop)
    with time_machine.travel(next_day, tick=False):
        assert spend_limit_state(account_id=account.pk).daily_used == 500
    assert_ledger_clean()


def test_only_the_owner_resumes_and_only_with_cap_left(alice, shop):
    campaign = make_campaign(shop, alice, name="大促", tag=None, count=1_200, start=0)
    run = start_planning(campaign, alice)
    with time_machine.travel(MORNING, tick=True):
        plan_until_done(run.pk)
    run.refresh_from_db()
    assert run.spend_paused == "day"
    operator = make_user("op")
    Membership.objects.create(user=operator, shop=shop, role=Membership.Role.OPERATOR)
    with pytest.raises(RoleRequired) as refused:
        campaign_resume(campaign=campaign, user=operator)
    assert "店主" in refused.value.message
    with time_machine.travel(MORNING, tick=False):
        with pytest.raises(SpendLimitReached) as refused:
            campaign_resume(campaign=campaign, user=alice)
        assert "每日消费上限已用完" in refused.value.message
        run.refresh_from_db()
        assert run.spend_paused == "day"
        # The owner raises the cap and resumes now: the held-back recipients are planned again.
        account_set_spend_limits(shop=shop, user=alice, daily=2_000, monthly=None)
        resumed = campaign_resume(campaign=campaign, user=alice)
    assert resumed.pk == run.pk and resumed.spend_paused == ""
    with time_machine.travel(MORNING + timedelta(minutes=1), tick=True):
        run_campaign(run.pk)
    run.refresh_from_db()
    assert run.status == CampaignRun.Status.FINISHED
    assert Message.objects.filter(run=run).count() == 1_200
    assert not Message.objects.filter(run=run, reason=SPEND_LIMIT).exists()
    with pytest.raises(CampaignStateError):
        campaign_resume(campaign=campaign, user=alice)
    assert_ledger_clean()


def test_the_campaign_page_shows_the_pause_and_only_the_owner_gets_the_button(client, alice, shop):
    campaign = make_campaign(shop, alice, name="大促", tag=None, count=1_200, start=0)
    client.force_login(alice)
    with time_machine.travel(MORNING, tick=False):  # the draft's dry run page: the cap's share
        body = client.get(reverse("campaigns:dry_run", args=[shop.pk, campaign.pk])).content.decode()
    assert "本任务预计占用今日上限 <strong>1,000 / 1,000</strong> 条" in body
    assert "<strong>200</strong> 位客户将超出消费上限（SPEND-LIMIT）" in body
    run = start_planning(campaign, alice)
    with time_machine.travel(MORNING, tick=True):
        campaign_schedule_running(campaign)
        plan_until_done(run.pk)
    detail = reverse("campaigns:detail", args=[shop.pk, campaign.pk])
    resume = reverse("campaigns:resume", args=[shop.pk, campaign.pk])
    client.force_login(alice)
    body = client.get(detail).content.decode()
    assert "已暂停（达到每日消费上限）" in body and 'id="spend-resume"' in body and resume in body
    assert "2026-06-02 00:00" in body

    operator = make_user("op")
    Membership.objects.create(user=operator, shop=shop, role=Membership.Role.OPERATOR)
    client.force_login(operator)
    body = client.get(detail).content.decode()
    assert "已暂停（达到每日消费上限）" in body and 'id="spend-resume"' not in body
    assert client.post(resume).status_code == 403

    # The owner's button with the cap used up: refused in Chinese, still paused.
    client.force_login(alice)
    with time_machine.travel(MORNING, tick=False):
        body = client.post(resume, follow=True).content.decode()
    assert "每日消费上限已用完" in body
    run.refresh_from_db()
    assert run.spend_paused == "day"


def campaign_schedule_running(campaign: Campaign) -> None:
    """The run task started it: the campaign is running (as _run_start leaves it)."""
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING, started_at=MORNING)
