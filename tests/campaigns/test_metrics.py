"""/metrics: the pipeline's figures, read from PostgreSQL at scrape time, after real sends
through the pipeline (the simulated gateway, django-q2 in synchronous mode)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from django.db.models import Max
from django.test import Client
from django_q.brokers import get_broker
from django_q.models import Schedule
from django_q.scheduler import scheduler
from django_q.signing import SignedPackage
from prometheus_client.parser import text_string_to_metric_families

from campaigns.gateways.simulated import SimulatedGateway
from campaigns.models import Campaign, Message
from campaigns.services.campaigns import campaign_create, campaign_schedule
from campaigns.services.delivery import FINAL_REPORT_DEADLINE
from campaigns.services.optouts import optout_record
from campaigns.tasks import expire_stale_messages
from reviews.models.templates import MessageTemplate
from smsmarketing.models import Reservation
from tests.campaigns.campaign_fixtures import MARKETING_TEXT, MORNING, SH, phones

Figures = dict[tuple[str, tuple[tuple[str, str], ...]], float]
SIMULATED = "campaigns.gateways.simulated.SimulatedGateway"
STAGES = ("planned", "suppressed", "dispatched", "delivered", "failed", "expired", "dropped")


def scrape(client: Client) -> Figures:
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def last_minute(figures: Figures) -> dict[str, float]:
    return {stage: figures[("sms_messages_last_minute", (("stage", stage),))] for stage in STAGES}


def one(figures: Figures, name: str) -> float:
    return figures[(name, ())]


def last_successes(figures: Figures, tasks: set[str]) -> dict[str, float]:
    name = "sms_scheduled_task_last_success_timestamp_seconds"
    return {task: figures[(name, (("task", task),))] for task in tasks}


def send_now(shop, user, capture, *, at: datetime) -> Campaign:
    """A marketing campaign to the shop's 20 customers, sent at ``at`` (frozen clock)."""
    with time_machine.travel(at, tick=False):
        campaign = campaign_create(shop=shop, user=user, kind="marketing", name="上新", text=MARKETING_TEXT)
        with capture(execute=True):
            campaign_schedule(campaign=campaign, user=user)
    return campaign


@pytest.fixture
def gateway_options(pipeline_settings):
    def use(**options):
        pipeline_settings.SMS_GATEWAY = {"BACKEND": SIMULATED, "OPTIONS": options}

    return use


def test_it_counts_the_last_minute_of_a_small_campaign_stage_by_stage(
    ready_shop, alice, client, django_capture_on_commit_callbacks
):
    optout_record(shop_id=ready_shop.pk, phone=phones(1)[0], keyword="TD", source="sms_reply")
    sent_at = MORNING + timedelta(minutes=30)
    campaign = send_now(ready_shop, alice, django_capture_on_commit_callbacks, at=sent_at)
    messages = Message.objects.filter(campaign=campaign)
    failed = sum(1 for m in messages.exclude(status="suppressed") if SimulatedGateway.fails(m.pk, 0.3))
    assert 0 < failed < 19 and messages.filter(status="failed").count() == failed

    with time_machine.travel(sent_at + timedelta(seconds=59), tick=False):
        figures = scrape(client)
    assert one(figures, "sms_pipeline_metrics_up") == 1
    assert last_minute(figures) == {
        "planned": 19,
        "suppressed": 1,
        "dispatched": 19,
        "delivered": 19 - failed,
        "failed": failed,
        "expired": 0,
        "dropped": 0,
    }
    # The simulated gateway reports at the hand-over's own time: no lag, nothing missing.
    assert one(figures, "sms_delivery_report_lag_p95_seconds") == 0
    assert one(figures, "sms_delivery_report_oldest_missing_age_seconds") == 0
    assert one(figures, "sms_messages_planned_oldest_age_seconds") == 0
    assert one(figures, "sms_accounts_with_old_reservations") == 0
    assert one(figures, "sms_quiet_hours") == 0

    with time_machine.travel(sent_at + timedelta(seconds=61), tick=False):
        assert set(last_minute(scrape(client)).values()) == {0}


