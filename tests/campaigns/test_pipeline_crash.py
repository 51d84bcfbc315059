"""Crash tests: the run task's process dies mid-planning and mid-dispatch (os._exit, SIGKILL),
is run again, and the campaign completes with no duplicate message and no double charge."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import time_machine
from django.conf import settings
from django.db.models import Count, Sum
from django.test import TransactionTestCase

from campaigns.models import Campaign, CampaignRun, DeliveryReport, Message
from campaigns.services.campaigns import campaign_create, campaign_schedule
from campaigns.services.delivery import delivery_expire_stale, delivery_settle
from campaigns.tasks import resume_unfinished_runs
from smsmarketing.models import SmsAccount
from tests.campaigns.campaign_fixtures import (
    MARKETING_TEXT,
    MORNING,
    assert_ledger_clean,
    import_customers,
    live_signature_for,
    phones,
)
from tests.dburl import test_database_url as database_url
from tests.factories import make_active_account, make_reviewer, make_shop, make_user

# The workers' crash hooks, read by settings.SMS_PIPELINE in the worker process.
PLAN_CRASH = "CAMPAIGNS_CRASH_AFTER_PLAN_BATCHES"
DISPATCH_CRASH = "CAMPAIGNS_CRASH_AFTER_DISPATCH_BATCHES"
PLAN_BATCH = 1_000  # the workers plan in batches of 1,000 (SMS_PLAN_BATCH) ...
AUDIENCE = 2_500  # ... so this audience is three planning batches
BALANCE = 10_000


def worker(run_id: int, *, rate: int = 0, **env: str) -> subprocess.Popen:
    environment = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "smsmarketing.settings_test",
        "SMS_DISPATCH_RATE": str(rate),
        "SMS_SIMULATED_FAIL_RATIO": "0.2",
        "SMS_PLAN_BATCH": str(PLAN_BATCH),
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.campaigns.pipeline_worker", str(run_id), MORNING.isoformat()],
        env=environment,
        cwd=settings.BASE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def big_campaign() -> CampaignRun:
    alice = make_user("alice")
    shop = make_shop("爱丽丝服饰", owner=alice)
    make_active_account(shop, balance=BALANCE, user=alice)
    live_signature_for(shop, alice, make_reviewer())
    import_customers(shop, [f"{p},客户,,,," for p in phones(AUDIENCE)])
    with time_machine.travel(MORNING, tick=False):
        campaign = campaign_create(shop=shop, user=alice, kind="marketing", name="大促", text=MARKETING_TEXT)
        campaign_schedule(campaign=campaign, user=alice, at=MORNING + timedelta(hours=1))
    return CampaignRun.objects.get(campaign=campaign)


def assert_completed_exactly_once(run: CampaignRun) -> None:
    run.refresh_from_db()
    assert run.status == CampaignRun.Status.FINISHED
    assert run.campaign.status == Campaign.Status.COMPLETED
    messages = Message.objects.filter(run=run)
    assert messages.count() == AUDIENCE
    assert not messages.values("phone").annotate(n=Count("id")).filter(n__gt=1).exists()
    # Each message was handed to the gateway once: the simulated gateway reports every hand-over.
    assert not DeliveryReport.objects.values("message").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert not messages.filter(status__in=["planned"]).exists()
    account = SmsAccount.objects.get(shop=run.campaign.shop)
    charged = messages.filter(settlement="charged").aggregate(p=Sum("parts"))["p"]
    assert charged == messages.filter(status="delivered").aggregate(p=Sum("parts"))["p"]
    assert account.reserved == 0 and account.balance == BALANCE - charged
    assert_ledger_clean()


class CrashTests(TransactionTestCase):
    """Real commits, so the worker processes see the rows (a rollback-wrapped test would hide them)."""

    serialized_rollback = True


    def test_it_resumes_after_the_worker_dies_mid_planning_and_mid_dispatch(self):
        run = big_campaign()
        first = worker(run.pk, **{PLAN_CRASH: "1"})
        assert first.wait(timeout=120) == 17, first.stderr.read()
        run.refresh_from_db()
        assert run.status == CampaignRun.Status.PLANNING and run.batches_planned == 1
        assert Message.objects.filter(run=run).count() == PLAN_BATCH
        assert SmsAccount.objects.get(shop=run.campaign.shop).reserved == PLAN_BATCH

        second = worker(run.pk, **{DISPATCH_CRASH: "4"})  # plans the rest, dies after 4 gateway batches
        assert second.wait(timeout=120) == 17, second.stderr.read()
        run.refresh_from_db()
        assert run.status == CampaignRun.Status.DISPATCHING
        handed_over = Message.objects.filter(run=run).exclude(status__in=["planned", "suppressed"]).count()
        assert 0 < handed_over < AUDIENCE

        # No manual re-run: the periodic safety net re-enqueues the unfinished run (in-process, sync).
        unbounded = {**settings.SMS_PIPELINE, "DISPATCH_RATE": 0}
        later = MORNING + timedelta(minutes=10)
        with time_machine.travel(later, tick=True), self.settings(SMS_PIPELINE=unbounded):
            assert resume_unfinished_runs() == 1
        assert_completed_exactly_once(run)

    def test_it_never_sends_twice_after_a_sigkill_during_dispatch(self):
        run = big_campaign()
        victim = worker(run.pk, rate=400)  # ~6 s of dispatch at 400 messages/s
        deadline = time.monotonic() + 60
        while Message.objects.filter(run=run).exclude(status__in=["planned", "suppressed"]).count() < 300:
            assert time.monotonic() < deadline and victim.poll() is None
            time.sleep(0.05)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        assert worker(run.pk).wait(timeout=180) == 0
        # A message claimed in the instant of the kill stays "sending" (never handed over twice)
        # until the 72-hour sweep releases it.
        with time_machine.travel(MORNING + timedelta(hours=80), tick=False):
            delivery_expire_stale()
            delivery_settle()
        assert_completed_exactly_once(run)

    def test_it_hands_each_message_over_once_when_two_workers_run_the_same_run(self):
        # The same task delivered twice (at-least-once): both workers plan and dispatch at once.
        run = big_campaign()
        workers = [worker(run.pk, rate=2000), worker(run.pk, rate=2000)]
        for process in workers:
            assert process.wait(timeout=180) == 0, process.stderr.read()
        assert_completed_exactly_once(run)
        handed = Message.objects.filter(run=run).exclude(status__in=["planned", "suppressed"]).count()
        assert handed == DeliveryReport.objects.filter(message__run=run).count()
