"""The issue's must-show: a campaign of 500 messages through the simulated gateway, a receiver on
127.0.0.1 that verifies every signature and fails the first 3 attempts of each event; every event
is received and applied exactly once by its id."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django_q.scheduler import scheduler

from campaigns.models import Campaign, Customer, Message, WebhookAttempt, WebhookDelivery, WebhookEvent
from campaigns.services.campaigns import campaign_create, campaign_schedule
from campaigns.services.optouts import optout_record
from campaigns.services.webhooks import webhook_deliveries_run, webhook_endpoint_create
from campaigns.tasks import deliver_webhooks
from tests.campaigns.campaign_fixtures import (
    MARKETING_TEXT,
    MORNING,
    import_customers,
    live_signature_for,
    phones,
)
from tests.campaigns.webhook_receiver import Receiver
from tests.factories import make_active_account

AUDIENCE = 500
EVENTS = ["message.delivered", "message.failed", "optout.created", "campaign.finished"]


@pytest.fixture
def big_shop(alice, alice_shop, reviewer, pipeline_settings):
    pipeline_settings.SMS_PIPELINE = {**pipeline_settings.SMS_PIPELINE, "DISPATCH_BATCH": 100}
    make_active_account(alice_shop, balance=1000, user=alice)
    live_signature_for(alice_shop, alice, reviewer)
    rows = [f"{p},客户{i},,T恤,2026-05-01 12:00,99" for i, p in enumerate(phones(AUDIENCE))]
    import_customers(alice_shop, rows)
    assert Customer.objects.filter(shop=alice_shop).count() == AUDIENCE
    return alice_shop


def test_it_delivers_every_event_of_a_500_message_campaign_once_despite_three_failures_each(
    big_shop, alice, django_capture_on_commit_callbacks
):
    with Receiver(fail_first=3) as receiver, time_machine.travel(MORNING, tick=False) as clock:
        _endpoint, receiver.secret = webhook_endpoint_create(
            shop=big_shop, user=alice, url=receiver.url, events=EVENTS
        )
        campaign = campaign_create(
            shop=big_shop, user=alice, kind="marketing", name="夏季上新", text=MARKETING_TEXT
        )
        campaign_schedule(campaign=campaign, user=alice, at=MORNING + timedelta(minutes=30))
        clock.move_to(MORNING + timedelta(minutes=31))
        # The run, the gateway's reports, settlement and the first delivery attempts (sync tasks).
        with django_capture_on_commit_callbacks(execute=True):
            scheduler()
        campaign.refresh_from_db()
        assert campaign.status == Campaign.Status.COMPLETED
        delivered = Message.objects.filter(campaign=campaign, status="delivered").first()
        with django_capture_on_commit_callbacks(execute=True):
            optout_record(shop_id=big_shop.pk, phone=delivered.phone, keyword="TD", source="sms_reply")
        # Then the sweeper, every time a retry falls due (the back-off clock, not sleeping).
        for _sweep in range(10):
            due = WebhookDelivery.objects.filter(status="pending").order_by("next_attempt_at").first()
            if due is None:
                break
            clock.move_to(due.next_attempt_at)
            with django_capture_on_commit_callbacks(execute=True):
                deliver_webhooks()
        assert webhook_deliveries_run() == 0

    messages = Message.objects.filter(campaign=campaign)
    statuses = Counter(messages.values_list("status", flat=True))
    assert statuses["delivered"] and statuses["failed"]  # the gateway fails 30 %
    assert statuses["delivered"] + statuses["failed"] == AUDIENCE
    events = {event.id: event for event in WebhookEvent.objects.filter(shop=big_shop)}
    assert Counter(e.type for e in events.values()) == {
        "message.delivered": statuses["delivered"],
        "message.failed": statuses["failed"],
        "optout.created": 1,
        "campaign.finished": 1,
    }
    # Every event received, each signature valid, each applied exactly once by its id.
    assert receiver.bad_signatures == 0
    assert set(receiver.applied) == set(events)
    assert set(receiver.applications.values()) == {1}
    assert set(receiver.attempts.values()) == {4}  # 3 failures, then the success
    # What was applied is what the database says.
    by_message = {
        event["data"]["message_id"]: event["data"]["status"]
        for event in receiver.applied.values()
        if event["type"].startswith("message.")
    }
    assert by_message == dict(messages.values_list("pk", "status"))
    finished = next(e for e in receiver.applied.values() if e["type"] == "campaign.finished")
    assert finished["data"]["campaign_id"] == campaign.pk
    assert finished["data"]["campaign_status"] == "completed"
    # Each delivery's record: succeeded on its 4th attempt after three 500s.
    assert set(WebhookDelivery.objects.values_list("status", "attempts")) == {("succeeded", 4)}
    assert WebhookAttempt.objects.filter(status_code=500).count() == 3 * len(events)
    assert WebhookAttempt.objects.filter(status_code=200, succeeded=True).count() == len(events)
