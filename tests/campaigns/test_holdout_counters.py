"""The holdout comparison kept as counters (campaigns.models.counters: HoldoutRun,
HoldoutRecipient, HoldoutCounter; migration campaigns/0032): the sent and held-out groups'
recipients, orders, buyers, revenue and sum of squares equal the row-based statement the results
ran before (each recipient's orders of the shop placed in [its run's start, + COMPARISON_WINDOW))
through order inserts, updates (amount, phone, time) and deletes, message status changes, later
planning batches, concurrent writers and an archived month; the campaign's page reads no order or
message row for them, with a cold cache."""

from __future__ import annotations

import importlib
import random
import re
import threading
import time
from datetime import datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from unittest.mock import patch

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.counters import COMPARISON_WINDOW, SENT, stats_reconcile
from campaigns.models import (
    Campaign,
    CampaignRun,
    HoldoutCounter,
    HoldoutRecipient,
    HoldoutRun,
    Message,
    Order,
)
from campaigns.results import campaign_results
from campaigns.services.orders import orders_upsert
from campaigns.services.planning import plan_batch
from campaigns.services.sending import dispatch_claim
from tests.campaigns.api_helpers import bearer, make_api_key
from tests.campaigns.campaign_fixtures import MORNING, assert_stats_clean, phones, run_in_threads
from tests.campaigns.test_holdout import AUDIENCE, plan_all
from tests.campaigns.test_holdout import big_shop as holdout_shop  # noqa: F401
from tests.campaigns.test_holdout import held_campaign as make_held_campaign

HOLDOUT_CHECKS = ("(group orders, buyers, revenue, squares)", "(run start)")

# The statement campaigns.results._groups ran before the counters (recipients, orders, buyers,
# revenue, sum of squares per group), the run's start being its earliest message row.
ROW_GROUPS = """
WITH starts AS (
    SELECT m.run_id, min(m.created_at) AS start FROM campaigns_message m
    JOIN campaigns_campaignrun r ON r.id = m.run_id AND r.kind = 'audience'
    WHERE m.campaign_id = %(campaign)s GROUP BY m.run_id),
per AS (
    SELECT m.id, m.status = 'holdout' AS held, count(o.id) AS n, coalesce(sum(o.amount), 0) AS revenue
    FROM campaigns_message m JOIN starts s ON s.run_id = m.run_id
    LEFT JOIN campaigns_order o ON o.shop_id = m.shop_id AND o.phone = m.phone
         AND o.placed_at >= s.start AND o.placed_at < s.start + %(window)s
    WHERE m.campaign_id = %(campaign)s AND m.status = ANY(%(statuses)s)
    GROUP BY m.id, held)
SELECT held, count(*), sum(n)::bigint, count(*) FILTER (WHERE n > 0), sum(revenue), sum(revenue * revenue)
FROM per GROUP BY held
"""

ZERO = (0, 0, 0, Decimal(0), Decimal(0))


def counted(campaign: Campaign) -> dict[bool, tuple]:
    """{held: (recipients, orders, buyers, revenue, squares)} recounted from the rows."""
    with connection.cursor() as cursor:
        cursor.execute(
            ROW_GROUPS,
            {"campaign": campaign.pk, "window": COMPARISON_WINDOW, "statuses": [*SENT, "holdout"]},
        )
        rows = {held: tuple(rest) for held, *rest in cursor.fetchall()}
    return {held: rows.get(held, ZERO) for held in (False, True)}


def kept(campaign: Campaign) -> dict[bool, tuple]:
    """The same, as the results read them (the counters)."""
    r = campaign_results(campaign=campaign)
    return {
        held: (g.recipients, g.orders, g.buyers, g.revenue, g.revenue_squares)
        for held, g in ((False, r.sent_group), (True, r.holdout_group))
    }


def assert_exact(campaign: Campaign) -> dict[bool, tuple]:
    figures = kept(campaign)
    assert figures == counted(campaign)
    assert [str(d) for d in stats_reconcile(campaign_id=campaign.pk) if d.what in HOLDOUT_CHECKS] == []
    return figures


