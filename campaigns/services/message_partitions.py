"""The message history partitioned by month: partition maintenance, the drop of an archived month,
and the live conversion of the unpartitioned tables (migration 0030). docs/RETENTION.md.

Layout. ``campaigns_message``, ``campaigns_deliveryreport`` and ``campaigns_click`` are PostgreSQL
declarative ``RANGE (month)`` partitioned tables. ``month`` is the first day of the local month
the message's run was created in (``CampaignRun.month``): every message of a run, its delivery
reports and its clicks are in the same month, so a month's partitions of the three tables go
together. Each month has one partition per table, ``<table>_pYYYYMM``; each table has a DEFAULT
partition ``<table>_default`` for a run of a month with no partition yet (tests move the clock
anywhere; the planner creates its run's month first, so production rows never land there).

Keys. A partitioned table's unique keys contain the partition key: the primary keys are
(id, month) (ids still come from one sequence per table, so an id is unique by itself), the
message's (run, phone) is (run, phone, month) (a run has one month: still unique per run) and
its link code (link_code, month) (a code starts with its month's character: codes of different
live months differ). The delivery report's and click's message keys carry no foreign key.

Locks (PostgreSQL 15), as the frequency counters' day partitions (``frequency_partitions``):
creating a month is ``CREATE TABLE ... (LIKE ...)`` + ``ATTACH PARTITION`` (SHARE UPDATE
EXCLUSIVE on the parent: sends go on); dropping one is a plain ``DETACH PARTITION`` (a catalog
change under ACCESS EXCLUSIVE, milliseconds, under a 200 ms ``lock_timeout`` retried with
back-off, so a send queued behind it waits at most that long) and a ``DROP TABLE`` of the
detached table (no lock on the parent). ``DETACH ... CONCURRENTLY`` would take no such lock, but
PostgreSQL refuses it on a table with a default partition.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date

from django.db import OperationalError, connection, transaction

from campaigns.models.links import Click
from campaigns.models.sending import CampaignRun, DeliveryReport, Message, current_month
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

# Months created ahead of the current one by the nightly task (and the migration).
MONTHS_AHEAD = 2
# A send waits behind a DETACH for at most this long, then the DETACH gives up and retries.
DETACH_LOCK_TIMEOUT_MS = 200
# The conversion's swap locks the three tables at once.
SWAP_LOCK_TIMEOUT_MS = 2000
COPY_BATCH_ROWS = 10_000
PROGRESS_TABLE = "campaigns_month_partition_progress"
LIKE_OPTIONS = "INCLUDING DEFAULTS INCLUDING CONSTRAINTS"

_RUN = CampaignRun._meta.db_table
_MESSAGE = Message._meta.db_table
_LOCAL_MONTH = "date_trunc('month', {at} AT TIME ZONE 'Asia/Shanghai')::date"


@dataclass(frozen=True)
class MonthlyTable(PartitionedTable):
    # The month of an old (unpartitioned) row ``c``, which may not have one yet: its run's.
    month_sql: str
    # Old unique constraints renamed in the partitioned table (Django's names of the new keys).
    renamed_keys: tuple[tuple[str, str], ...] = ()
    # Foreign keys not carried over (the partitioned parent has no single-column key to refer to).
    dropped_fks: tuple[str, ...] = ()

    def partition(self, month: date) -> str:
        return f"{self.name}_p{month:%Y%m}"

    @property
    def sequence(self) -> str:
        return f"{self.name}_month_id_seq"


_MESSAGE_MONTH = "(SELECT r.month FROM {run} r WHERE r.id = c.run_id)"
_VIA_MESSAGE = (
    "(SELECT coalesce(m.month, r.month) FROM {message} m JOIN {run} r ON r.id = m.run_id "
    "WHERE m.id = c.message_id)"
)

# Fixed order, the writers' order: a report or a click is written after its message.
MESSAGE = MonthlyTable(
    _MESSAGE,
    f"coalesce(c.month, {_MESSAGE_MONTH.format(run=_RUN)}, {_LOCAL_MONTH.format(at='c.created_at')})",
    renamed_keys=((f"{_MESSAGE}_link_code_key", "message_link_code_unique"),),
)
REPORT = MonthlyTable(
    DeliveryReport._meta.db_table,
    f"coalesce(c.month, {_VIA_MESSAGE.format(message=_MESSAGE, run=_RUN)}, "
    f"{_LOCAL_MONTH.format(at='c.received_at')})",
    dropped_fks=("message_id",),
)
CLICK = MonthlyTable(
    Click._meta.db_table,
    f"coalesce(c.month, {_VIA_MESSAGE.format(message=_MESSAGE, run=_RUN)}, {_LOCAL_MONTH.format(at='c.at')})",
)
TABLES = (MESSAGE, REPORT, CLICK)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def months_between(first: date, last: date) -> list[date]:
    months, month = [], first.replace(day=1)
    while month <= last:
        months.append(month)
        month = next_month(month)
    return months


def _month_of(table: MonthlyTable, relname: str) -> date | None:
    match = re.fullmatch(re.escape(table.name) + r"_p(\d{4})(\d{2})", relname)
    return date(int(match.group(1)), int(match.group(2)), 1) if match else None


def message_partitions_list() -> list[tuple[str, str, str, int]]:
    """(parent, partition, bound, estimated rows) of the three tables, for the operator's command."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT p.relname, c.relname, pg_get_expr(c.relpartbound, c.oid), greatest(c.reltuples, 0)::bigint
            FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
            WHERE p.relname = ANY(%s) ORDER BY p.relname, c.relname
            """,
            [[t.name for t in TABLES]],
        )
        return list(cursor.fetchall())


def message_months() -> list[date]:
    """The months the message table holds a partition for, oldest first."""
    with connection.cursor() as cursor:
        if relkind(cursor, MESSAGE.name) != "p":
            return []
        names = attached_partitions(cursor, MESSAGE.name)
    return sorted(m for name in names if (m := _month_of(MESSAGE, name)))


def _lock(table: MonthlyTable) -> str:
    # Race: two maintenance runs (nightly task, command, planner, migration) creating or dropping
    # the same month at once: one advisory lock per table (campaigns.partitions.advisory_lock).
    return f"month-partitions:{table.name}"


# --- ensure -----------------------------------------------------------------------------


def _ensure_month(cursor, table: MonthlyTable, *, parent: str, month: date) -> bool:
    return partition_attach(
        cursor, parent=parent, name=table.partition(month), default=table.default, column="month",
        low=month, high=next_month(month), lock=_lock(table),
    )  # fmt: skip


def _ensure_table(table: MonthlyTable, *, parent: str, months: Iterable[date]) -> list[str]:
    return partitions_create_missing(
        parent=parent,
        partitions=[
            (table.partition(m), lambda cursor, m=m: _ensure_month(cursor, table, parent=parent, month=m))
            for m in months
        ],
    )


def message_partitions_ensure(
    *, months: Iterable[date] | None = None, months_ahead: int = MONTHS_AHEAD
) -> list[str]:
    """Create the month partitions of the three tables (``months``, or the current month and
    ``months_ahead`` more) that do not exist yet; returns the names created. Idempotent and
    safe to run concurrently (advisory lock + re-check)."""
    if months is None:
        months = [current_month()]
        for _ in range(months_ahead):
            months.append(next_month(months[-1]))
    months = list(months)
    created: list[str] = []
    for table in TABLES:
        with connection.cursor() as cursor:
            if relkind(cursor, table.name) != "p":
                continue  # not converted yet (migration 0030 does it)
        created += _ensure_table(table, parent=table.name, months=months)
    if created:
        logger.info("message partitions created: %s", ", ".join(created))
    return created


# The months this process has seen a partition for: the planner asks once per month.
_known_months: set[date] = set()


def message_month_ensure(month: date) -> None:
    """Before planning a run: its month has its partitions (created when missing). A catalogue
    read the first time a process plans for a month, nothing afterwards."""
    if month in _known_months:
        return
    with connection.cursor() as cursor:
        partitioned = relkind(cursor, MESSAGE.name) == "p"
        present = partitioned and all(
            table.partition(month) in attached_partitions(cursor, table.name) for table in TABLES
        )
    if partitioned and not present:
        message_partitions_ensure(months=[month])
    _known_months.add(month)


def message_months_forget() -> None:
    """Forget the months seen (after a drop, in tests): the next plan of a month asks again."""
    _known_months.clear()


# --- drop -------------------------------------------------------------------------------


def _detach(cursor, table: MonthlyTable, name: str) -> bool:
    return partition_detach(cursor, parent=table.name, name=name, lock=_lock(table))


def _drop(cursor, table: MonthlyTable, name: str) -> int:
    return table_drop_counted(cursor, name=name, lock=_lock(table))


def message_partitions_drop(*, month: date) -> dict[str, int]:
    """Detach and drop the month's partitions of the three tables (clicks, reports, then
    messages); returns the rows each held. Counters, ledger and orders are other tables: they
    stay. Idempotent: a month already dropped (or half dropped) is finished."""
    removed: dict[str, int] = {}
    for table in reversed(TABLES):
        name = table.partition(month)
        with connection.cursor() as cursor:
            if relkind(cursor, table.name) != "p":
                continue
        with_lock_retries(
            lambda cursor, table=table, name=name: _detach(cursor, table, name),
            what=f"detach {name}",
            lock_timeout_ms=DETACH_LOCK_TIMEOUT_MS,
        )
        # Detached: no one reads or writes it any more, and no lock on the parent.
        removed[table.name] = with_lock_retries(
            lambda cursor, table=table, name=name: _drop(cursor, table, name),
            what=f"drop {name}",
            lock_timeout_ms=DETACH_LOCK_TIMEOUT_MS,
        )
        logger.info("message history: dropped partition %s (%d rows)", name, removed[table.name])
    message_months_forget()
    return removed


# --- conversion of the unpartitioned tables (migration 0030) -----------------------------


def _columns(cursor, relname: str) -> list[str]:
    cursor.execute(
        """SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0
           AND NOT attisdropped ORDER BY attnum""",
        [relname],
    )
    return [row[0] for row in cursor.fetchall()]


def _indexes(cursor, relname: str) -> list[tuple[str, str]]:
    """(name, definition) of the table's indexes that back no constraint."""
    cursor.execute(
        """
        SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        WHERE x.indrelid = to_regclass(%s)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
        ORDER BY i.relname
        """,
        [relname],
    )
    return list(cursor.fetchall())


