"""Ingesting a shop's orders: validation, the same order_no as an update, purchases fed."""

from __future__ import annotations

import io
import threading
import time
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg
import pytest
import time_machine
from django.db import connection

from campaigns.models import Customer, Order, Purchase
from campaigns.selectors import campaign_audience
from campaigns.services.campaigns import campaign_create
from campaigns.services.importing import customers_import
from campaigns.services.orders import orders_upsert
from tests.campaigns.campaign_fixtures import import_customers
from tests.factories import make_active_account, make_shop

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 6, 10, 12, 0, tzinfo=SH)


def row(order_no, phone="13800138000", amount="99.00", placed_at="2026-06-09 20:30:00", **extra):
    return {"order_no": order_no, "phone": phone, "amount": amount, "placed_at": placed_at, **extra}


@time_machine.travel(NOW, tick=False)
def test_it_creates_then_updates_the_same_order_never_a_second_one(alice_shop):
    report = orders_upsert(shop=alice_shop, rows=[row("A1"), row("A2"), row("A1", amount="120")])
    assert report.as_dict() == {"created": 2, "updated": 1, "rejected": []}
    assert Order.objects.get(shop=alice_shop, order_no="A1").amount == Decimal("120.00")
    again = orders_upsert(shop=alice_shop, rows=[row("A2", amount="10.5", phone="+86 138-0013-8001")])
    assert (again.created, again.updated) == (0, 1)
    order = Order.objects.get(shop=alice_shop, order_no="A2")
    assert (order.amount, order.phone) == (Decimal("10.50"), "13800138001")
    assert Order.objects.filter(shop=alice_shop).count() == 2


@time_machine.travel(NOW, tick=False)
def test_it_keeps_the_same_order_no_of_two_shops_apart(alice_shop, bob_shop):
    orders_upsert(shop=alice_shop, rows=[row("X")])
    orders_upsert(shop=bob_shop, rows=[row("X", amount="1")])
    assert Order.objects.filter(order_no="X").count() == 2


@time_machine.travel(NOW, tick=False)
def test_it_rejects_bad_rows_with_their_index_code_and_chinese_message_and_keeps_the_rest(alice_shop):
    rows = [
        row("", amount="1"),
        row("B1", phone="12345"),
        row("B2", amount="-1"),
        row("B3", amount="1.234"),
        row("B4", placed_at="昨天"),
        row("B5", placed_at="2026-06-10 12:30:00"),  # 30 minutes in the future
        row("B6", product="长" * 129),
        "not an order",
        row("B7\x00", amount="1"),
        row("OK", amount="¥1,299.50"),
    ]
    report = orders_upsert(shop=alice_shop, rows=rows)
    assert (report.created, report.updated) == (1, 0)
    assert [(r["index"], r["code"]) for r in report.as_dict()["rejected"]] == [
        (0, "BAD-ORDER-NO"),
        (1, "BAD-PHONE"),
        (2, "BAD-AMOUNT"),
        (3, "BAD-AMOUNT"),
        (4, "BAD-TIME"),
        (5, "BAD-TIME"),
        (6, "TOO-LONG"),
        (7, "BAD-ROW"),
        (8, "BAD-ROW"),
    ]
    assert "手机号" in report.rejected[1].message
    assert list(Order.objects.values_list("order_no", "amount")) == [("OK", Decimal("1299.50"))]


@time_machine.travel(NOW, tick=False)
def test_it_reads_a_time_without_zone_as_beijing_time_and_keeps_a_given_zone(alice_shop):
    orders_upsert(
        shop=alice_shop,
        rows=[
            row("T1", placed_at="2026/6/9 8:05"),
            row("T2", placed_at="2026-06-09T08:05:00Z"),
            row("T3", placed_at=datetime(2026, 6, 9, 8, 5)),
        ],
    )
    placed = dict(Order.objects.values_list("order_no", "placed_at"))
    assert placed["T1"] == datetime(2026, 6, 9, 8, 5, tzinfo=SH)
    assert placed["T2"] == datetime(2026, 6, 9, 8, 5, tzinfo=ZoneInfo("UTC"))
    assert placed["T3"] == datetime(2026, 6, 9, 8, 5, tzinfo=SH)


