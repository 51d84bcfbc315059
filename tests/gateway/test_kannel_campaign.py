"""Campaigns end to end through a real Kannel and the SMPP simulator.

The send pipeline runs in the test (django-q2 in sync mode) and hands messages
to the Kannel backend; Kannel submits them over SMPP to the simulator, and
calls the app (pytest-django's live server on 127.0.0.1) back with delivery
reports and with the replies the simulator sends from handsets.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.db.models import Sum

from bench.smsc_sim import Outcomes
from campaigns.models import Campaign, InboundMessage, Message, OptOut
from campaigns.services.campaigns import campaign_create, campaign_schedule
from campaigns.services.delivery import delivery_settle
from smsmarketing.models import SmsAccount
from tests.campaigns.campaign_fixtures import (
    MORNING,
    assert_ledger_clean,
    import_customers,
    live_signature_for,
)
from tests.factories import make_active_account, make_coupon, official_template
from tests.gateway.conftest import wait_until

pytestmark = [pytest.mark.kannel, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

IN_FLIGHT = [Message.Status.PLANNED, Message.Status.SENDING, Message.Status.ACCEPTED]


def phones(n: int, start: int = 0) -> list[str]:
    return [f"1391234{i:04d}" for i in range(start, start + n)]


@pytest.fixture
def kannel_gateway(settings, kannel):
    """The pipeline sends through the session's Kannel; reports come back to the live server."""
    settings.SMS_GATEWAY = {
        "BACKEND": "campaigns.gateways.kannel.KannelBackend",
        "OPTIONS": kannel.options(rate=1000, concurrency=8),
    }
    settings.SMS_PIPELINE = {**settings.SMS_PIPELINE, "DISPATCH_RATE": 0, "DISPATCH_BATCH": 100}
    return settings


@pytest.fixture
def coupon_shop(alice, alice_shop, reviewer, kannel_gateway):
    make_active_account(alice_shop, balance=10_000, user=alice)
    live_signature_for(alice_shop, alice, reviewer)
    return alice_shop


def _customers(shop, numbers: list[str]) -> None:
    import_customers(shop, [f"{p},客户{i},VIP,羽绒服,2026-05-20 12:00,399" for i, p in enumerate(numbers)])


def _coupon_campaign(shop, user, name: str) -> Campaign:
    coupon = make_coupon(shop, user=user, name="满199减20", days=7, total_count=5000)
    return campaign_create(
        shop=shop, user=user, kind="coupon", name=name, coupon=coupon, template=official_template()
    )


def _wait_final(campaign: Campaign, *, seconds: float) -> None:
    wait_until(
        lambda: not Message.objects.filter(campaign=campaign, status__in=IN_FLIGHT).exists(),
        seconds=seconds,
        what="a final delivery report for every message",
    )


def test_it_sends_a_1000_recipient_coupon_campaign_through_kannel_and_settles_every_report(
    coupon_shop, alice, fresh_smsc, kannel
):
    outcomes = Outcomes(failed=0.1, seed="coupon-1000")
    fresh_smsc.set_outcomes(outcomes)
    numbers = phones(1000)
    _customers(coupon_shop, numbers)
    with time_machine.travel(MORNING, tick=True):
        campaign = _coupon_campaign(coupon_shop, alice, "冬季定向券")
        started = time.monotonic()
        campaign_schedule(campaign=campaign, user=alice)  # runs the pipeline (django-q2 sync)
        dispatched = time.monotonic() - started
        _wait_final(campaign, seconds=180)
        finished = time.monotonic() - started
        delivery_settle()

    messages = Message.objects.filter(campaign=campaign)
    assert messages.count() == 1000
    expected = {p: ("failed" if outcomes.choose(p) == "failed" else "delivered") for p in numbers}
    assert dict(messages.values_list("phone", "status")) == expected
    failed = Counter(expected.values())["failed"]
    assert 50 <= failed <= 150  # about 10%
    assert not messages.exclude(settlement__in=["charged", "released"]).exists()
    assert set(messages.filter(status="failed").values_list("settlement", flat=True)) == {"released"}
    assert set(messages.filter(status="failed").values_list("reason", flat=True)) == {"DLR-FAILED"}

    # Every message arrived once at the SMSC, its Chinese text intact, in the parts it was billed for.
    received = fresh_smsc.received()
    assert len(received) == 1000
    by_phone = {m.destination: m for m in received}
    assert len(by_phone) == 1000
    for message in messages:
        at_smsc = by_phone[message.phone]
        assert at_smsc.text == message.text
        assert at_smsc.data_coding == 8 and at_smsc.parts == message.parts
    sample = messages.first().text
    assert sample.startswith("【爱丽丝服饰】") and "优惠券" in sample and sample.endswith("拒收请回复R")

    # Money: delivered parts charged, failed ones refunded, nothing left reserved, ledger reconciles.
    account = SmsAccount.objects.get(shop=coupon_shop)
    charged = messages.filter(status="delivered").aggregate(p=Sum("parts"))["p"]
    assert account.balance == 10_000 - charged and account.reserved == 0
    assert_ledger_clean()
    # Kannel deleted the delivery-report entry of every message that reached a final state
    # (its DELETE … WHERE oid = … needs the column migration 0008 adds on PostgreSQL >= 12).
    wait_until(lambda: _kannel_dlr_rows() == 0, seconds=15, what="Kannel to empty kannel_dlr")
    print(f"\n1000 messages: handed to Kannel in {dispatched:.1f}s, all final reports in {finished:.1f}s")


