"""Frequency counters partitioned by day: partition maintenance, purge by partition drop,
and the live conversion of the unpartitioned tables (migration 0027).

Layout. ``campaigns_freq_platform`` and ``campaigns_freq_shop`` are PostgreSQL declarative
``RANGE (day)`` partitioned tables (their primary keys, (phone, day) and (phone, shop_id,
day), contain the partition key, so they stay valid). Each local day has one partition per
table, ``<table>_pYYYYMMDD`` holding ``[day, day + 1)``, and each table has a DEFAULT
partition ``<table>_default``. The Django models are unchanged: PostgreSQL routes rows.

Why a default partition. A decision or a release writes the counters of whatever day its
clock says (tests move the clock anywhere with time-machine; a worker may run before the
nightly task has created the next days). Without a default such a write would fail with
"no partition of relation ... found for row"; with it the row lands in the default and
counts like any other (the decision reads the parent). Maintenance keeps it small:
``frequency_partitions_ensure`` moves the rows of a day into that day's new partition when
it creates it, and the purge deletes the default's rows older than the kept window.

Locks (PostgreSQL 15).
* Creating a day: ``CREATE TABLE <part> (LIKE parent ...)`` locks nothing shared, then
  ``ALTER TABLE parent ATTACH PARTITION`` takes SHARE UPDATE EXCLUSIVE on the parent (does
  not conflict with reads or writes of counters) and ACCESS EXCLUSIVE on the default
  partition (scanned to prove it has no row of that day; it is small, and decisions for
  days that have a partition never touch it: plan-time pruning does not lock pruned
  partitions). ``CREATE TABLE ... PARTITION OF`` would take ACCESS EXCLUSIVE on the parent,
  which is why it is not used for days.
* Dropping a day: ``DETACH PARTITION ... CONCURRENTLY`` needs only SHARE UPDATE EXCLUSIVE,
  but PostgreSQL refuses it on a table that has a default partition, and it cannot run in
  a transaction block (so no ``SET LOCAL lock_timeout`` and retry around it). So the purge
  uses a plain ``DETACH PARTITION``: ACCESS EXCLUSIVE on the parent, held for a catalog
  update only (no scan, milliseconds), under ``lock_timeout`` (``LOCK_TIMEOUT``) so it
  never queues the sends behind it for longer than that, retried with back-off. The
  detached table is then counted and dropped with no lock on the parent.
* Every maintenance transaction first takes a transaction-level advisory lock per table,
  so two runners (the nightly task and a command, or two threads) serialise instead of
  racing on the same day; re-reading the catalogue inside the lock makes a repeated run a
  no-op.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import connection, transaction

from campaigns.models.frequency import PlatformCounter, ShopCounter
from campaigns.partitions import (
    PartitionedTable,
    attached_partitions,
    constraint_defs,
    has_mirror,
    mirror_triggers_drop,
    mirror_triggers_sql,
    partition_attach,
    partition_detach,
    partitions_create_missing,
    relkind,
    table_drop_counted,
    with_lock_retries,
)

logger = logging.getLogger(__name__)

LOCAL_TZ = ZoneInfo("Asia/Shanghai")

# Partitions created ahead of today by the nightly task (and the migration): a week, so a
# few missed nights still leave every write in a day partition.
PARTITION_DAYS_AHEAD = 7
# The swap locks both tables at once: it may wait a little longer, still never long.
SWAP_LOCK_TIMEOUT_MS = 2000
COPY_BATCH_ROWS = 20_000


@dataclass(frozen=True)
class CounterTable(PartitionedTable):
    key: tuple[str, ...]
    counts: tuple[str, ...] = ("marketing", "notify_unsub", "notify")

    @property
    def columns(self) -> tuple[str, ...]:
        return self.key + self.counts

    def partition(self, day: date) -> str:
        return f"{self.name}_p{day:%Y%m%d}"


# Fixed order, the decisions' order: platform rows (the phone's lock) before shop rows.
PLATFORM = CounterTable(PlatformCounter._meta.db_table, ("phone", "day"))
SHOP = CounterTable(ShopCounter._meta.db_table, ("phone", "shop_id", "day"))
TABLES = (PLATFORM, SHOP)

PROGRESS_TABLE = "campaigns_freq_partition_progress"
LIKE_OPTIONS = "INCLUDING DEFAULTS INCLUDING CONSTRAINTS"
KEY_TYPES = {"phone": "bigint", "shop_id": "bigint", "day": "date"}


def today_local() -> date:
    return datetime.now(tz=LOCAL_TZ).date()


# --- catalogue --------------------------------------------------------------------------


def _day_of(table: CounterTable, relname: str) -> date | None:
    match = re.fullmatch(re.escape(table.name) + r"_p(\d{8})", relname)
    return datetime.strptime(match.group(1), "%Y%m%d").date() if match else None


def frequency_partitions_list() -> list[tuple[str, str, str]]:
    """(parent, partition, bound) of both counter tables, for ``manage.py frequency_partitions``."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT p.relname, c.relname, pg_get_expr(c.relpartbound, c.oid)
            FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
            WHERE p.relname = ANY(%s) ORDER BY p.relname, c.relname
            """,
            [[t.name for t in TABLES]],
        )
        return list(cursor.fetchall())


def _lock(table: CounterTable) -> str:
    # Race: two maintenance runs (nightly task, command, migration) creating or dropping the
    # same day at once: one advisory lock per table (campaigns.partitions.advisory_lock).
    return f"freq-partitions:{table.name}"


# --- ensure -----------------------------------------------------------------------------


def _ensure_day(cursor, table: CounterTable, *, parent: str, day: date) -> bool:
    return partition_attach(
        cursor, parent=parent, name=table.partition(day), default=table.default, column="day",
        low=day, high=day + timedelta(days=1), lock=_lock(table),
    )  # fmt: skip


def _ensure_table(table: CounterTable, *, parent: str, days: Iterable[date]) -> list[str]:
    return partitions_create_missing(
        parent=parent,
        partitions=[
            (table.partition(day), lambda cursor, day=day: _ensure_day(cursor, table, parent=parent, day=day))
            for day in days
        ],
    )


def frequency_partitions_ensure(
    *, days_ahead: int = PARTITION_DAYS_AHEAD, days_back: int = 0, today: date | None = None
) -> list[str]:
    """Create the day partitions of both counter tables from ``today - days_back`` to
    ``today + days_ahead`` that do not exist yet; returns the names created.

    Idempotent and safe to run concurrently (advisory lock + re-check). Rows a write put in
    the default partition for such a day are moved into the new partition."""
    today = today or today_local()
    days = [today + timedelta(days=offset) for offset in range(-days_back, days_ahead + 1)]
    created: list[str] = []
    for table in TABLES:
        with connection.cursor() as cursor:
            if relkind(cursor, table.name) != "p":
                continue  # not converted yet (migration 0027 does it)
        created += _ensure_table(table, parent=table.name, days=days)
    if created:
        logger.info("frequency partitions created: %s", ", ".join(created))
    return created


# --- purge ------------------------------------------------------------------------------


def _detach(cursor, table: CounterTable, name: str) -> bool:
    return partition_detach(cursor, parent=table.name, name=name, lock=_lock(table))


def _drop(cursor, table: CounterTable, name: str) -> int:
    return table_drop_counted(cursor, name=name, lock=_lock(table))


def _leftover_day_tables(cursor, table: CounterTable) -> list[str]:
    """Standalone tables named like a day partition: detached by a purge that stopped before its DROP."""
    cursor.execute(
        """
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relkind = 'r' AND NOT c.relispartition
          AND c.relname ~ %s
        """,
        [f"^{table.name}_p[0-9]{{8}}$"],
    )
    return [row[0] for row in cursor.fetchall()]


def frequency_partitions_purge(*, before: date) -> int:
    """Drop the day partitions of days before ``before`` and delete the default partition's
    rows of those days; returns the counter rows removed (counted before each drop)."""
    removed = 0
    for table in TABLES:
        with connection.cursor() as cursor:
            if relkind(cursor, table.name) != "p":
                continue
            old = sorted(
                name
                for name in attached_partitions(cursor, table.name)
                if (d := _day_of(table, name)) and d < before
            )
        for name in old:
            with_lock_retries(
                lambda cursor, table=table, name=name: _detach(cursor, table, name), what=f"detach {name}"
            )
        with connection.cursor() as cursor:
            leftovers = [
                name for name in _leftover_day_tables(cursor, table) if _day_of(table, name) < before
            ]
        for name in leftovers:
            # Detached: no one reads or writes it any more, and no lock on the parent. Under
            # lock_timeout all the same: a detached shop day has a foreign key of its own, and
            # dropping it removes its triggers on the shops table.
            removed += with_lock_retries(
                lambda cursor, table=table, name=name: _drop(cursor, table, name), what=f"drop {name}"
            )
            logger.info("frequency counters: dropped partition %s", name)
        with connection.cursor() as cursor:
            if relkind(cursor, table.default):
                # Rows written for a day that had no partition: few, a plain DELETE.
                cursor.execute(f"DELETE FROM {table.default} WHERE day < %s", [before])
                removed += cursor.rowcount
    return removed


# --- conversion of the unpartitioned tables (migration 0027) -----------------------------


def _create_building_table(cursor, table: CounterTable) -> None:
    new = table.building
    cursor.execute(f"CREATE TABLE {new} (LIKE {table.name} {LIKE_OPTIONS}) PARTITION BY RANGE (day)")
    for name, kind, definition in constraint_defs(cursor, table.name, "pf"):
        # Index-backed names are schema-wide (the primary key's index): a temporary name
        # until the swap. Foreign keys are named per table, so they keep theirs.
        cursor.execute(
            f"ALTER TABLE {new} ADD CONSTRAINT {new + '_pkey' if kind == 'p' else name} {definition}"
        )
    cursor.execute(f"CREATE TABLE {table.default} PARTITION OF {new} DEFAULT")


def _mirror_sql(table: CounterTable) -> list[str]:
    """Statement-level triggers (transition tables: one statement per decision, not per row)
    copying every change of the old table into the partitioned one while it is filled."""
    cols = ", ".join(table.columns)
    key = ", ".join(table.key)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in table.counts)
    match = " AND ".join(f"n.{k} = o.{k}" for k in table.key)
    fn = f"{table.name}_mirror"
    return [
        f"""
        CREATE OR REPLACE FUNCTION {fn}_upsert() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO {table.building} ({cols}) SELECT {cols} FROM changed
            ON CONFLICT ({key}) DO UPDATE SET {updates};
            RETURN NULL;
        END $$""",
        f"""
        CREATE OR REPLACE FUNCTION {fn}_delete() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM {table.building} n USING changed o WHERE {match};
            RETURN NULL;
        END $$""",
        *mirror_triggers_sql(table.name),
    ]


def _progress(cursor, table: CounterTable) -> tuple[list | None, bool]:
    cursor.execute(f"SELECT last_key, done FROM {PROGRESS_TABLE} WHERE table_name = %s", [table.name])
    row = cursor.fetchone()
    return (row[0], row[1]) if row else (None, False)


def _copy_batch(table: CounterTable, *, first_day: date, batch_rows: int) -> int:
    """Copy the next batch of rows (in key order, after the recorded last key) of the days
    kept; the progress row moves in the same transaction, so a stop loses nothing."""
    cols = ", ".join(table.columns)
    key = ", ".join(table.key)
    key_desc = ", ".join(f"{k} DESC" for k in table.key)
    with transaction.atomic(), connection.cursor() as cursor:
        last, _ = _progress(cursor, table)
        after = ""
        params: list = [first_day]
        if last is not None:
            after = f"AND ({key}) > ({', '.join(f'%s::{KEY_TYPES[k]}' for k in table.key)})"
            params += json.loads(last) if isinstance(last, str) else last
        # Race: a decision changing a row between this SELECT and the INSERT. The mirror
        # trigger wrote the newer row into the partitioned table (or holds its key locked
        # until it commits), so DO NOTHING keeps the newer one and never overwrites it.
        # Race: a row deleted after this SELECT read it (the delete trigger found nothing to
        # delete yet) would be copied back. Only two things delete counters: the purge (days
        # older than the ones copied) and a shop's deletion, whose resurrected shop rows fail
        # the copy's foreign key at commit: that batch rolls back and a re-run goes on.
        cursor.execute(
            f"""
            WITH batch AS (
                SELECT {cols} FROM {table.name} WHERE day >= %s {after}
                ORDER BY {key} LIMIT {int(batch_rows)}
            ), copied AS (
                INSERT INTO {table.building} ({cols}) SELECT {cols} FROM batch ON CONFLICT DO NOTHING
            )
            SELECT count(*), (array_agg(json_build_array({key}) ORDER BY {key_desc}))[1] FROM batch
            """,
            params,
        )
        count, last_key = cursor.fetchone()
        if count:
            cursor.execute(
                f"""INSERT INTO {PROGRESS_TABLE} (table_name, last_key) VALUES (%s, %s)
                ON CONFLICT (table_name) DO UPDATE SET last_key = EXCLUDED.last_key""",
                [table.name, json.dumps(json.loads(last_key) if isinstance(last_key, str) else last_key)],
            )
        return count


def _swap(cursor, tables: list[CounterTable]) -> None:
    # Fixed order (platform before shop), as every decision and release takes them, so a
    # writer holding the platform table never waits for us while we wait for it. Under
    # lock_timeout: a long transaction ahead makes us retry, not stall the sends behind us.
    cursor.execute(f"LOCK TABLE {', '.join(t.name for t in tables)} IN ACCESS EXCLUSIVE MODE")
    for table in tables:
        # No write can run now, and every earlier one went through the mirror triggers (or
        # was copied): the partitioned table already equals the old one on the kept days.
        mirror_triggers_drop(cursor, table.name)
        cursor.execute(f"ALTER TABLE {table.name} RENAME TO {table.unpartitioned}")
        old_key, kept_key = f"{table.name}_pkey", f"{table.unpartitioned}_pkey"
        cursor.execute(f"ALTER TABLE {table.unpartitioned} RENAME CONSTRAINT {old_key} TO {kept_key}")
        # The kept copy must not hold shops back: Django's cascade does not know it, so its
        # foreign key would make deleting (or truncating) a shop fail.
        for name, _kind, _definition in constraint_defs(cursor, table.unpartitioned, "f"):
            cursor.execute(f"ALTER TABLE {table.unpartitioned} DROP CONSTRAINT {name}")
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {table.unpartitioned})")
        if not cursor.fetchone()[0]:
            # A new installation (or an empty table): nothing to keep.
            cursor.execute(f"DROP TABLE {table.unpartitioned}")
        cursor.execute(f"ALTER TABLE {table.building} RENAME TO {table.name}")
        cursor.execute(
            f"ALTER TABLE {table.name} RENAME CONSTRAINT {table.building}_pkey TO {table.name}_pkey"
        )
        cursor.execute(f"UPDATE {PROGRESS_TABLE} SET done = true WHERE table_name = %s", [table.name])


def frequency_counters_partition(
    *,
    keep_days: int,
    days_ahead: int = PARTITION_DAYS_AHEAD,
    batch_rows: int = COPY_BATCH_ROWS,
    max_batches: int | None = None,
    today: date | None = None,
    log: Callable[[str], None] = logger.info,
) -> bool:
    """Convert the unpartitioned counter tables into day-partitioned ones, on a live system.

    Must run outside a transaction (migration 0027 is ``atomic = False``). Steps, each its own
    short transaction, so an interrupted run is resumed by running it again:

    1. create ``<table>_part`` (partitioned, same columns, defaults, checks, keys), its default
       partition and the day partitions of the kept days and the coming ones;
    2. install statement-level mirror triggers on the old table (waits, under lock_timeout, for
       the writers in flight: every later write is mirrored);
    3. copy the rows of the last ``keep_days`` local days in key-ordered batches, the last key
       copied recorded in ``campaigns_freq_partition_progress`` (a restart goes on from it).
       Older rows are not copied: no window or delivery report reaches them, the nightly
       purge would delete them, and they stay readable in the old table;
    4. swap: one transaction LOCKs both old tables (platform, then shop) with lock_timeout
       and retries, drops the triggers and renames old -> ``<table>_unpartitioned`` (without
       its foreign key; dropped at once if it held no row) and ``<table>_part`` -> ``<table>``.
       The old tables stay until
       ``frequency_partitions_drop_unpartitioned`` (``manage.py frequency_partitions
       --drop-unpartitioned``) drops them.

    ``max_batches`` stops each table's copy after that many batches without swapping (to
    spread a large copy over several runs); returns whether the tables are partitioned now.
    """
    today = today or today_local()
    first_day = today - timedelta(days=keep_days - 1)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""CREATE TABLE IF NOT EXISTS {PROGRESS_TABLE} (
                table_name text PRIMARY KEY, last_key jsonb, done boolean NOT NULL DEFAULT false)"""
        )
    pending = []
    unfinished = False
    for table in TABLES:
        with connection.cursor() as cursor:
            kind = relkind(cursor, table.name)
        if kind == "p":
            log(f"{table.name}: already partitioned")
            continue
        pending.append(table)
        with connection.cursor() as cursor:
            exists = relkind(cursor, table.building) == "p"
        if not exists:
            with transaction.atomic(), connection.cursor() as cursor:
                _create_building_table(cursor, table)
            log(f"{table.name}: created {table.building} with its default partition")
        days = [first_day + timedelta(days=n) for n in range((today - first_day).days + days_ahead + 1)]
        _ensure_table(table, parent=table.building, days=days)
        with connection.cursor() as cursor:
            mirrored = has_mirror(cursor, table.name)
        if not mirrored:
            with_lock_retries(
                lambda cursor, table=table: [cursor.execute(sql) for sql in _mirror_sql(table)],
                what=f"mirror triggers on {table.name}",
            )
            log(f"{table.name}: mirror triggers installed")
        copied = batches = 0
        started = time.monotonic()
        while True:
            if max_batches is not None and batches >= max_batches:
                unfinished = True
                break
            batch = _copy_batch(table, first_day=first_day, batch_rows=batch_rows)
            if not batch:
                break
            copied += batch
            batches += 1
        took = time.monotonic() - started
        log(f"{table.name}: copied {copied} rows of days from {first_day} in {took:.1f}s")
    if unfinished:
        log("stopped after --max-batches; run again to go on")
        return False
    if pending:
        started = time.monotonic()
        with_lock_retries(
            lambda cursor: _swap(cursor, pending),
            what="swap counter tables",
            lock_timeout_ms=SWAP_LOCK_TIMEOUT_MS,
        )
        log(f"swapped {', '.join(t.name for t in pending)} in {time.monotonic() - started:.3f}s")
    return True