def _temporary(name: str) -> str:
    return f"{name[:55]}_part"


def _create_building_table(cursor, table: MonthlyTable) -> None:
    """The partitioned table beside the old one: same columns, defaults and checks; its keys
    with ``month``; the old indexes under temporary names (index names are schema-wide)."""
    new = table.building
    cursor.execute(f"CREATE TABLE {new} (LIKE {table.name} {LIKE_OPTIONS}) PARTITION BY RANGE (month)")
    cursor.execute(f"ALTER TABLE {new} ALTER COLUMN month SET NOT NULL")
    if table is not MESSAGE:
        # A report or a click written by the previous release (still running while the deploy
        # switches) has no month: this month's, rather than a lost report. Messages get none: an
        # old planner's batch fails and rolls back (nothing reserved) and the new code plans it.
        cursor.execute(
            f"ALTER TABLE {new} ALTER COLUMN month SET DEFAULT "
            "(date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai'))::date"
        )
    # Ids keep coming from one sequence (set past the old table's at the swap).
    cursor.execute(f"CREATE SEQUENCE IF NOT EXISTS {table.sequence} OWNED BY {new}.id")
    cursor.execute(f"ALTER TABLE {new} ALTER COLUMN id SET DEFAULT nextval('{table.sequence}')")
    renamed = dict(table.renamed_keys)
    for name, kind, definition in constraint_defs(cursor, table.name, "puf"):
        if kind == "p":
            cursor.execute(
                f"ALTER TABLE {new} ADD CONSTRAINT {_temporary(table.name + '_pkey')} PRIMARY KEY (id, month)"
            )
        elif kind == "u":
            columns = re.fullmatch(r"UNIQUE \((.*)\)", definition).group(1)
            target = renamed.get(name, name)
            cursor.execute(f"ALTER TABLE {new} ADD CONSTRAINT {_temporary(target)} UNIQUE ({columns}, month)")
        elif not any(f"({column})" in definition.split("REFERENCES")[0] for column in table.dropped_fks):
            cursor.execute(f"ALTER TABLE {new} ADD CONSTRAINT {name} {definition}")
    for name, definition in _indexes(cursor, table.name):
        if name.endswith("_like"):
            continue  # a unique CharField's pattern index (the unique key is gone)
        definition = re.sub(r" ON (\w+\.)?" + re.escape(table.name) + " ", f" ON {new} ", definition, count=1)
        definition = definition.replace(f"INDEX {name} ", f"INDEX {_temporary(name)} ", 1)
        cursor.execute(definition)
    cursor.execute(f"CREATE TABLE {table.default} PARTITION OF {new} DEFAULT")


