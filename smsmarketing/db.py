"""Small database helpers shared by the apps."""

from __future__ import annotations

from django.db import connection


def no_flush_from() -> str:
    """A FROM item (with its leading comma) that makes the statement's own transaction commit
    without waiting for the WAL flush: ``synchronous_commit`` off for that transaction only,
    set while the statement runs. Empty inside a caller's transaction, where the setting would
    cover the caller's writes too. For writes whose loss in a database crash is harmless
    (each caller says why); a later durable commit flushes them anyway (the WAL is in order)."""
    if connection.in_atomic_block:
        return ""
    return ", (SELECT set_config('synchronous_commit', 'off', true)) AS no_flush"