@pytest.fixture
def held_campaign(alice, alice_shop):
    """A campaign whose audience run started 2 days ago (its rows backdated, as a finished run's):
    6 held out, 6 delivered, 4 planned, 2 suppressed (phones(18) in that order), and a test SMS
    run to the first held-out phone (not part of the comparison)."""
    start = timezone.now() - timedelta(days=2)
    campaign = Campaign.objects.create(
        shop=alice_shop, kind="marketing", name="对照组统计", status="running", text="t", created_by=alice,
        holdout_percent=20, started_at=start,
    )  # fmt: skip
    run = CampaignRun.objects.create(campaign=campaign, status="dispatching")
    test_run = CampaignRun.objects.create(campaign=campaign, kind="test", status="finished")
    statuses = ["holdout"] * 6 + ["delivered"] * 6 + ["planned"] * 4 + ["suppressed"] * 2
    Message.objects.bulk_create(
        Message(campaign=campaign, run=run, shop=alice_shop, phone=p, status=s,
                parts=1 if s != "holdout" else 0, settlement="charged" if s == "delivered" else "none")
        for p, s in zip(phones(18), statuses, strict=True)
    )  # fmt: skip
    Message.objects.create(
        campaign=campaign, run=test_run, shop=alice_shop, phone=phones(1)[0], status="delivered"
    )
    Message.objects.filter(run=run).update(created_at=start)
    return campaign


def order(shop_id: int, no: str, phone: str, amount: str, placed_at) -> Order:
    return Order.objects.create(
        shop_id=shop_id, order_no=no, phone=phone, amount=Decimal(amount), placed_at=placed_at
    )


