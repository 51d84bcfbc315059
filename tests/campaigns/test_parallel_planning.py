"""Several planners plan one run at once (campaigns.services.planning): each recipient is
planned exactly once, planners do not wait for each other, the run moves on only once every
claimed batch is planned, and a batch left by a killed planner is taken over."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection, connections, transaction
from django.db.models import Count, Sum
from django_q.models import Task

from campaigns.models import CampaignRun, Message, PlanBatch
from campaigns.services.campaigns import campaign_create, campaign_schedule, campaign_stop
from campaigns.services.delivery import delivery_settle
from campaigns.services.planning import _claim, plan_batch
from campaigns.services.sending import PLAN_TASK
from campaigns.tasks import run_campaign
from smsmarketing.models import Reservation, SmsAccount
from tests.campaigns.campaign_fixtures import (
    MARKETING_TEXT,
    MORNING,
    import_customers,
    live_signature_for,
    phones,
)
from tests.factories import make_active_account

pytestmark = pytest.mark.django_db(transaction=True)

BATCH = 200
AUDIENCE = 1_050  # six batches, the last one short
BALANCE = 10_000


@pytest.fixture
def run(alice, alice_shop, reviewer, settings) -> CampaignRun:
    settings.SMS_PIPELINE = {**settings.SMS_PIPELINE, "PLAN_BATCH": BATCH}
    make_active_account(alice_shop, balance=BALANCE, user=alice)
    live_signature_for(alice_shop, alice, reviewer)
    import_customers(alice_shop, [f"{p},客户,,,," for p in phones(AUDIENCE)])
    with time_machine.travel(MORNING, tick=False):
        campaign = campaign_create(
            shop=alice_shop, user=alice, kind="marketing", name="大促", text=MARKETING_TEXT
        )
        campaign_schedule(campaign=campaign, user=alice, at=MORNING + timedelta(hours=1))
    run = CampaignRun.objects.get(campaign=campaign)
    CampaignRun.objects.filter(pk=run.pk).update(status=CampaignRun.Status.PLANNING)
    return run


def in_thread(target, *args):
    """Run ``target`` in a thread with its own database connection; returns (thread, result)."""
    result: dict = {}

    def body():
        try:
            result["value"] = target(*args)
        except BaseException as exc:  # surfaced by the test
            result["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=body)
    thread.start()
    return thread, result


def plan_until_done(run_id: int) -> int:
    batches = 0
    while not plan_batch(run_id=run_id, now=MORNING):
        batches += 1
    return batches


def assert_planned_exactly_once(run: CampaignRun) -> None:
    run.refresh_from_db()
    assert run.status == CampaignRun.Status.DISPATCHING
    messages = Message.objects.filter(run=run)
    assert messages.count() == AUDIENCE
    assert set(messages.values_list("phone", flat=True)) == set(phones(AUDIENCE))
    batches = list(PlanBatch.objects.filter(run=run).order_by("number").values_list("number", "planned_at"))
    assert [number for number, _ in batches] == list(range(1, len(batches) + 1)) == list(range(1, 7))
    assert all(planned_at is not None for _, planned_at in batches)
    assert run.batches_planned == len(batches)
    # Each batch's messages carry its number, and its reservation holds exactly their parts.
    per_batch = dict(
        messages.filter(status=Message.Status.PLANNED)
        .values_list("batch")
        .annotate(p=Sum("parts"))
        .order_by()
    )
    reservations = {
        int(reference.rsplit(":", 1)[1]): parts
        for reference, parts in Reservation.objects.filter(
            reference__startswith=f"campaign:{run.campaign_id}:"
        ).values_list("reference", "parts")
    }
    assert reservations == per_batch
    account = SmsAccount.objects.get(shop=run.campaign.shop)
    assert account.reserved == sum(per_batch.values()) > 0
    assert account.balance == BALANCE - account.reserved


def test_it_plans_each_recipient_once_with_four_planners_at_once(run):
    start = threading.Barrier(4)

    def planner():
        start.wait(timeout=30)
        return plan_until_done(run.pk)

    threads = [in_thread(planner) for _ in range(4)]
    for thread, _ in threads:
        thread.join(timeout=120)
    assert [result.get("error") for _, result in threads] == [None] * 4
    assert sum(result["value"] for _, result in threads) >= 6  # every batch planned by someone
    assert_planned_exactly_once(run)
    assert (
        not Message.objects.filter(run=run).values("phone").annotate(n=Count("id")).filter(n__gt=1).exists()
    )


def test_it_plans_other_batches_while_one_is_being_planned_and_waits_for_it_to_finish(run):
    """A planner mid-batch (holding the run FOR KEY SHARE and its batch row) does not stop
    another planner from claiming and planning the other batches; the run moves on to
    dispatching only once that batch is planned."""
    assert _claim(run_id=run.pk, now=MORNING) == 1
    holding, release = threading.Event(), threading.Event()

    def planner_mid_batch():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM campaigns_campaignrun WHERE id = %s FOR KEY SHARE", [run.pk])
            cursor.execute(
                "SELECT 1 FROM campaigns_planbatch WHERE run_id = %s AND number = 1 FOR UPDATE", [run.pk]
            )
            holding.set()
            assert release.wait(timeout=60)
            transaction.set_rollback(True)  # as if killed: batch 1 stays claimed and unplanned

    stuck, stuck_result = in_thread(planner_mid_batch)
    assert holding.wait(timeout=30)

    other, other_result = in_thread(plan_until_done, run.pk)
    # The other planner plans batches 2 to 6 without waiting, then waits for batch 1's planner.
    for _ in range(600):
        if PlanBatch.objects.filter(run=run, planned_at__isnull=False).count() == 5:
            break
        threading.Event().wait(0.05)
    planned = set(
        PlanBatch.objects.filter(run=run, planned_at__isnull=False).values_list("number", flat=True)
    )
    assert planned == {2, 3, 4, 5, 6}
    other.join(timeout=1)
    assert other.is_alive(), "the run must not move on while batch 1 is being planned"
    run.refresh_from_db()
    assert run.status == CampaignRun.Status.PLANNING

    release.set()
    stuck.join(timeout=30)
    other.join(timeout=60)
    assert not other.is_alive() and other_result.get("error") is None and stuck_result.get("error") is None
    assert_planned_exactly_once(run)


def test_it_takes_over_a_batch_claimed_by_a_planner_that_died(run):
    # A planner claimed two batches (committed) and died before planning them.
    assert _claim(run_id=run.pk, now=MORNING) == 1
    assert _claim(run_id=run.pk, now=MORNING) == 2
    run.refresh_from_db()
    assert run.batches_planned == 2 and not Message.objects.filter(run=run).exists()

    plan_until_done(run.pk)
    assert_planned_exactly_once(run)


def test_it_does_not_plan_once_the_run_stopped_planning(run):
    assert _claim(run_id=run.pk, now=MORNING) == 1
    CampaignRun.objects.filter(pk=run.pk).update(status=CampaignRun.Status.CANCELLED)
    assert plan_batch(run_id=run.pk, now=MORNING) is True
    assert not Message.objects.filter(run=run).exists()
    assert SmsAccount.objects.get(shop=run.campaign.shop).reserved == 0


def test_the_run_task_starts_helper_planners_that_plan_beside_it(run, settings):
    """``run_campaign`` enqueues PLAN_WORKERS - 1 ``plan_run_part`` tasks (run inline by the
    test settings' synchronous django-q2), then plans and dispatches the run itself."""
    settings.SMS_PIPELINE = {**settings.SMS_PIPELINE, "PLAN_WORKERS": 3, "DISPATCH_RATE": 0}
    settings.SMS_GATEWAY = {"BACKEND": "campaigns.gateways.simulated.SimulatedGateway", "OPTIONS": {}}
    with time_machine.travel(MORNING + timedelta(hours=1), tick=True):
        assert run_campaign(run.pk) == "finished"
    helpers = Task.objects.filter(func=PLAN_TASK)
    assert helpers.count() == 2 and all(task.success for task in helpers)
    assert {task.args for task in helpers} == {(run.pk,)}
    assert Message.objects.filter(run=run).count() == AUDIENCE
    assert PlanBatch.objects.filter(run=run, planned_at__isnull=True).count() == 0


def test_a_run_in_progress_finishes_after_its_campaign_is_stopped(run, alice, settings):
    """campaign_stop: "a run in progress finishes". The run task resumed after the stop plans
    and sends the rest; nothing stays planned with its parts reserved."""

    settings.SMS_PIPELINE = {**settings.SMS_PIPELINE, "PLAN_WORKERS": 1, "DISPATCH_RATE": 0}
    settings.SMS_GATEWAY = {"BACKEND": "campaigns.gateways.simulated.SimulatedGateway", "OPTIONS": {}}
    assert plan_batch(run_id=run.pk, now=MORNING) is False  # one batch planned, parts reserved
    assert SmsAccount.objects.get(shop=run.campaign.shop).reserved > 0
    campaign_stop(campaign=run.campaign, user=alice)

    with time_machine.travel(MORNING + timedelta(hours=1), tick=True):
        assert run_campaign(run.pk) == "finished"
        delivery_settle()
    run.refresh_from_db()
    assert run.status == CampaignRun.Status.FINISHED
    assert Message.objects.filter(run=run).count() == AUDIENCE
    assert not Message.objects.filter(run=run, status=Message.Status.PLANNED).exists()
    assert SmsAccount.objects.get(shop=run.campaign.shop).reserved == 0