def frequency_partitions_drop_unpartitioned() -> list[str]:
    """Drop the pre-partitioning tables the conversion kept (after the operator checked the new ones)."""
    dropped = []
    with transaction.atomic(), connection.cursor() as cursor:
        for table in TABLES:
            if relkind(cursor, table.unpartitioned):
                cursor.execute(f"DROP TABLE {table.unpartitioned}")
                dropped.append(table.unpartitioned)
        cursor.execute(f"DROP TABLE IF EXISTS {PROGRESS_TABLE}")
    return dropped


def frequency_counters_unpartition() -> None:
    """Reverse of the conversion (development rollback): plain tables holding every row, in one
    transaction with ACCESS EXCLUSIVE locks — not meant for a busy system."""
    with transaction.atomic(), connection.cursor() as cursor:
        for table in TABLES:
            if relkind(cursor, table.name) != "p":
                continue
            cols = ", ".join(table.columns)
            plain = f"{table.name}_plain"
            cursor.execute(f"LOCK TABLE {table.name} IN ACCESS EXCLUSIVE MODE")
            cursor.execute(f"CREATE TABLE {plain} (LIKE {table.name} {LIKE_OPTIONS})")
            cursor.execute(f"INSERT INTO {plain} ({cols}) SELECT {cols} FROM {table.name}")
            fks = constraint_defs(cursor, table.name, "f")
            key = ", ".join(table.key)
            cursor.execute(f"DROP TABLE {table.name}")  # with its partitions
            cursor.execute(f"DROP TABLE IF EXISTS {table.unpartitioned}")
            cursor.execute(f"ALTER TABLE {plain} RENAME TO {table.name}")
            cursor.execute(f"ALTER TABLE {table.name} ADD CONSTRAINT {table.name}_pkey PRIMARY KEY ({key})")
            for name, _kind, definition in fks:
                cursor.execute(f"ALTER TABLE {table.name} ADD CONSTRAINT {name} {definition}")
            for name in _leftover_day_tables(cursor, table):
                cursor.execute(f"DROP TABLE {name}")
        cursor.execute(f"DROP TABLE IF EXISTS {PROGRESS_TABLE}")