def test_the_window_is_the_databases(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT campaigns_holdout_window()")
        assert cursor.fetchone()[0] == COMPARISON_WINDOW


def test_it_keeps_the_groups_through_order_inserts_updates_deletes_and_status_changes(
    held_campaign, bob_shop
):
    campaign, shop_id = held_campaign, held_campaign.shop_id
    run = campaign.runs.get(kind="audience")
    start = HoldoutRun.objects.get(run_id=run.pk).start
    assert start == Message.objects.filter(run=run).order_by("created_at").first().created_at
    held, delivered, planned, suppressed = (
        phones(18)[0:6],
        phones(18)[6:12],
        phones(18)[12:16],
        phones(18)[16:],
    )
    assert assert_exact(campaign) == {False: (6, 0, 0, 0, 0), True: (6, 0, 0, 0, 0)}

    order(shop_id, "H1", held[0], "30.00", start + timedelta(hours=1))
    order(shop_id, "H2", held[0], "12.50", start + timedelta(days=4, hours=23))  # two for one person
    order(shop_id, "H3", held[1], "7.00", start)  # the window's first instant counts
    order(shop_id, "S1", delivered[0], "100.00", start + timedelta(days=1))
    order(shop_id, "X1", delivered[1], "55.00", start - timedelta(seconds=1))  # before the start
    order(shop_id, "X2", delivered[2], "66.00", start + COMPARISON_WINDOW)  # the window's end: out
    order(bob_shop.pk, "X3", delivered[3], "77.00", start + timedelta(hours=2))  # another shop
    order(shop_id, "P1", planned[0], "40.00", start + timedelta(hours=3))  # not sent yet: no group
    order(shop_id, "Q1", suppressed[0], "20.00", start + timedelta(hours=3))  # suppressed: no group
    order(shop_id, "T1", "13900000999", "9.00", start + timedelta(hours=3))  # no recipient
    figures = assert_exact(campaign)
    assert figures[True] == (6, 3, 2, Decimal("49.50"), Decimal("42.50") ** 2 + 49)
    assert figures[False] == (6, 1, 1, Decimal("100.00"), Decimal(10000))
    assert HoldoutRecipient.objects.filter(run_id=run.pk).count() == 5  # H×2 people, S1, P1, Q1

    # Updates: an amount, a phone (another recipient), a time out of and back into the window.
    Order.objects.filter(order_no="S1").update(amount=Decimal("120.00"))
    Order.objects.filter(order_no="H3").update(phone=delivered[0])
    Order.objects.filter(order_no="X1").update(placed_at=start + timedelta(minutes=1))
    Order.objects.filter(order_no="H2").update(placed_at=start + timedelta(days=6))
    figures = assert_exact(campaign)
    assert figures[True] == (6, 1, 1, Decimal("30.00"), Decimal(900))
    assert figures[False] == (6, 3, 2, Decimal("182.00"), Decimal("127.00") ** 2 + 55**2)
    # An update that changes neither time, phone nor amount (attribution) changes nothing.
    Order.objects.filter(shop_id=shop_id).update(attributed_touch="click")
    assert kept(campaign) == figures

    # Status changes: planned → sending (the planned buyer joins the sent group), sending →
    # planned (a retry: out again), → sending → delivered; a planned message dropped.
    Message.objects.filter(run=run, phone__in=planned[:2]).update(status="sending")
    assert assert_exact(campaign)[False] == (
        8,
        4,
        3,
        Decimal("222.00"),
        Decimal("127.00") ** 2 + 55**2 + 40**2,
    )
    Message.objects.filter(run=run, phone=planned[0]).update(status="planned")
    assert assert_exact(campaign)[False][:3] == (7, 3, 2)
    Message.objects.filter(run=run, phone=planned[0]).update(status="sending")
    Message.objects.filter(run=run, phone__in=planned[:2]).update(status="delivered")
    Message.objects.filter(run=run, phone=planned[2]).update(status="dropped")
    assert assert_exact(campaign)[False][:3] == (8, 4, 3)
    # An order of a sent recipient after its status changed, and one of a held-out one.
    order(shop_id, "S2", planned[0], "5.00", start + timedelta(days=2))
    order(shop_id, "H4", held[5], "8.00", start + timedelta(days=2))
    assert_exact(campaign)

    # Deletes: an order, then a buyer's message (its figures leave its group).
    Order.objects.filter(order_no="S1").delete()
    assert_exact(campaign)
    gone = Message.objects.get(run=run, phone=held[0])
    gone.delete()
    assert not HoldoutRecipient.objects.filter(message_id=gone.pk).exists()
    figures = assert_exact(campaign)
    assert figures[True] == (5, 1, 1, Decimal("8.00"), Decimal(64))
    # The shop's orders all deleted at once: nothing left in either group.
    Order.objects.filter(shop_id=shop_id).delete()
    assert assert_exact(campaign) == {False: (8, 0, 0, 0, 0), True: (5, 0, 0, 0, 0)}


def test_a_later_batch_is_matched_to_orders_already_there_and_an_earlier_one_moves_the_start(
    held_campaign,
):
    campaign, shop_id = held_campaign, held_campaign.shop_id
    run = campaign.runs.get(kind="audience")
    start = HoldoutRun.objects.get(run_id=run.pk).start
    late = [f"1370000{i:04d}" for i in range(4)]
    # Orders placed after the run's start, ingested before their phones' messages are planned.
    order(shop_id, "L1", late[0], "10.00", start + timedelta(hours=5))
    order(shop_id, "L2", late[1], "20.00", start + timedelta(hours=5))
    order(shop_id, "L3", late[1], "1.00", start - timedelta(minutes=30))  # before the start
    with time_machine.travel(start + timedelta(hours=1), tick=False):  # created_at: now
        Message.objects.bulk_create(
            Message(campaign=campaign, run=run, shop_id=shop_id, phone=p, status=s)
            for p, s in zip(late, ["holdout", "holdout", "sending", "sending"], strict=True)
        )
    assert HoldoutRun.objects.get(run_id=run.pk).start == start
    assert assert_exact(campaign)[True] == (8, 2, 2, Decimal("30.00"), Decimal(500))
    # A batch whose row is older than the start (its planner began first, committed last): the
    # start moves back an hour, L3 enters the window.
    with time_machine.travel(start - timedelta(hours=1), tick=False):
        Message.objects.create(
            campaign=campaign, run=run, shop_id=shop_id, phone="13700009999", status="sending"
        )
    assert HoldoutRun.objects.get(run_id=run.pk).start == start - timedelta(hours=1)
    assert assert_exact(campaign)[True] == (8, 3, 2, Decimal("31.00"), Decimal(100 + 21**2))
    # Backdating the rows (as the fixtures do) recomputes the start from them.
    Message.objects.filter(run=run).update(created_at=start - timedelta(days=4, hours=21))
    assert assert_exact(campaign)[True][:2] == (8, 1)  # L1, L2 now past the window's end; L3 in


def test_the_planner_matches_its_later_batches_to_orders_ingested_meanwhile_and_dispatch_moves_them(
    request, alice, settings
):
    """The real pipeline: a 30 % holdout planned in batches of 100 (plan_batch, its one INSERT per
    batch); orders placed after the first batch, before the phones' messages are planned, are
    counted when their batches are; dispatch's claim moves the sent ones into the sent group."""
    big_shop = request.getfixturevalue("holdout_shop")  # test_holdout's: 600 customers, a live signature
    settings.SMS_PIPELINE = {**settings.SMS_PIPELINE, "PLAN_BATCH": 100}
    numbers = phones(AUDIENCE)
    with time_machine.travel(MORNING, tick=False):
        campaign = make_held_campaign(big_shop, alice, percent=30)
        run = CampaignRun.objects.create(campaign=campaign, status=CampaignRun.Status.PLANNING)
        assert not plan_batch(run_id=run.pk)  # the first batch
    planned = set(Message.objects.filter(run=run).values_list("phone", flat=True))
    assert len(planned) == 100
    later = [p for p in numbers if p not in planned]
    placed = MORNING + timedelta(minutes=10)
    for i, phone in enumerate(later[:200] + sorted(planned)[:20]):
        order(big_shop.pk, f"M{i}", phone, f"{10 + i % 7}.50", placed)
    with time_machine.travel(MORNING + timedelta(minutes=20), tick=False):
        plan_all(run.pk)
    assert Message.objects.filter(run=run).count() == AUDIENCE
    assert HoldoutRun.objects.get(run_id=run.pk).start == MORNING
    figures = assert_exact(campaign)
    assert figures[True][1] > 30  # about 30 % of the 220 buyers are held out
    with time_machine.travel(MORNING + timedelta(minutes=30), tick=False):
        while dispatch_claim(run_id=run.pk, limit=150) is not None:
            pass
    figures = assert_exact(campaign)
    assert figures[False][0] > 300 and figures[False][1] > 100
    assert_stats_clean()


def test_an_archived_month_leaves_the_comparison_as_it_was(held_campaign):
    """A dropped partition fires no trigger: rows removed with triggers off (as DROP PARTITION)
    leave the counters and the run's start; later order changes of those phones change
    nothing; reconcile_stats does not recount runs whose earliest rows are gone (first the
    older month of a run planned over two, then the rest)."""
    campaign, shop_id = held_campaign, held_campaign.shop_id
    run = campaign.runs.get(kind="audience")
    start = HoldoutRun.objects.get(run_id=run.pk).start
    with time_machine.travel(start + timedelta(days=1), tick=False):  # the run's next month
        Message.objects.bulk_create(
            Message(campaign=campaign, run=run, shop_id=shop_id, phone=p, status=s)
            for p, s in (("13200000001", "holdout"), ("13200000002", "delivered"))
        )
    phone_held, phone_sent = phones(18)[0], phones(18)[6]
    order(shop_id, "A1", phone_held, "30.00", start + timedelta(hours=1))
    order(shop_id, "A2", phone_sent, "50.00", start + timedelta(hours=1))
    order(shop_id, "A4", "13200000001", "70.00", start + timedelta(days=2))
    before = assert_exact(campaign)

    def archive(before_: datetime) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
            cursor.execute(
                "DELETE FROM campaigns_message WHERE run_id = %s AND created_at < %s", [run.pk, before_]
            )
            cursor.execute("SET session_replication_role = DEFAULT")

    archive(start + timedelta(hours=12))  # the older month
    assert Message.objects.filter(run=run).count() == 2
    assert kept(campaign) == before
    Order.objects.filter(order_no="A1").update(amount=Decimal("99.00"))
    Order.objects.filter(order_no="A2").delete()
    order(shop_id, "A3", phone_held, "1.00", start + timedelta(hours=2))
    assert kept(campaign) == before
    assert HoldoutRun.objects.get(run_id=run.pk).start == start
    assert [d for d in stats_reconcile(campaign_id=campaign.pk) if d.what in HOLDOUT_CHECKS] == []
    # An order of a phone still there is still counted (its message's row is there to match).
    order(shop_id, "A5", "13200000001", "5.00", start + timedelta(days=3))
    assert kept(campaign)[True][1:4] == (before[True][1] + 1, before[True][2], before[True][3] + 5)
    archive(start + timedelta(days=30))  # the rest
    assert Message.objects.filter(run=run).count() == 0
    assert HoldoutRun.objects.get(run_id=run.pk).start == start
    assert [d for d in stats_reconcile(campaign_id=campaign.pk) if d.what in HOLDOUT_CHECKS] == []


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_writes_of_orders_and_messages_keep_the_groups_equal_to_the_rows(held_campaign, seed):
    """80 random writes (orders inserted, re-priced, moved to another phone or time, deleted;
    messages changing status, planned later or earlier than the start, deleted), each statement
    alone: after every one the counters equal the row-based statement (whose start is the earliest
    row: the run's earliest row is not deleted here, its deletion leaves the kept start)."""
    rng = random.Random(seed)
    campaign, shop_id = held_campaign, held_campaign.shop_id
    run = campaign.runs.get(kind="audience")
    start = HoldoutRun.objects.get(run_id=run.pk).start
    pool = phones(18) + [f"1340000{i:04d}" for i in range(8)]
    statuses = ["planned", "sending", "accepted", "delivered", "failed", "expired", "dropped", "holdout"]
    numbers = iter(range(10_000))

    def when():
        return start + timedelta(minutes=rng.randint(-24 * 60, 6 * 24 * 60))

    for _step in range(80):
        orders = list(Order.objects.filter(shop_id=shop_id).values_list("pk", flat=True))
        messages = list(Message.objects.filter(run=run).values_list("pk", flat=True))
        action = rng.choice(
            ["order", "order", "amount", "phone", "time", "delete", "status", "status", "plan", "drop"]
        )
        if action == "order" or not orders and action in ("amount", "phone", "time", "delete"):
            amount = f"{rng.randint(0, 500)}.{rng.randint(0, 99):02d}"
            order(shop_id, f"R{next(numbers)}", rng.choice(pool), amount, when())
        elif action == "amount":
            Order.objects.filter(pk=rng.choice(orders)).update(amount=Decimal(f"{rng.randint(0, 300)}.50"))
        elif action == "phone":
            Order.objects.filter(pk=rng.choice(orders)).update(phone=rng.choice(pool))
        elif action == "time":
            Order.objects.filter(pk__in=rng.sample(orders, min(3, len(orders)))).update(placed_at=when())
        elif action == "delete":
            Order.objects.filter(pk=rng.choice(orders)).delete()
        elif action == "status":
            chosen = rng.sample(messages, min(rng.randint(1, 4), len(messages)))
            Message.objects.filter(pk__in=chosen).update(status=rng.choice(statuses))
        elif action == "plan":
            free = sorted(set(pool) - set(Message.objects.filter(run=run).values_list("phone", flat=True)))
            if free:
                at = start + timedelta(minutes=rng.choice([-30, 5, 90]))
                with time_machine.travel(at, tick=False):
                    Message.objects.create(
                        campaign=campaign, run=run, shop_id=shop_id, phone=rng.choice(free),
                        status=rng.choice(statuses),
                    )  # fmt: skip
                start = min(start, at)
        else:  # not the run's only earliest row: deleting it would not move the kept start (by design)
            rows = list(Message.objects.filter(run=run).values_list("pk", "created_at"))
            first = [pk for pk, at in rows if at == start]
            candidates = [pk for pk, at in rows if at != start or len(first) > 1]
            if candidates:
                Message.objects.filter(pk=rng.choice(candidates)).delete()
        assert kept(campaign) == counted(campaign), (_step, action)
    assert HoldoutRun.objects.get(run_id=run.pk).start == start
    assert [d for d in stats_reconcile(campaign_id=campaign.pk) if d.what in HOLDOUT_CHECKS] == []


def test_the_backfill_counts_the_rows_already_there_and_running_it_again_changes_nothing(
    held_campaign, alice, alice_shop
):
    """Migration 0033 on a database whose rows predate the counters (emptied here): the runs in
    batches (here one run a batch), each its own transaction and recount; a second pass changes
    nothing."""
    campaign, shop_id = held_campaign, held_campaign.shop_id
    run = campaign.runs.get(kind="audience")
    start = HoldoutRun.objects.get(run_id=run.pk).start
    other = Campaign.objects.create(
        shop=alice_shop, kind="marketing", name="另一个", status="running", text="t", created_by=alice
    )
    other_run = CampaignRun.objects.create(campaign=other, status="finished")
    Message.objects.bulk_create(
        Message(campaign=other, run=other_run, shop=alice_shop, phone=p,
                status="holdout" if i % 2 else "failed")
        for i, p in enumerate(phones(6))
    )  # fmt: skip
    Message.objects.filter(run=other_run).update(created_at=start + timedelta(hours=2))
    for i, phone in enumerate(phones(18)):
        order(shop_id, f"B{i}", phone, f"{i}.25", start + timedelta(hours=i))
    expected = {c.pk: assert_exact(c) for c in (campaign, other)}
    assert expected[other.pk][True][1] == 2  # phones 3 and 5, ordered 3 and 5 hours in
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE campaigns_holdoutrun, campaigns_holdoutrecipient, campaigns_holdoutcounter")
    assert kept(campaign) != expected[campaign.pk]
    backfill = importlib.import_module("campaigns.migrations.0033_holdout_counters_backfill")
    editor = SimpleNamespace(connection=connection)
    with patch.object(backfill, "BATCH_MESSAGES", 1):
        for _pass in range(2):
            backfill.backfill(None, editor)
            assert {c.pk: assert_exact(c) for c in (campaign, other)} == expected
    assert HoldoutRun.objects.get(run_id=run.pk).start == start


def test_reconcile_stats_reports_a_tampered_holdout_counter_or_start(held_campaign):
    campaign, shop_id = held_campaign, held_campaign.shop_id
    run = campaign.runs.get(kind="audience")
    start = HoldoutRun.objects.get(run_id=run.pk).start
    order(shop_id, "R1", phones(18)[0], "30.00", start + timedelta(hours=1))
    assert_exact(campaign)
    HoldoutCounter.objects.filter(run_id=run.pk, held=True).update(revenue_squares=F("revenue_squares") + 1)
    found = [str(d) for d in stats_reconcile(campaign_id=campaign.pk) if d.what in HOLDOUT_CHECKS]
    assert len(found) == 1 and "[holdout]: counters (group orders, buyers, revenue, squares)=" in found[0]
    # A start later than the run's earliest row (a missed insert): reported.
    HoldoutRun.objects.filter(run_id=run.pk).update(start=start + timedelta(seconds=1))
    found = [str(d) for d in stats_reconcile(campaign_id=campaign.pk) if d.what in HOLDOUT_CHECKS]
    assert len(found) == 1 and "[start]: counters (run start)=" in found[0]


@pytest.mark.django_db(transaction=True)
def test_eight_threads_ingesting_orders_of_the_same_phones_at_once_leave_exact_sums(held_campaign):
    """Race: two orders of one recipient in two transactions at once; each adds its change to
    the recipient row the other committed (and the square sum's change from the value it wrote)."""
    campaign = held_campaign
    run = campaign.runs.get(kind="audience")
    start = HoldoutRun.objects.get(run_id=run.pk).start
    same = [phones(18)[0], phones(18)[1], phones(18)[6]]  # two held out, one delivered

    def ingest(index: int) -> None:
        for round_ in range(5):
            rows = [
                {"order_no": f"T{index}-{round_}-{k}", "phone": p, "amount": f"{index + 1}.{k}0",
                 "placed_at": start + timedelta(hours=1 + round_)}
                for k, p in enumerate(same)
            ]  # fmt: skip
            report = orders_upsert(shop=campaign.shop, rows=rows)
            assert not report.rejected, report.rejected

    run_in_threads(ingest, 8)
    figures = assert_exact(campaign)
    per_index = [sum(Decimal(f"{i + 1}.{k}0") for i in range(8)) * 5 for k in range(3)]
    assert figures[True][1:4] == (80, 2, per_index[0] + per_index[1])
    assert figures[True][4] == per_index[0] ** 2 + per_index[1] ** 2
    assert figures[False][1:] == (40, 1, per_index[2], per_index[2] ** 2)


@pytest.mark.django_db(transaction=True)
def test_orders_status_changes_and_planning_batches_at_once_leave_the_counters_exact(held_campaign):
    """Races: an order arriving while its recipient's status changes (the order locks the message
    FOR SHARE), and while a planning batch inserts that phone's message (the shop's advisory lock:
    the batch and the order statement each see the other's committed rows)."""
    campaign, shop = held_campaign, held_campaign.shop
    run = campaign.runs.get(kind="audience")
    start = HoldoutRun.objects.get(run_id=run.pk).start
    planned = phones(18)[12:16]
    new = [f"1360000{i:04d}" for i in range(40)]

    def orders(index: int) -> None:
        for round_ in range(10):
            targets = planned + new[round_ * 4 : round_ * 4 + 4]
            rows = [{"order_no": f"C{index}-{round_}-{k}", "phone": p, "amount": f"{k + index}.25",
                     "placed_at": start + timedelta(hours=2)} for k, p in enumerate(targets)]  # fmt: skip
            orders_upsert(shop=shop, rows=rows)

    def flip(index: int) -> None:
        for round_ in range(15):
            status = "sending" if (round_ + index) % 2 == 0 else "planned"
            with transaction.atomic():
                Message.objects.filter(run=run, phone__in=planned[index * 2 : index * 2 + 2]).update(
                    status=status
                )

    def plan(index: int) -> None:
        for round_ in range(5):
            batch = new[index * 20 + round_ * 4 : index * 20 + round_ * 4 + 4]
            with transaction.atomic():
                Message.objects.bulk_create(
                    Message(campaign=campaign, run=run, shop=shop, phone=p,
                            status="holdout" if k % 2 else "planned")
                    for k, p in enumerate(batch)
                )  # fmt: skip

    run_in_threads(
        lambda i: (orders, orders, orders, orders, flip, flip, plan, plan)[i](i % 4 if i < 4 else i % 2), 8
    )
    figures = assert_exact(campaign)
    assert figures[True][0] == 6 + 20 and figures[True][1] > 0


@pytest.mark.django_db(transaction=True)
def test_an_order_and_the_planning_batch_of_its_phone_at_once_count_it_once(held_campaign):
    """Race: an order of a phone and the batch inserting that phone's message, in two transactions
    at once, each held open a moment after its statement (neither sees the other's row). The
    shop's advisory lock makes one wait for the other's commit and then see its row: every order
    is counted, once."""
    campaign = held_campaign
    run = campaign.runs.get(kind="audience")
    start = HoldoutRun.objects.get(run_id=run.pk).start
    rounds = 12
    new = [f"1330000{i:04d}" for i in range(rounds)]
    barrier = threading.Barrier(2)

    def write(index: int) -> None:
        for r, phone in enumerate(new):
            barrier.wait()
            with transaction.atomic():
                if index == 0:
                    Message.objects.create(campaign=campaign, run=run, shop=campaign.shop, phone=phone,
                                           status="holdout")  # fmt: skip
                else:
                    order(campaign.shop_id, f"P{r}", phone, "10.00", start + timedelta(hours=1))
                time.sleep(0.03)

    run_in_threads(write, 2)
    figures = assert_exact(campaign)
    assert figures[True][:4] == (6 + rounds, rounds, rounds, Decimal(10 * rounds))


ORDER_OR_MESSAGE = re.compile(r'\b"?campaigns_(order|message)"?(?![a-z_])')


def cold_reads(client, url: str, headers: dict | None = None) -> tuple[int, list[str]]:
    """With a flushed cache: how many statements (the API rate limiter's are left out: it purges
    its past windows when a minute turns), and those reading order or message rows."""
    cache.clear()
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, headers=headers or {}).status_code == 200
    statements = [q["sql"] for q in captured if "ratelimitcounter" not in q["sql"]]
    return len(statements), [sql for sql in statements if ORDER_OR_MESSAGE.search(sql)]


