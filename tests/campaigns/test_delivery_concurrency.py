"""Delivery reports applied by many callbacks at once (threads with their own connections,
as gunicorn workers): each message changes once, a final state is never left, settlement
charges the delivered and releases the failed ones exactly once. And the durability rule:
an intermediate report commits without waiting for the WAL flush, a final one durably."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.db import connection, transaction

from campaigns.models import DeliveryReport, Message, ShopCounter
from campaigns.services.delivery import delivery_report_apply, delivery_reports_apply, delivery_settle
from smsmarketing.models import SmsAccount
from tests.campaigns.campaign_fixtures import MORNING, assert_ledger_clean, run_in_threads
from tests.campaigns.durability import commit_settings
from tests.campaigns.test_delivery_reports import send_campaign

THREADS = 8


@pytest.fixture
def silent_gateway(pipeline_settings):
    pipeline_settings.SMS_GATEWAY = {
        "BACKEND": "campaigns.gateways.simulated.SimulatedGateway",
        "OPTIONS": {"report": False},
    }


def counted(shop, phone: str) -> int:
    row = ShopCounter.objects.filter(shop=shop, phone=int(phone)).first()
    return row.marketing if row else 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_reports_change_each_message_once_and_settle_exactly_once(
    ready_shop, alice, silent_gateway, django_capture_on_commit_callbacks
):
    campaign = send_campaign(ready_shop, alice, django_capture_on_commit_callbacks)
    messages = list(Message.objects.filter(campaign=campaign).order_by("id"))
    assert len(messages) == 20 and {m.status for m in messages} == {"accepted"}
    # Half still 'sending' (the gateway's answer not recorded yet): their intermediate report applies.
    Message.objects.filter(pk__in=[m.pk for m in messages[::2]]).update(status="sending")
    outcome = {m.pk: ("delivered" if i % 3 else "failed") for i, m in enumerate(messages)}
    at = MORNING + timedelta(minutes=1)
    before = SmsAccount.objects.get(shop=ready_shop)

    def callbacks(index: int) -> str:
        # Every thread sends every report (8 copies of each), in its own order, some one by
        # one (as the HTTP callback), some in batches (as a gateway's report batch).
        rng = random.Random(index)
        reports = [(m.pk, "accepted", at, {"t": index}) for m in messages]
        reports += [(m.pk, "queued", at, None) for m in messages[:5]]
        reports += [(m.pk, outcome[m.pk], at, {"t": index}) for m in messages]
        rng.shuffle(reports)
        for start in range(0, len(reports), 7):
            chunk = reports[start : start + 7]
            if index % 2:
                delivery_reports_apply(reports=chunk)
            else:
                for message_id, status, when, raw in chunk:
                    delivery_report_apply(message_id=message_id, status=status, at=when, raw=raw)
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return cursor.fetchone()[0]

    # The no-flush setting never outlives its statement.
    assert run_in_threads(callbacks, THREADS) == ["on"] * THREADS
    for message in messages:
        message.refresh_from_db()
        assert message.status == outcome[message.pk]
        reports = DeliveryReport.objects.filter(message=message)
        assert reports.count() == THREADS * (3 if message in messages[:5] else 2)
        # One final report applied; an intermediate one only if the message was still 'sending'
        # when it came (a final report may have come first).
        assert reports.filter(applied=True, status__in=["delivered", "failed"]).count() == 1
        assert reports.filter(applied=True, status__in=["accepted", "queued"]).count() <= (
            1 if message in messages[::2] else 0
        )
    failed = [m for m in messages if outcome[m.pk] == "failed"]
    delivered = [m for m in messages if outcome[m.pk] == "delivered"]
    assert {counted(ready_shop, m.phone) for m in messages} == {1}

    # Two settlers at once (the periodic task and a report batch): each message settled once.
    settled = run_in_threads(lambda index: delivery_settle(limit=3), 2)
    assert sum(settled) == 20 and delivery_settle() == 0
    after = SmsAccount.objects.get(shop=ready_shop)
    assert after.reserved == before.reserved - sum(m.parts for m in messages)
    assert after.balance == before.balance + sum(m.parts for m in failed)  # undelivered never charged
    assert {counted(ready_shop, m.phone) for m in failed} == {0}  # released exactly once
    assert {counted(ready_shop, m.phone) for m in delivered} == {1}
    settlements = Message.objects.filter(pk__in=[m.pk for m in failed]).values_list("settlement", flat=True)
    assert set(settlements) == {"released"}
    assert_ledger_clean()


def _commits(apply) -> list[str]:
    """``synchronous_commit`` in the transaction of each report statement ``apply`` ran."""
    return commit_settings(apply, marker="INSERT INTO")


def _report(message: Message, status: str):
    return lambda: delivery_report_apply(message_id=message.pk, status=status, at=MORNING)


@pytest.mark.django_db(transaction=True)
def test_an_intermediate_report_commits_without_the_flush_and_a_final_one_durably(
    ready_shop, alice, silent_gateway, django_capture_on_commit_callbacks
):
    campaign = send_campaign(ready_shop, alice, django_capture_on_commit_callbacks)
    first, second = Message.objects.filter(campaign=campaign).order_by("id")[:2]
    Message.objects.filter(pk__in=[first.pk, second.pk]).update(status="sending")
    assert _commits(_report(first, "accepted")) == ["off"]
    assert _commits(_report(first, "delivered")) == ["on"]
    # A mixed batch: the intermediate reports in one transaction without the flush, the finals
    # in another, durable.
    mixed = _commits(
        lambda: delivery_reports_apply(
            reports=[(second.pk, "accepted", MORNING, None), (first.pk, "failed", MORNING, None)]
        )
    )
    assert mixed == ["off", "on"]
    # Inside a caller's transaction nothing turns the flush off: it would cover the caller's writes.
    with transaction.atomic():
        assert _commits(_report(second, "queued")) == ["on"]
    # The setting never outlives the report's own transaction.
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("delivered", "accepted")
