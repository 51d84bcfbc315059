"""Frequency counters partitioned by day: the purge is a partition drop, the default partition,
partition maintenance under concurrency, and the live conversion of unpartitioned tables."""

from __future__ import annotations

import importlib
import json
import threading
import time
from datetime import date, datetime
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection, connections, transaction

from campaigns.models import PlatformCounter, ShopCounter
from campaigns.services.frequency import PURGE_KEEP_DAYS, frequency_counters_purge_old, frequency_decide
from campaigns.services.frequency_partitions import (
    PLATFORM,
    PROGRESS_TABLE,
    SHOP,
    TABLES,
    frequency_counters_partition,
    frequency_partitions_drop_unpartitioned,
    frequency_partitions_ensure,
    frequency_partitions_purge,
)
from tests.factories import make_shop

SH = ZoneInfo("Asia/Shanghai")
PHONE = "13800138000"


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=SH)


def send(shop, message_class: str, day: date, phone: str = PHONE):
    [decision] = frequency_decide(
        shop_id=shop.pk, message_class=message_class, phones=[phone], at=at(day), commit=True
    )
    return decision


def relkind(name: str) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [name])
        row = cursor.fetchone()
    return row[0] if row else None


def partitions_of(parent: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = to_regclass(%s)""",
            [parent],
        )
        return {row[0] for row in cursor.fetchall()}


def rows_in(relname: str, day: date | None = None) -> int:
    with connection.cursor() as cursor:
        if day is None:
            cursor.execute(f"SELECT count(*) FROM ONLY {relname}")
        else:
            cursor.execute(f"SELECT count(*) FROM ONLY {relname} WHERE day = %s", [day])
        return cursor.fetchone()[0]


@pytest.fixture
def real_partitions_back(transactional_db):
    """Purging at a travelled-to future date drops the partitions of the real days too (and
    transactional tests commit): make them again for the tests that follow."""
    yield
    frequency_partitions_ensure(days_back=PURGE_KEEP_DAYS - 1)


def test_it_has_day_partitions_and_a_default_after_the_migration(db):
    for table in TABLES:
        assert relkind(table.name) == "p"  # partitioned table
        attached = partitions_of(table.name)
        assert table.default in attached
        assert table.partition(datetime.now(tz=SH).date()) in attached


def test_it_purges_a_day_of_counters_by_dropping_its_partition(real_partitions_back):
    shop = make_shop("分区店铺")
    first, today = date(2031, 5, 1), date(2031, 5, 10)
    frequency_partitions_ensure(today=first, days_ahead=9)
    for day in (first, today):
        assert send(shop, "notify", day).allowed
        assert send(shop, "notify", day, phone="13900139000").allowed
    old_platform, old_shop = PLATFORM.partition(first), SHOP.partition(first)
    assert old_platform in partitions_of(PLATFORM.name) and old_shop in partitions_of(SHOP.name)
    assert rows_in(old_platform) == 2 and rows_in(old_shop) == 2

    with time_machine.travel(at(today, 3), tick=False):
        removed = frequency_counters_purge_old(keep_days=PURGE_KEEP_DAYS)  # keeps 4 May on

    # The day's counters went with their tables: detached and dropped, not deleted row by row.
    assert removed == 4
    assert relkind(old_platform) is None and relkind(old_shop) is None
    assert old_platform not in partitions_of(PLATFORM.name)
    assert PLATFORM.partition(date(2031, 5, 4)) in partitions_of(PLATFORM.name)
    # Today's counters are intact, and the nightly run made the coming days' partitions.
    assert PlatformCounter.objects.filter(day=today).count() == 2
    assert ShopCounter.objects.filter(day=today).count() == 2
    assert rows_in(PLATFORM.partition(today)) == 2
    assert PLATFORM.partition(date(2031, 5, 17)) in partitions_of(PLATFORM.name)
    # Idempotent: a second night run of the same day drops nothing more.
    with time_machine.travel(at(today, 3), tick=False):
        assert frequency_counters_purge_old(keep_days=PURGE_KEEP_DAYS) == 0


def test_it_counts_writes_for_a_day_without_a_partition_in_the_default(
    transactional_db, real_partitions_back
):
    shop = make_shop("默认分区店铺")
    day = date(2033, 2, 3)  # no partition for this day
    assert SHOP.partition(day) not in partitions_of(SHOP.name)
    assert send(shop, "marketing", day).allowed
    assert rows_in(PLATFORM.default, day) == 1 and rows_in(SHOP.default, day) == 1
    # It counts: FREQ-SHOP-2DAY refuses the second marketing message of the shop.
    assert send(shop, "marketing", day).reason == "FREQ-SHOP-2DAY"

    # Creating the day's partition moves its rows out of the default, and they still count.
    created = frequency_partitions_ensure(today=day, days_ahead=0)
    assert set(created) == {PLATFORM.partition(day), SHOP.partition(day)}
    assert rows_in(PLATFORM.default, day) == 0 and rows_in(SHOP.default, day) == 0
    assert rows_in(PLATFORM.partition(day)) == 1 and rows_in(SHOP.partition(day)) == 1
    assert send(shop, "marketing", day).reason == "FREQ-SHOP-2DAY"
    assert PlatformCounter.objects.get(phone=int(PHONE), day=day).marketing == 1

    # Old rows left in the default are deleted by the purge (a day that never had a partition).
    with time_machine.travel(at(date(2033, 2, 20), 3), tick=False):
        send(shop, "notify", date(2033, 2, 1))  # lands in the default, then is too old
        removed = frequency_counters_purge_old(keep_days=PURGE_KEEP_DAYS)
    assert rows_in(PLATFORM.default, date(2033, 2, 1)) == 0
    assert removed >= 4  # the default rows of 1 Feb and the dropped partition of 3 Feb


def test_it_ensures_partitions_idempotently_and_concurrently(transactional_db):
    start = date(2034, 7, 1)
    results: list[list[str]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            barrier.wait()
            results.append(frequency_partitions_ensure(today=start, days_ahead=4))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    expected = {t.partition(date(2034, 7, d)) for t in TABLES for d in range(1, 6)}
    # Each day made exactly once, by one thread or the other.
    assert sorted(results[0] + results[1]) == sorted(expected)
    assert expected <= partitions_of(PLATFORM.name) | partitions_of(SHOP.name)
    assert frequency_partitions_ensure(today=start, days_ahead=4) == []


def _all_rows(relname: str, *, since: date) -> set[tuple]:
    with connection.cursor() as cursor:
        cols = (
            "phone, shop_id, day, marketing, notify_unsub, notify"
            if "shop" in relname
            else ("phone, day, marketing, notify_unsub, notify")
        )
        cursor.execute(f"SELECT {cols} FROM {relname} WHERE day >= %s", [since])
        return set(cursor.fetchall())


def test_it_converts_unpartitioned_tables_holding_rows_without_losing_one(
    transactional_db, real_partitions_back
):
    # The migration's own functions, called directly: unapplying migrations with the executor
    # would also unapply whatever other branches add to campaigns after 0026.
    migration = importlib.import_module("campaigns.migrations.0027_frequency_counters_partitioned")
    migration.backward(None, None)
    try:
        for table in TABLES:
            assert relkind(table.name) == "r"  # back to plain tables
        shops = [make_shop(f"迁移店铺{i}") for i in range(3)]
        today = datetime.now(tz=SH).date()
        first = date.fromordinal(today.toordinal() - (PURGE_KEEP_DAYS - 1))
        old_day = date.fromordinal(first.toordinal() - 2)  # older than any window: not copied
        with connection.cursor() as cursor:
            for offset, day in enumerate([old_day, first, today]):
                cursor.execute(
                    f"""INSERT INTO {PLATFORM.name} (phone, day, marketing, notify_unsub)
                    SELECT 13000000000 + g, %s, g %% 3, %s FROM generate_series(1, 1500) g""",
                    [day, offset],
                )
                cursor.execute(
                    f"""INSERT INTO {SHOP.name} (phone, shop_id, day, marketing, notify_unsub)
                    SELECT 13000000000 + g, s, %s, 1, %s FROM generate_series(1, 600) g
                    CROSS JOIN unnest(%s::bigint[]) s""",
                    [day, offset, [s.pk for s in shops]],
                )

        # Interrupted after two batches per table: nothing swapped, progress recorded.
        frequency_counters_partition(keep_days=PURGE_KEEP_DAYS, batch_rows=500, max_batches=2)
        assert relkind(PLATFORM.name) == "r" and relkind(PLATFORM.building) == "p"
        assert rows_in(PROGRESS_TABLE) == 2
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {PLATFORM.building}")
            assert cursor.fetchone()[0] == 1000  # two batches of 500, in key order
            cursor.execute(f"SELECT last_key FROM {PROGRESS_TABLE} WHERE table_name = %s", [PLATFORM.name])
            # Each phone has a row of ``first`` and of today: the 1000th is phone 500's today.
            assert json.loads(cursor.fetchone()[0]) == [13000000500, today.isoformat()]

        # Writes while the copy is under way: counted (mirrored) whether their row was
        # already copied or not, a new row, and a delete.
        assert send(shops[0], "notify", today, phone="13000000001").allowed  # copied row
        assert send(shops[1], "notify", today, phone="13000001499").allowed  # not yet copied
        assert send(shops[2], "notify", today, phone="15000000000").allowed  # new row
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {SHOP.name} WHERE phone = 13000000002 AND day = %s", [today])

        # Resumed while another worker keeps deciding for new phones: the rest is copied, then
        # the tables are swapped; no decision made before, during or after the swap is lost.
        allowed: list[int] = []
        errors: list[BaseException] = []
        done = threading.Event()

        def sender() -> None:
            try:
                n = 0
                while not done.is_set() or n < 20:
                    phone = 15100000000 + n
                    if send(shops[n % 3], "notify", today, phone=str(phone)).allowed:
                        allowed.append(phone)
                    n += 1
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                connections.close_all()

        thread = threading.Thread(target=sender)
        thread.start()
        try:
            frequency_counters_partition(keep_days=PURGE_KEEP_DAYS, batch_rows=500)
        finally:
            done.set()
            thread.join()
        assert errors == []
        assert len(allowed) >= 20
        assert PlatformCounter.objects.filter(phone__in=allowed, day=today, notify=1).count() == len(allowed)
        assert ShopCounter.objects.filter(phone__in=allowed, day=today, notify=1).count() == len(allowed)
        for table in TABLES:
            assert relkind(table.name) == "p" and relkind(table.unpartitioned) == "r"
            assert relkind(table.building) is None
            # Every row of the kept days, with its latest counts, is in the partitioned table
            # (the sender's rows written after the swap are only there, by design).
            kept = _all_rows(table.unpartitioned, since=first)
            rows = _all_rows(table.name, since=first)
            assert kept <= rows
            assert all(row[0] >= 15100000000 for row in rows - kept)
            assert rows_in(table.partition(today)) > 0
        counter = PlatformCounter.objects.get(phone=13000000001, day=today)
        assert (counter.notify, counter.notify_unsub) == (1, 2)  # the mirrored write on a copied row
        assert not ShopCounter.objects.filter(phone=13000000002, day=today).exists()
        assert not PlatformCounter.objects.filter(day=old_day).exists()  # left in the old table
        assert rows_in(PLATFORM.unpartitioned, old_day) == 1500
        # Decisions run on the partitioned tables right away.
        assert send(shops[0], "notify", today, phone="13000000003").allowed

        # Running the migration again changes nothing; the kept tables go when the operator
        # drops them.
        migration.forward(None, None)
        assert relkind(PLATFORM.unpartitioned) == "r"
        assert sorted(frequency_partitions_drop_unpartitioned()) == sorted(t.unpartitioned for t in TABLES)
        assert relkind(PLATFORM.unpartitioned) is None and relkind(PROGRESS_TABLE) is None
    finally:
        migration.forward(None, None)  # leaves partitioned tables even if an assertion failed
        frequency_partitions_drop_unpartitioned()


def test_it_never_holds_sends_behind_a_waiting_detach_for_long(real_partitions_back):
    """A purge whose DETACH waits for a long transaction gives up after lock_timeout and retries,
    so decisions arriving meanwhile wait at most about that long, not for the long transaction."""
    shop = make_shop("锁等待店铺")
    old, today = date(2035, 3, 1), date(2035, 3, 10)
    frequency_partitions_ensure(today=old, days_ahead=9)
    assert send(shop, "notify", old).allowed
    holding, release = threading.Event(), threading.Event()
    purge: dict[str, float] = {}

    def long_transaction() -> None:
        try:
            with transaction.atomic():
                send(shop, "notify", today, phone="13700137000")  # holds the tables until commit
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    def purger() -> None:
        try:
            started = time.monotonic()
            purge["removed"] = frequency_partitions_purge(before=date(2035, 3, 4))
            purge["seconds"] = time.monotonic() - started
        finally:
            connections.close_all()

    holder = threading.Thread(target=long_transaction)
    holder.start()
    assert holding.wait(10)
    purging = threading.Thread(target=purger)
    purging.start()
    time.sleep(0.3)  # the DETACH is queued for its ACCESS EXCLUSIVE lock
    started = time.monotonic()
    assert send(shop, "notify", today, phone="13700137001").allowed
    waited = time.monotonic() - started
    time.sleep(1.5 - min(waited, 1.5))
    release.set()
    holder.join()
    purging.join()

    assert waited < 1.0  # bounded by the purge's lock_timeout (500 ms), not the 1.8 s transaction
    assert purge["removed"] == 2 and purge["seconds"] > 1.5  # it retried until the lock came
    assert relkind(PLATFORM.partition(old)) is None
    assert PlatformCounter.objects.filter(day=today).count() == 2


def test_it_lists_and_creates_partitions_from_the_command(real_partitions_back):
    out = StringIO()
    call_command("frequency_partitions", "--ensure", "--days-ahead", "9", stdout=out)
    assert "Created" in out.getvalue()
    out = StringIO()
    call_command("frequency_partitions", stdout=out)
    listed = out.getvalue()
    assert PLATFORM.default in listed and SHOP.partition(datetime.now(tz=SH).date()) in listed
    assert "DEFAULT" in listed and "FOR VALUES FROM" in listed


def test_it_finishes_a_purge_that_stopped_between_detach_and_drop(real_partitions_back):
    shop = make_shop("中断店铺")
    day = date(2036, 8, 1)
    frequency_partitions_ensure(today=day, days_ahead=0)
    assert send(shop, "notify", day).allowed
    with connection.cursor() as cursor:  # what a purge stopped after its DETACH leaves
        cursor.execute(f"ALTER TABLE {PLATFORM.name} DETACH PARTITION {PLATFORM.partition(day)}")
    assert relkind(PLATFORM.partition(day)) == "r" and PLATFORM.partition(day) not in partitions_of(
        PLATFORM.name
    )

    assert frequency_partitions_purge(before=date(2036, 8, 2)) == 2  # the leftover and the shop day
    assert relkind(PLATFORM.partition(day)) is None and relkind(SHOP.partition(day)) is None


def test_it_purges_the_same_days_from_two_threads_once(real_partitions_back):
    shop = make_shop("并发清理店铺")
    start = date(2037, 1, 1)
    frequency_partitions_ensure(today=start, days_ahead=3)
    for day in range(1, 4):
        assert send(shop, "notify", date(2037, 1, day)).allowed
    removed: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            barrier.wait()
            removed.append(frequency_partitions_purge(before=date(2037, 1, 4)))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(removed) == 6  # 3 days x (platform + shop), each removed by one thread only
    for day in range(1, 4):
        assert relkind(PLATFORM.partition(date(2037, 1, day))) is None
    assert PLATFORM.partition(date(2037, 1, 4)) in partitions_of(PLATFORM.name)