def test_a_cold_cache_does_not_change_the_holdout_campaigns_cost_and_no_order_row_is_read(
    client, alice, held_campaign
):
    """The campaign's page and the API's report of a holdout campaign, with few and with many
    recipients and orders: the same statements, none reading an order row; the page's message
    reads are those of any campaign's page (an opt-out probe by (run, phone), one recipient's text,
    the last test messages), none for the groups."""
    campaign = held_campaign
    run = campaign.runs.get(kind="audience")
    start = HoldoutRun.objects.get(run_id=run.pk).start
    order(campaign.shop_id, "F1", phones(18)[0], "30.00", start + timedelta(hours=1))
    _key, token = make_api_key(campaign.shop, scopes=["reports"])
    client.force_login(alice)
    page = reverse("campaigns:detail", args=[campaign.shop_id, campaign.pk])
    api = f"/api/v1/campaigns/{campaign.pk}/report"
    assert client.get(api, headers=bearer(token)).status_code == 200  # the key's first use is written once
    few = [cold_reads(client, page), cold_reads(client, api, bearer(token))]
    numbers = [f"135{i:08d}" for i in range(1500)]
    Message.objects.bulk_create(
        Message(campaign=campaign, run=run, shop_id=campaign.shop_id, phone=p,
                status="holdout" if i % 5 == 0 else "delivered", parts=1, settlement="charged")
        for i, p in enumerate(numbers)
    )  # fmt: skip
    Order.objects.bulk_create(
        Order(shop_id=campaign.shop_id, order_no=f"BULK-{i}-{k}", phone=p, amount=Decimal("2.00"),
              placed_at=start + timedelta(hours=3))
        for i, p in enumerate(numbers) for k in range(2)
    )  # fmt: skip
    many = [cold_reads(client, page), cold_reads(client, api, bearer(token))]
    assert [n for n, _ in many] == [n for n, _ in few]
    (_n, page_reads), (_m, api_reads) = many
    assert not any("campaigns_order" in q for q in page_reads + api_reads), page_reads + api_reads
    assert len(page_reads) == 3 and api_reads == [], (page_reads, api_reads)
    report = client.get(api, headers=bearer(token)).json()
    assert (report["holdout"], report["holdout_orders"], report["holdout_revenue"]) == (
        6 + 300,
        1 + 600,
        "1230.00",
    )
    assert (report["sent_group_orders"], report["sent_group_revenue"]) == (2400, "4800.00")
    assert_exact(campaign)