def _mirror_sql(cursor, table: MonthlyTable) -> list[str]:
    """Statement-level triggers copying every change of the old table into the partitioned one
    while it is filled: the whole new row (with its month), upserted in id order (the copy's
    order, so a statement and a copy batch never wait for each other in a cycle)."""
    columns = [c for c in _columns(cursor, table.name) if c != "month"]
    cols = ", ".join(columns)
    values = ", ".join(f"c.{c}" for c in columns)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != "id")
    fn = f"{table.name}_mirror"
    return [
        f"""
        CREATE OR REPLACE FUNCTION {fn}_upsert() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO {table.building} ({cols}, month)
            SELECT {values}, {table.month_sql} FROM changed c ORDER BY c.id
            ON CONFLICT (id, month) DO UPDATE SET {updates};
            RETURN NULL;
        END $$""",
        f"""
        CREATE OR REPLACE FUNCTION {fn}_delete() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM {table.building} n USING changed o WHERE n.id = o.id;
            RETURN NULL;
        END $$""",
        *mirror_triggers_sql(table.name),
    ]


def _copy_batch(table: MonthlyTable, *, batch_rows: int) -> int:
    """Copy the next batch of old rows (id order, after the recorded last id) with their month;
    the progress row moves in the same transaction, so a stop loses nothing."""
    for attempt in range(1, 6):
        try:
            return _copy_batch_once(table, batch_rows=batch_rows)
        except OperationalError as exc:
            # A deadlock with a writer's mirror statement (one that wrote two batches' rows in two
            # statements of one transaction) aborts the batch, not the writer: go again.
            if getattr(exc.__cause__, "sqlstate", None) != "40P01" or attempt == 5:
                raise
            logger.info("%s: copy batch deadlocked with a writer, retrying", table.name)
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")


