"""Catalogue reads and lock handling shared by the partitioned tables' maintenance: the frequency
counters' day partitions (``campaigns.services.frequency_partitions``) and the message history's
month partitions (``campaigns.services.message_partitions``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import OperationalError, connection, transaction

logger = logging.getLogger(__name__)

# How long a maintenance statement may wait for its lock before it gives up and retries
# (a send waiting behind it waits at most this long), and how often it retries.
LOCK_TIMEOUT_MS = 500
LOCK_RETRIES = 30


def relkind(cursor, name: str) -> str | None:
    """'r' (plain table), 'p' (partitioned), … or None when no such relation exists."""
    cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [name])
    row = cursor.fetchone()
    return row[0] if row else None


def attached_partitions(cursor, parent: str) -> set[str]:
    cursor.execute(
        """
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = to_regclass(%s)
        """,
        [parent],
    )
    return {row[0] for row in cursor.fetchall()}


def constraint_defs(cursor, relname: str, kinds: str) -> list[tuple[str, str, str]]:
    """(name, kind, definition) of the table's constraints of the given kinds ('p', 'u', 'f', …)."""
    cursor.execute(
        """
        SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE conrelid = to_regclass(%s) AND contype = ANY(%s) ORDER BY conname
        """,
        [relname, list(kinds)],
    )
    return list(cursor.fetchall())


def is_lock_timeout(exc: BaseException) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) == "55P03"  # lock_not_available


def with_lock_retries(work: Callable, *, what: str, lock_timeout_ms: int = LOCK_TIMEOUT_MS):
    """Run ``work(cursor)`` in one transaction whose statements wait at most ``lock_timeout_ms``
    for a lock; on a lock timeout roll it back, wait a little and run it again."""
    for attempt in range(1, LOCK_RETRIES + 1):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT current_setting('lock_timeout')")
                previous = cursor.fetchone()[0]
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{lock_timeout_ms}ms"])
                result = work(cursor)
                # Inside a caller's transaction (tests) the setting would outlive this block.
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])
                return result
        except OperationalError as exc:
            if not is_lock_timeout(exc) or attempt == LOCK_RETRIES:
                raise
            logger.info(
                "%s: lock not granted in %d ms (attempt %d), retrying", what, lock_timeout_ms, attempt
            )
            time.sleep(min(0.05 * 2**attempt, 2.0))
    raise AssertionError("unreachable")


def advisory_lock(cursor, key: str) -> None:
    """A transaction-level advisory lock: two maintenance runs (a nightly task, a command, a
    planner, a migration) creating or dropping partitions of one table serialise on it, and
    re-reading the catalogue inside it makes a repeated run a no-op."""
    cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [key])