@time_machine.travel(NOW, tick=False)
def test_it_feeds_one_purchase_per_order_and_recounts_the_customers_it_touches(alice_shop):
    import_customers(alice_shop, ["13800138000,老客,,T恤,2026-05-01 10:00,50"])
    orders_upsert(
        shop=alice_shop,
        rows=[
            row("P1", amount="100", placed_at="2026-06-01 10:00", product="T恤"),
            row("P2", phone="13800138001", amount="30", placed_at="2026-06-02 10:00"),
        ],
    )
    old = Customer.objects.get(shop=alice_shop, phone="13800138000")
    assert (old.purchase_count, old.total_spent, old.name) == (2, Decimal("150.00"), "老客")
    assert old.last_purchase_at == datetime(2026, 6, 1, 10, 0, tzinfo=SH)
    new = Customer.objects.get(shop=alice_shop, phone="13800138001")  # a stranger becomes a customer
    assert (new.purchase_count, new.total_spent) == (1, Decimal("30.00"))
    assert Purchase.objects.get(order__order_no="P2").product == ""
    # The order moves to the other phone with another amount: both summaries follow.
    orders_upsert(shop=alice_shop, rows=[row("P1", phone="13800138001", amount="70", placed_at="2026-06-03")])
    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.purchase_count, old.total_spent) == (1, Decimal("50.00"))
    assert old.last_purchase_at == datetime(2026, 5, 1, 10, 0, tzinfo=SH)
    assert (new.purchase_count, new.total_spent) == (2, Decimal("100.00"))
    assert new.last_purchase_at == datetime(2026, 6, 3, tzinfo=SH)
    assert Purchase.objects.filter(order__isnull=False).count() == 2


def test_it_feeds_repurchase_reminders_with_the_products_of_orders(alice, alice_shop):
    make_active_account(alice_shop, balance=10, user=alice)
    with time_machine.travel(NOW, tick=False):
        orders_upsert(
            shop=alice_shop,
            rows=[
                row("R1", phone="13800138000", product="洗发水", placed_at="2026-05-11 09:00"),
                row("R2", phone="13800138001", product="洗发水", placed_at="2026-05-12 09:00"),
                row("R3", phone="13800138002", product="T恤", placed_at="2026-05-11 09:00"),
            ],
        )
        campaign = campaign_create(
            shop=alice_shop,
            user=alice,
            kind="repurchase",
            name="洗发水复购",
            text="您购买的洗发水快用完了吧？回店复购享9折。",
            products=["洗发水"],
            days_since_purchase=30,
        )
    audience = campaign_audience(campaign=campaign, day=NOW.date())
    assert list(audience.values_list("phone", flat=True)) == ["13800138000"]


