"""Delivery reports: applied once each, out of order and twice; settlement; the 72-hour sweep;
gateway outages retried later, never lost."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django_q.models import Schedule
from django_q.scheduler import scheduler

from campaigns.models import DeliveryReport, Message, ShopCounter
from campaigns.services.campaigns import campaign_create, campaign_schedule
from campaigns.services.delivery import delivery_report_apply, delivery_reports_apply, delivery_settle
from campaigns.tasks import expire_stale_messages
from smsmarketing.models import LedgerEntry, SmsAccount
from tests.campaigns.campaign_fixtures import (
    MARKETING_TEXT,
    MORNING,
    assert_ledger_clean,
)


@pytest.fixture
def silent_gateway(pipeline_settings):
    pipeline_settings.SMS_GATEWAY = {
        "BACKEND": "campaigns.gateways.simulated.SimulatedGateway",
        "OPTIONS": {"report": False},
    }


def send_campaign(shop, user, capture):
    with time_machine.travel(MORNING, tick=False):
        campaign = campaign_create(shop=shop, user=user, kind="marketing", name="t", text=MARKETING_TEXT)
        with capture(execute=True):
            campaign_schedule(campaign=campaign, user=user)
    return campaign


def counted(shop, phone: str) -> int:
    row = ShopCounter.objects.filter(shop=shop, phone=int(phone)).first()
    return row.marketing if row else 0


def test_it_applies_each_report_once_whatever_the_order_and_never_leaves_a_final_state(
    ready_shop,
    alice,
    silent_gateway,
    django_capture_on_commit_callbacks,
):
    campaign = send_campaign(ready_shop, alice, django_capture_on_commit_callbacks)
    first, second = Message.objects.filter(campaign=campaign).order_by("id")[:2]
    assert first.status == second.status == "accepted"
    at = MORNING + timedelta(minutes=1)
    assert delivery_report_apply(message_id=first.pk, status="delivered", at=at) is True
    assert delivery_report_apply(message_id=first.pk, status="accepted", at=at) is False  # late intermediate
    assert delivery_report_apply(message_id=first.pk, status="delivered", at=at) is False  # duplicate
    assert delivery_report_apply(message_id=first.pk, status="failed", at=at) is False  # final stays final
    assert delivery_report_apply(message_id=second.pk, status="failed", at=at, raw={"err": "001"}) is True
    assert delivery_report_apply(message_id=10**9, status="delivered", at=at) is False  # unknown message
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("delivered", "failed")
    assert DeliveryReport.objects.filter(message=first).count() == 4
    assert DeliveryReport.objects.filter(message=first, applied=True).count() == 1
    assert counted(ready_shop, first.phone) == counted(ready_shop, second.phone) == 1
    before = SmsAccount.objects.get(shop=ready_shop)
    assert delivery_settle() == 2
    assert delivery_settle() == 0  # nothing settles twice
    after = SmsAccount.objects.get(shop=ready_shop)
    assert after.reserved == before.reserved - first.parts - second.parts
    assert after.balance == before.balance + second.parts  # the failed one's parts come back
    assert counted(ready_shop, first.phone) == 1 and counted(ready_shop, second.phone) == 0
    assert_ledger_clean()


def test_it_releases_messages_without_a_final_report_after_72_hours(
    ready_shop,
    alice,
    silent_gateway,
    django_capture_on_commit_callbacks,
):
    campaign = send_campaign(ready_shop, alice, django_capture_on_commit_callbacks)
    messages = Message.objects.filter(campaign=campaign)
    with time_machine.travel(MORNING + timedelta(hours=71), tick=False):
        assert expire_stale_messages() == 0
    with time_machine.travel(MORNING + timedelta(hours=73), tick=False):
        assert expire_stale_messages() == 20
    assert set(messages.values_list("status", "reason", "settlement")) == {
        ("expired", "NO-REPORT", "released")
    }
    account = SmsAccount.objects.get(shop=ready_shop)
    assert (account.balance, account.reserved) == (1000, 0)
    assert not ShopCounter.objects.filter(shop=ready_shop, marketing__gt=0).exists()
    late = messages.first()
    assert delivery_report_apply(message_id=late.pk, status="delivered", at=MORNING) is False
    assert delivery_settle() == 0
    assert_ledger_clean()


def test_it_charges_in_aggregated_ledger_rows_not_one_per_message(
    ready_shop,
    alice,
    django_capture_on_commit_callbacks,
):
    campaign = send_campaign(ready_shop, alice, django_capture_on_commit_callbacks)
    delivered = Message.objects.filter(campaign=campaign, status="delivered").count()
    charges = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CHARGE).count()
    assert delivered > 5 and 0 < charges <= 3  # one per gateway batch of 7 reports
    assert_ledger_clean()


def test_it_retries_after_a_gateway_outage_and_loses_nothing(
    ready_shop,
    pipeline_settings,
    alice,
    django_capture_on_commit_callbacks,
):
    pipeline_settings.SMS_GATEWAY = {
        "BACKEND": "campaigns.gateways.simulated.SimulatedGateway",
        "OPTIONS": {"outage": True},
    }
    campaign = send_campaign(ready_shop, alice, django_capture_on_commit_callbacks)
    messages = Message.objects.filter(campaign=campaign)
    assert set(messages.values_list("status", flat=True)) == {"planned"}
    assert messages.filter(attempts=1, next_attempt_at__isnull=False).count() == 20
    resume = Schedule.objects.get(name__endswith="-resume")
    assert resume.next_run > MORNING
    pipeline_settings.SMS_GATEWAY = {
        "BACKEND": "campaigns.gateways.simulated.SimulatedGateway",
        "OPTIONS": {"fail_ratio": 0.0},
    }
    with time_machine.travel(MORNING + timedelta(minutes=5), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            scheduler()
    assert set(messages.values_list("status", "settlement")) == {("delivered", "charged")}
    assert messages.filter(attempts=2).count() == 20
    assert SmsAccount.objects.get(shop=ready_shop).balance == 1000 - 20
    campaign.refresh_from_db()
    assert campaign.status == "completed"
    assert_ledger_clean()


def test_it_gives_up_after_the_last_attempt_and_refunds(
    ready_shop,
    pipeline_settings,
    alice,
    django_capture_on_commit_callbacks,
):
    pipeline_settings.SMS_PIPELINE = {**pipeline_settings.SMS_PIPELINE, "MAX_ATTEMPTS": 2}
    pipeline_settings.SMS_GATEWAY = {
        "BACKEND": "campaigns.gateways.simulated.SimulatedGateway",
        "OPTIONS": {"outage": True},
    }
    campaign = send_campaign(ready_shop, alice, django_capture_on_commit_callbacks)
    with time_machine.travel(MORNING + timedelta(minutes=5), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            scheduler()
            delivery_settle()
    messages = Message.objects.filter(campaign=campaign)
    assert set(messages.values_list("status", "reason", "settlement")) == {
        ("failed", "GATEWAY-ERROR", "released")
    }
    account = SmsAccount.objects.get(shop=ready_shop)
    assert (account.balance, account.reserved) == (1000, 0)
    assert_ledger_clean()


def test_it_applies_a_batch_with_repeated_and_late_reports_in_order(
    ready_shop, alice, silent_gateway, django_capture_on_commit_callbacks
):
    campaign = send_campaign(ready_shop, alice, django_capture_on_commit_callbacks)
    first, second = Message.objects.filter(campaign=campaign).order_by("id")[:2]
    at = MORNING + timedelta(minutes=2)
    reports = [
        (first.pk, "delivered", at, {"n": 1}),
        (first.pk, "accepted", at, None),
        (second.pk, "queued", at, None),  # 'accepted' already: a late intermediate changes nothing
        (first.pk, "failed", at, None),
        (second.pk, "rejected", at, None),
    ]
    assert delivery_reports_apply(reports=reports) == 2
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status, second.reason) == ("delivered", "failed", "DLR-REJECTED")
    assert list(
        DeliveryReport.objects.filter(message=first).order_by("id").values_list("status", "applied")
    ) == [
        ("delivered", True),
        ("accepted", False),
        ("failed", False),
    ]
    assert DeliveryReport.objects.get(message=first, status="delivered").raw == {"n": 1}