def test_it_opts_out_a_phone_that_replies_r_and_suppresses_it_in_the_next_campaign(
    coupon_shop, alice, fresh_smsc, kannel
):
    numbers = phones(20, start=2000)
    _customers(coupon_shop, numbers)
    with time_machine.travel(MORNING, tick=True):
        first = _coupon_campaign(coupon_shop, alice, "第一波")
        campaign_schedule(campaign=first, user=alice)
        _wait_final(first, seconds=60)
        delivery_settle()
        replier = numbers[3]
        fresh_smsc.send_mo(source=replier, destination="10690001", text="R")
        wait_until(
            lambda: OptOut.objects.filter(shop=coupon_shop, phone=replier).exists(),
            seconds=20,
            what="the reply to reach the inbound endpoint through Kannel",
        )
    inbound = InboundMessage.objects.get()
    assert (inbound.text, inbound.outcome, inbound.shop_id, inbound.phone) == (
        "R",
        "opted_out",
        coupon_shop.pk,
        replier,
    )
    assert inbound.in_reply_to == Message.objects.get(campaign=first, phone=replier).pk
    sent_before = len(fresh_smsc.received())

    # Three days later (past the shop's two-day cap) the shop's next campaign skips the replier.
    with time_machine.travel(MORNING + timedelta(days=3), tick=True):
        second = _coupon_campaign(coupon_shop, alice, "第二波")
        campaign_schedule(campaign=second, user=alice)
        _wait_final(second, seconds=60)
    messages = Message.objects.filter(campaign=second)
    assert messages.get(phone=replier).status == "suppressed"
    assert messages.get(phone=replier).reason == "OPTED-OUT"
    assert messages.filter(status="delivered").count() == 19
    later = [m.destination for m in fresh_smsc.received()[sent_before:]]
    assert replier not in later and len(later) == 19


def test_it_loses_and_duplicates_nothing_when_the_smsc_goes_down_mid_campaign(
    coupon_shop, alice, fresh_smsc, kannel, kannel_gateway
):
    numbers = phones(400, start=5000)
    _customers(coupon_shop, numbers)
    outage = {"stopped_at": None, "restarted_at": None}

    def cut_the_smsc() -> None:
        deadline = time.monotonic() + 60
        while len(fresh_smsc.received()) < 100 and time.monotonic() < deadline:
            time.sleep(0.01)
        fresh_smsc.stop()
        outage["stopped_at"] = len(fresh_smsc.received())
        queued = [0]
        down_until = time.monotonic() + 3
        while time.monotonic() < down_until:  # what Kannel holds for the SMSC meanwhile
            queued += [int(n) for n in re.findall(r"store size (\d+)", kannel.status())]
            time.sleep(0.2)
        outage["max_queued_in_kannel"] = max(queued)
        fresh_smsc.start()
        outage["restarted_at"] = time.monotonic()

    saboteur = threading.Thread(target=cut_the_smsc)
    # Slow enough (about 4 s for the hand-over) that the outage falls in its middle.
    kannel_gateway.SMS_GATEWAY = {
        "BACKEND": "campaigns.gateways.kannel.KannelBackend",
        "OPTIONS": kannel.options(rate=100, concurrency=4),
    }
    with time_machine.travel(MORNING, tick=True):
        campaign = _coupon_campaign(coupon_shop, alice, "断线演练")
        saboteur.start()
        campaign_schedule(campaign=campaign, user=alice)
        saboteur.join()
        _wait_final(campaign, seconds=120)
        delivery_settle()

    assert outage["stopped_at"] is not None and 100 <= outage["stopped_at"] < 400
    assert outage["max_queued_in_kannel"] > 0  # messages were handed over during the outage
    messages = Message.objects.filter(campaign=campaign)
    assert messages.count() == 400
    assert set(messages.values_list("status", flat=True)) == {"delivered"}
    assert set(messages.values_list("attempts", flat=True)) == {1}  # the app handed each over once
    destinations = Counter(m.destination for m in fresh_smsc.received())
    assert set(destinations) == set(numbers)  # nothing lost
    assert set(destinations.values()) == {1}  # nothing sent twice
    account = SmsAccount.objects.get(shop=coupon_shop)
    assert account.reserved == 0
    assert account.balance == 10_000 - messages.aggregate(p=Sum("parts"))["p"]
    assert_ledger_clean()