def partition_attach(
    cursor, *, parent: str, name: str, default: str, column: str, low, high, lock: str
) -> bool:
    """Create ``name`` as a standalone table like ``parent`` and attach it for [low, high) of
    ``column``; False when another runner attached it first. Run under ``with_lock_retries``.

    ``CREATE TABLE ... PARTITION OF`` would take ACCESS EXCLUSIVE on the parent; a standalone
    table and ``ATTACH PARTITION`` take SHARE UPDATE EXCLUSIVE, which reads and writes do not
    wait for. Rows of that range in the default partition (written before the partition
    existed) would make ATTACH fail: they move in the same transaction, under the default's lock.
    """
    advisory_lock(cursor, lock)
    if name in attached_partitions(cursor, parent):
        return False
    cursor.execute(f"LOCK TABLE {parent} IN SHARE UPDATE EXCLUSIVE MODE")
    # A table of this name that is not attached was detached by a drop that stopped before its
    # DROP: rows meant to be removed, never to be revived.
    cursor.execute(f"DROP TABLE IF EXISTS {name}")
    cursor.execute(f"CREATE TABLE {name} (LIKE {parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    if relkind(cursor, default) is not None and default in attached_partitions(cursor, parent):
        cursor.execute(f"LOCK TABLE {default} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(
            f"""WITH moved AS (DELETE FROM {default} WHERE {column} >= %s AND {column} < %s RETURNING *)
                INSERT INTO {name} SELECT * FROM moved""",
            [low, high],
        )
        if cursor.rowcount:
            logger.info("%s: moved %d rows of [%s, %s) out of the default partition", parent, cursor.rowcount,
                        low, high)  # fmt: skip
    cursor.execute(f"ALTER TABLE {parent} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)", [low, high])
    return True


def partition_detach(cursor, *, parent: str, name: str, lock: str) -> bool:
    """A plain DETACH (ACCESS EXCLUSIVE on the parent for a catalog change, no scan): CONCURRENTLY
    is refused on a table with a default partition and cannot run in a lock-timeout transaction."""
    advisory_lock(cursor, lock)
    if name not in attached_partitions(cursor, parent):
        return False
    cursor.execute(f"ALTER TABLE {parent} DETACH PARTITION {name}")
    return True


def table_drop_counted(cursor, *, name: str, lock: str) -> int:
    """Drop a detached partition (no lock on its former parent); returns the rows it held."""
    advisory_lock(cursor, lock)
    if relkind(cursor, name) is None:
        return 0  # another runner dropped it
    cursor.execute(f"SELECT count(*) FROM {name}")
    rows = cursor.fetchone()[0]
    cursor.execute(f"DROP TABLE {name}")
    return rows


def mirror_triggers_sql(table: str) -> list[str]:
    """The statements (re)creating the three statement-level mirror triggers of a live
    conversion on ``table``: its functions ``<table>_mirror_upsert()`` and ``_delete()`` (the
    caller's) get each statement's new or old rows as ``changed``."""
    fn = f"{table}_mirror"
    return [
        f"DROP TRIGGER IF EXISTS {fn}_ins ON {table}",
        f"DROP TRIGGER IF EXISTS {fn}_upd ON {table}",
        f"DROP TRIGGER IF EXISTS {fn}_del ON {table}",
        f"""CREATE TRIGGER {fn}_ins AFTER INSERT ON {table} REFERENCING NEW TABLE AS changed
            FOR EACH STATEMENT EXECUTE FUNCTION {fn}_upsert()""",
        f"""CREATE TRIGGER {fn}_upd AFTER UPDATE ON {table} REFERENCING NEW TABLE AS changed
            FOR EACH STATEMENT EXECUTE FUNCTION {fn}_upsert()""",
        f"""CREATE TRIGGER {fn}_del AFTER DELETE ON {table} REFERENCING OLD TABLE AS changed
            FOR EACH STATEMENT EXECUTE FUNCTION {fn}_delete()""",
    ]


def mirror_triggers_drop(cursor, table: str) -> None:
    fn = f"{table}_mirror"
    for suffix in ("ins", "upd", "del"):
        cursor.execute(f"DROP TRIGGER IF EXISTS {fn}_{suffix} ON {table}")
    cursor.execute(f"DROP FUNCTION IF EXISTS {fn}_upsert(), {fn}_delete()")


def has_mirror(cursor, table: str) -> bool:
    cursor.execute(
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass(%s) AND tgname LIKE %s",
        [table, f"{table}_mirror_%"],
    )
    return cursor.fetchone()[0] == 3


@dataclass(frozen=True)
class PartitionedTable:
    """A partitioned table's names: its default partition, and the two names of a live
    conversion (the partitioned table while it is filled, the old one kept after the swap)."""

    name: str

    @property
    def default(self) -> str:
        return f"{self.name}_default"

    @property
    def building(self) -> str:
        """The partitioned table while a conversion fills it (renamed to ``name`` at the swap)."""
        return f"{self.name}_part"

    @property
    def unpartitioned(self) -> str:
        """The pre-partitioning table after the swap, kept until the operator drops it."""
        return f"{self.name}_unpartitioned"


def partitions_create_missing(*, parent: str, partitions: Iterable[tuple[str, Callable]]) -> list[str]:
    """Create each (name, attach) partition ``parent`` lacks: ``attach(cursor)`` (a
    ``partition_attach`` call) in its own transaction under ``with_lock_retries``; returns the
    names created (one another runner created meanwhile is not)."""
    created = []
    for name, attach in partitions:
        with connection.cursor() as cursor:
            if name in attached_partitions(cursor, parent):
                continue
        if with_lock_retries(attach, what=f"create partition {name}"):
            created.append(name)
    return created