def _copy_batch_once(table: MonthlyTable, *, batch_rows: int) -> int:
    with transaction.atomic(), connection.cursor() as cursor:
        columns = [c for c in _columns(cursor, table.name) if c != "month"]
        cols = ", ".join(columns)
        values = ", ".join(f"c.{c}" for c in columns)
        cursor.execute(f"SELECT last_id FROM {PROGRESS_TABLE} WHERE table_name = %s", [table.name])
        row = cursor.fetchone()
        after = row[0] if row else 0
        # Race: a writer updating a row between this SELECT and the INSERT: its mirror trigger
        # upserts the newer row (or holds its key until it commits), so DO NOTHING keeps the
        # newer one. Race: a row deleted after this SELECT read it would be copied back: FOR KEY
        # SHARE makes the delete wait for this batch (then its trigger deletes the copy); status
        # updates take weaker locks and do not wait.
        cursor.execute(
            f"""
            WITH batch AS (
                SELECT {values}, {table.month_sql} AS month FROM {table.name} c
                WHERE c.id > %s ORDER BY c.id LIMIT {int(batch_rows)} FOR KEY SHARE OF c
            ), copied AS (
                INSERT INTO {table.building} ({cols}, month) SELECT {cols}, month FROM batch
                ON CONFLICT DO NOTHING
            )
            SELECT count(*), max(id) FROM batch
            """,
            [after],
        )
        count, last_id = cursor.fetchone()
        if count:
            cursor.execute(
                f"""INSERT INTO {PROGRESS_TABLE} (table_name, last_id) VALUES (%s, %s)
                    ON CONFLICT (table_name) DO UPDATE SET last_id = EXCLUDED.last_id""",
                [table.name, last_id],
            )
        return count


def _triggers(cursor, relname: str) -> list[tuple[str, str]]:
    cursor.execute(
        """SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger
           WHERE tgrelid = to_regclass(%s) AND NOT tgisinternal ORDER BY tgname""",
        [relname],
    )
    return list(cursor.fetchall())