@pytest.mark.django_db(transaction=True)
@time_machine.travel(NOW, tick=False)
def test_it_makes_one_order_of_the_same_new_order_no_pushed_by_two_writers_at_once():
    shop = make_shop("并发店铺")
    barrier = threading.Barrier(2)
    reports = []

    def push(amount: str) -> None:
        try:
            barrier.wait(timeout=30)
            rows = [row(f"C{i}", amount=amount) for i in range(50)]
            reports.append(orders_upsert(shop=shop, rows=rows))
        finally:
            connection.close()

    threads = [threading.Thread(target=push, args=(amount,)) for amount in ("1", "2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted((r.created, r.updated) for r in reports) == [(0, 50), (50, 0)]
    assert Order.objects.filter(shop=shop).count() == 50
    assert Purchase.objects.filter(shop=shop).count() == 50
    customer = Customer.objects.get(shop=shop)
    amount = Order.objects.filter(shop=shop).values_list("amount", flat=True).first()
    assert len(set(Order.objects.filter(shop=shop).values_list("amount", flat=True))) == 1
    assert (customer.purchase_count, customer.total_spent) == (50, amount * 50)


@time_machine.travel(NOW, tick=False)
def test_it_marks_a_customer_import_row_already_known_from_an_order_as_a_duplicate(alice_shop):
    orders_upsert(shop=alice_shop, rows=[row("D1", amount="20", placed_at="2026-06-01 10:00", product="T恤")])
    report = customers_import(
        shop=alice_shop,
        stream=io.BytesIO("手机号,商品,购买时间,金额\n13800138000,T恤,2026-06-01 10:00,20\n".encode()),
    )
    assert (report.imported, report.rejected) == (0, 1)
    assert Customer.objects.get(shop=alice_shop).purchase_count == 1


def wait_for_lock_wait(pid_holder: list[int], deadline: float = 60.0) -> None:
    """Poll until the backend in ``pid_holder`` waits for a row lock (generous for a loaded machine)."""
    with psycopg.connect(_dsn(), autocommit=True) as watcher:
        start = time.monotonic()
        while time.monotonic() - start < deadline:
            if pid_holder:
                waiting = watcher.execute(
                    "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid_holder[0]]
                ).fetchone()
                if waiting and waiting[0] == "Lock":
                    return
            time.sleep(0.05)
    raise AssertionError("the order batch never waited for the customer's lock")


def _dsn() -> str:
    settings = connection.settings_dict
    return (
        f"host={settings['HOST'] or 'localhost'} port={settings['PORT'] or 5432} "
        f"dbname={settings['NAME']} user={settings['USER']} password={settings['PASSWORD'] or ''}"
    )


@pytest.mark.django_db(transaction=True)
@time_machine.travel(NOW, tick=False)
def test_it_recounts_a_summary_after_a_customer_import_holding_it_commits():
    """The race the customer lock defends: the customer import adds a purchase and its count under
    the customer's row lock; an order batch that moves an order away from that customer (another
    phone) recounts them meanwhile, and must wait for the import and count its purchase, not
    write back a count read before the import committed."""
    shop = make_shop("并发导入")
    orders_upsert(shop=shop, rows=[row("N0", amount="7", placed_at="2026-06-05 09:00")])
    customer = Customer.objects.get(shop=shop)
    pid: list[int] = []
    errors: list[Exception] = []

    def push_order() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pid.append(cursor.fetchone()[0])
            moved = row("N0", phone="13800138001", amount="5", placed_at="2026-06-06 09:00")
            orders_upsert(shop=shop, rows=[moved])
        except Exception as exc:  # noqa: BLE001 (asserted below)
            errors.append(exc)
        finally:
            connection.close()

    # The customer import's merge, as it writes: a purchase, then the summary plus it, one transaction.
    with psycopg.connect(_dsn()) as importer:
        importer.execute(
            f"INSERT INTO {Purchase._meta.db_table} (shop_id, customer_id, product, purchased_at, amount)"
            " VALUES (%s, %s, 'T恤', '2026-06-01 10:00+08', 10)",
            [shop.pk, customer.pk],
        )
        importer.execute(
            f"UPDATE {Customer._meta.db_table} SET purchase_count = purchase_count + 1,"
            " total_spent = total_spent + 10 WHERE id = %s",
            [customer.pk],
        )
        thread = threading.Thread(target=push_order)
        thread.start()
        wait_for_lock_wait(pid)
        importer.commit()
    thread.join(timeout=60)
    assert not errors and not thread.is_alive()
    customer.refresh_from_db()
    assert (customer.purchase_count, customer.total_spent) == (1, Decimal("10.00"))
    other = Customer.objects.get(shop=shop, phone="13800138001")
    assert (other.purchase_count, other.total_spent) == (1, Decimal("5.00"))