def test_it_retries_later_what_kannel_could_not_take_and_sends_it_once(
    coupon_shop, alice, fresh_smsc, kannel, kannel_gateway
):
    from campaigns.models import CampaignRun
    from campaigns.services.sending import run_execute
    from tests.gateway.conftest import _free_port

    numbers = phones(30, start=8000)
    _customers(coupon_shop, numbers)
    backend = "campaigns.gateways.kannel.KannelBackend"
    dead = f"http://127.0.0.1:{_free_port()}/cgi-bin/sendsms"  # smsbox down: connection refused
    kannel_gateway.SMS_GATEWAY = {"BACKEND": backend, "OPTIONS": kannel.options(url=dead)}
    with time_machine.travel(MORNING, tick=True):
        campaign = _coupon_campaign(coupon_shop, alice, "网关重试")
        campaign_schedule(campaign=campaign, user=alice)
    messages = Message.objects.filter(campaign=campaign)
    assert set(messages.values_list("status", "attempts")) == {("planned", 1)}
    assert not messages.filter(next_attempt_at__isnull=True).exists()
    assert fresh_smsc.received() == []

    kannel_gateway.SMS_GATEWAY = {"BACKEND": backend, "OPTIONS": kannel.options()}
    with time_machine.travel(MORNING + timedelta(minutes=5), tick=True):
        run_execute(run_id=CampaignRun.objects.get(campaign=campaign).pk)  # what the deferred schedule runs
        _wait_final(campaign, seconds=60)
        delivery_settle()
    assert set(messages.values_list("status", "attempts")) == {("delivered", 2)}
    assert sorted(m.destination for m in fresh_smsc.received()) == numbers
    assert SmsAccount.objects.get(shop=coupon_shop).reserved == 0
    assert_ledger_clean()


def test_it_keeps_delivery_reports_that_arrive_after_a_kannel_restart(coupon_shop, alice, fresh_smsc, kannel):
    fresh_smsc.set_outcomes(Outcomes(failed=0.2, receipt_delay=4.0, seed="restart"))
    numbers = phones(50, start=9000)
    _customers(coupon_shop, numbers)
    with time_machine.travel(MORNING, tick=True):
        campaign = _coupon_campaign(coupon_shop, alice, "网关重启")
        campaign_schedule(campaign=campaign, user=alice)
        wait_until(lambda: len(fresh_smsc.received()) == 50, seconds=30, what="all 50 at the SMSC")
        assert Message.objects.filter(campaign=campaign, status__in=["delivered", "failed"]).count() == 0
        kannel.restart()  # the receipts are still on their way; Kannel's DLR state is in PostgreSQL
        _wait_final(campaign, seconds=60)
        delivery_settle()
    outcomes = Outcomes(failed=0.2, seed="restart")
    expected = {p: ("failed" if outcomes.choose(p) == "failed" else "delivered") for p in numbers}
    assert dict(Message.objects.filter(campaign=campaign).values_list("phone", "status")) == expected
    assert len(fresh_smsc.received()) == 50
    assert_ledger_clean()


def _kannel_dlr_rows() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM kannel_dlr")
        return cursor.fetchone()[0]
