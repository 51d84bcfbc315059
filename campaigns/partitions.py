"""Catalogue reads and lock handling shared by the partitioned tables' maintenance: the frequency
counters' day partitions (``campaigns.services.frequency_partitions``) and the message history's
month partitions (``campaigns.services.message_partitions``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

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