def test_it_shows_how_long_reports_are_missing_and_the_accounts_still_holding_parts_after_72_hours(
    ready_shop, alice, client, gateway_options, pipeline_settings, django_capture_on_commit_callbacks
):
    gateway_options(report=False)  # the gateway accepts and never reports
    pipeline_settings.SMS_PIPELINE = {**pipeline_settings.SMS_PIPELINE, "PLAN_BATCH": 7}
    sent_at = MORNING + timedelta(minutes=30)
    campaign = send_now(ready_shop, alice, django_capture_on_commit_callbacks, at=sent_at)
    assert Message.objects.filter(campaign=campaign, status="accepted").count() == 20
    reservations = Reservation.objects.filter(account__shop=ready_shop)
    assert reservations.count() == 3  # batches of 7: three reservations of one account

    with time_machine.travel(sent_at + timedelta(minutes=10), tick=False):
        figures = scrape(client)
    assert one(figures, "sms_delivery_report_oldest_missing_age_seconds") == 600
    assert last_minute(figures)["dispatched"] == 0
    assert one(figures, "sms_accounts_with_old_reservations") == 0

    # Past 72 hours, before the hourly sweep: the account still holds the parts. (The ledger
    # dates a reservation with PostgreSQL's clock, which the frozen clock does not move.)
    reserved_at = reservations.aggregate(last=Max("created_at"))["last"]
    late = max(sent_at, reserved_at) + FINAL_REPORT_DEADLINE + timedelta(minutes=5)
    with time_machine.travel(reserved_at + FINAL_REPORT_DEADLINE - timedelta(minutes=1), tick=False):
        assert one(scrape(client), "sms_accounts_with_old_reservations") == 0
    with time_machine.travel(late, tick=False):
        figures = scrape(client)
        assert one(figures, "sms_accounts_with_old_reservations") == 1
        missing = one(figures, "sms_delivery_report_oldest_missing_age_seconds")
        assert missing == (late - sent_at).total_seconds()
        assert expire_stale_messages() == 20  # the sweep releases them
        figures = scrape(client)
    assert not reservations.filter(charged=0, released=0).exists()
    assert one(figures, "sms_accounts_with_old_reservations") == 0
    assert one(figures, "sms_delivery_report_oldest_missing_age_seconds") == 0
    assert last_minute(figures)["expired"] == 20


def test_it_shows_how_long_the_next_due_planned_message_has_waited(
    ready_shop, alice, client, gateway_options, django_capture_on_commit_callbacks
):
    gateway_options(outage=True)  # every hand-over fails retryably: messages go back to planned
    sent_at = MORNING + timedelta(minutes=30)
    campaign = send_now(ready_shop, alice, django_capture_on_commit_callbacks, at=sent_at)
    waiting = Message.objects.filter(campaign=campaign, status="planned")
    assert waiting.count() == 20
    retry_at = sent_at + timedelta(seconds=60)  # RETRY_BACKOFF after the first attempt
    assert set(waiting.values_list("next_attempt_at", flat=True)) == {retry_at}

    with time_machine.travel(sent_at + timedelta(seconds=30), tick=False):
        figures = scrape(client)
    assert one(figures, "sms_messages_planned_oldest_age_seconds") == 0  # none due yet
    assert last_minute(figures)["planned"] == 20  # planned at sent_at, back to planned since
    with time_machine.travel(retry_at + timedelta(minutes=4), tick=False):
        assert one(scrape(client), "sms_messages_planned_oldest_age_seconds") == 240


def test_it_tells_the_quiet_hours(db, client):
    with time_machine.travel(datetime(2026, 6, 1, 22, 30, tzinfo=SH), tick=False):
        assert one(scrape(client), "sms_quiet_hours") == 1


PING = "smsmarketing.tasks.ping"


def test_it_shows_the_queue_depth_and_its_oldest_task(db, client):
    broker = get_broker()
    enqueued_at = MORNING
    with time_machine.travel(enqueued_at, tick=False):
        for value in ("a", "b"):
            broker.enqueue(SignedPackage.dumps({"id": value, "func": PING, "args": (value,)}))
    with time_machine.travel(enqueued_at + timedelta(seconds=90), tick=False):
        figures = scrape(client)
    queue = (("queue", broker.list_key),)
    assert figures[("sms_task_queue_depth", queue)] == 2
    assert figures[("sms_task_queue_taken", queue)] == 0
    assert figures[("sms_task_queue_oldest_age_seconds", queue)] == 90


def test_it_gives_the_last_success_of_each_recurring_schedule(
    ready_shop, alice, client, django_capture_on_commit_callbacks
):
    with time_machine.travel(MORNING, tick=False):
        reminder = campaign_create(
            shop=ready_shop,
            user=alice,
            kind="repurchase",
            name="T恤回购",
            template=MessageTemplate.objects.get(origin="official", name="复购提醒"),
            products=["T恤"],
            days_since_purchase=30,
        )
        campaign_schedule(campaign=reminder, user=alice, at=MORNING + timedelta(minutes=5))
    recurring = set(Schedule.objects.exclude(schedule_type=Schedule.ONCE).values_list("func", flat=True))
    assert {
        "campaigns.tasks.repurchase_daily",
        "campaigns.tasks.expire_stale_messages",
        "campaigns.tasks.purge_frequency_counters",
        "campaigns.tasks.settle_deliveries",
    } <= recurring
    with time_machine.travel(MORNING + timedelta(minutes=1), tick=False):
        before = scrape(client)
    assert last_successes(before, recurring) == {task: 0 for task in recurring}

    # Once every schedule is due (the migrations' ones too, created when the test database
    # was): the scheduler runs them (synchronously here) and each one's success is recorded.
    ran_at = Schedule.objects.aggregate(last=Max("next_run"))["last"] + timedelta(minutes=1)
    with time_machine.travel(ran_at, tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            scheduler()
        figures = scrape(client)
    assert last_successes(figures, recurring) == {task: ran_at.timestamp() for task in recurring}