def _swap(cursor, tables: list[MonthlyTable]) -> None:
    # Fixed order (messages, reports, clicks), the writers' order. Under lock_timeout: a long
    # transaction ahead makes us retry, not stall the sends queued behind us.
    cursor.execute(f"LOCK TABLE {', '.join(t.name for t in tables)} IN ACCESS EXCLUSIVE MODE")
    # The old reports' foreign key to the old messages would keep the old messages alive.
    cursor.execute(
        """SELECT conrelid::regclass::text, conname FROM pg_constraint
           WHERE contype = 'f' AND confrelid = ANY(%s::regclass[])""",
        [[t.name for t in tables]],
    )
    for relname, name in cursor.fetchall():
        cursor.execute(f"ALTER TABLE {relname} DROP CONSTRAINT {name}")
    for table in tables:
        # No write can run now, and every earlier one went through the mirror triggers (or
        # was copied): the partitioned table equals the old one.
        mirror_triggers_drop(cursor, table.name)
        # The remaining triggers (the results counters') move to the new table.
        for name, definition in _triggers(cursor, table.name):
            cursor.execute(f"DROP TRIGGER {name} ON {table.name}")
            cursor.execute(
                re.sub(
                    r" ON (\w+\.)?" + re.escape(table.name) + " ",
                    f" ON {table.building} ",
                    definition,
                    count=1,
                )
            )
        cursor.execute(
            f"SELECT setval('{table.sequence}', greatest((SELECT max(id) FROM {table.name}), "
            f"(SELECT last_value FROM {table.sequence}), "
            f"coalesce((SELECT nextval(pg_get_serial_sequence('{table.name}', 'id'))), 1)))"
        )
        keys = constraint_defs(cursor, table.name, "puf")
        indexes = _indexes(cursor, table.name)
        cursor.execute(f"ALTER TABLE {table.name} RENAME TO {table.unpartitioned}")
        # Free the schema-wide names of the old keys and indexes for the new table's.
        for number, (name, kind, _definition) in enumerate(keys):
            if kind == "f":
                # The kept copy must not hold customers back (Django's SET NULL does not know it).
                cursor.execute(f"ALTER TABLE {table.unpartitioned} DROP CONSTRAINT {name}")
            else:
                kept = f"{table.unpartitioned}_k{number}"
                cursor.execute(f"ALTER TABLE {table.unpartitioned} RENAME CONSTRAINT {name} TO {kept}")
        for number, (name, _definition) in enumerate(indexes):
            cursor.execute(f"ALTER INDEX {name} RENAME TO {table.unpartitioned}_i{number}")
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {table.unpartitioned})")
        if not cursor.fetchone()[0]:
            cursor.execute(f"DROP TABLE {table.unpartitioned}")  # a new installation: nothing to keep
        cursor.execute(f"ALTER TABLE {table.building} RENAME TO {table.name}")
        renamed = dict(table.renamed_keys)
        for name, kind, _definition in keys:
            target = f"{table.name}_pkey" if kind == "p" else renamed.get(name, name)
            if kind != "f":
                cursor.execute(f"ALTER TABLE {table.name} RENAME CONSTRAINT {_temporary(target)} TO {target}")
        for name, _definition in indexes:
            if relkind(cursor, _temporary(name)) is not None:
                cursor.execute(f"ALTER INDEX {_temporary(name)} RENAME TO {name}")
        cursor.execute(f"UPDATE {PROGRESS_TABLE} SET done = true WHERE table_name = %s", [table.name])


def message_tables_partition(
    *,
    batch_rows: int = COPY_BATCH_ROWS,
    max_batches: int | None = None,
    log: Callable[[str], None] = logger.info,
) -> bool:
    """Convert the unpartitioned message, delivery report and click tables into month-partitioned
    ones on a live system. Must run outside a transaction (migration 0030 is ``atomic = False``).
    Each step is its own short transaction; running it again resumes an interrupted run:

    1. add the nullable ``month`` column to the old tables (a catalog change);
    2. create ``<table>_part`` (partitioned by month: same columns, defaults and checks, keys
       with ``month``, the old indexes), its default partition and the partitions of every
       month that has a run, up to ``MONTHS_AHEAD`` months ahead;
    3. install statement-level mirror triggers on the old tables (every later write is copied);
    4. copy the old rows in id-ordered batches with their run's month, the last id copied
       recorded in ``campaigns_month_partition_progress`` (a restart goes on from it);
    5. swap: one transaction LOCKs the three old tables (under lock_timeout, retried), moves
       their other triggers (the results counters') to the new tables, sets the new id sequences
       past the old ones, and renames old -> ``<table>_unpartitioned`` (dropped at once when
       empty; kept otherwise until ``manage.py message_partitions --drop-unpartitioned``) and
       ``<table>_part`` -> ``<table>``.

    ``max_batches`` stops each table's copy after that many batches without swapping; returns
    whether the tables are partitioned now.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"""CREATE TABLE IF NOT EXISTS {PROGRESS_TABLE} (
                table_name text PRIMARY KEY, last_id bigint NOT NULL DEFAULT 0,
                done boolean NOT NULL DEFAULT false)"""
        )
        cursor.execute(f"SELECT min(month) FROM {_RUN}")
        first = cursor.fetchone()[0] or current_month()
    last = current_month()
    for _ in range(MONTHS_AHEAD):
        last = next_month(last)
    months = months_between(first, last)
    pending = []
    unfinished = False
    for table in TABLES:
        with connection.cursor() as cursor:
            if relkind(cursor, table.name) == "p":
                log(f"{table.name}: already partitioned")
                continue
        pending.append(table)
        with connection.cursor() as cursor:
            has_month = "month" in _columns(cursor, table.name)
            exists = relkind(cursor, table.building) == "p"
        if not has_month:
            with_lock_retries(
                lambda cursor, table=table: cursor.execute(f"ALTER TABLE {table.name} ADD COLUMN month date"),
                what=f"add month to {table.name}",
            )
        if not exists:
            with transaction.atomic(), connection.cursor() as cursor:
                _create_building_table(cursor, table)
            log(f"{table.name}: created {table.building} with its default partition")
        _ensure_table(table, parent=table.building, months=months)
        with connection.cursor() as cursor:
            mirrored = has_mirror(cursor, table.name)
        if not mirrored:
            with connection.cursor() as cursor:
                statements = _mirror_sql(cursor, table)
            with_lock_retries(
                lambda cursor, statements=statements: [cursor.execute(sql) for sql in statements],
                what=f"mirror triggers on {table.name}",
            )
            log(f"{table.name}: mirror triggers installed")
    for table in pending:
        copied = batches = 0
        started = time.monotonic()
        while True:
            if max_batches is not None and batches >= max_batches:
                unfinished = True
                break
            batch = _copy_batch(table, batch_rows=batch_rows)
            if not batch:
                break
            copied += batch
            batches += 1
        log(f"{table.name}: copied {copied} rows in {time.monotonic() - started:.1f}s")
    if unfinished:
        log("stopped after max_batches; run again to go on")
        return False
    if pending:
        # The new tables' statistics before they serve the pages: autovacuum never analyzes a
        # partitioned parent and reaches new partitions only later (a campaign's message page
        # took 310-740 ms instead of 6-13 ms right after a swap without this; 1.5 s per 1M rows).
        for table in pending:
            started = time.monotonic()
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {table.building}")
            log(f"{table.name}: analyzed {table.building} in {time.monotonic() - started:.1f}s")
        started = time.monotonic()
        with_lock_retries(
            lambda cursor: _swap(cursor, pending),
            what="swap message tables",
            lock_timeout_ms=SWAP_LOCK_TIMEOUT_MS,
        )
        log(f"swapped {', '.join(t.name for t in pending)} in {time.monotonic() - started:.3f}s")
    message_months_forget()
    return True


def message_partitions_drop_unpartitioned() -> list[str]:
    """Drop the pre-partitioning tables the conversion kept (after the operator checked the new ones)."""
    dropped = []
    with transaction.atomic(), connection.cursor() as cursor:
        for table in TABLES:
            if relkind(cursor, table.unpartitioned):
                cursor.execute(f"DROP TABLE {table.unpartitioned}")
                dropped.append(table.unpartitioned)
        cursor.execute(f"DROP TABLE IF EXISTS {PROGRESS_TABLE}")
    return dropped
