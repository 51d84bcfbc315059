"""What a statement's transaction commits with: ``synchronous_commit`` read right after it ran,
in its transaction ('off': its commit does not wait for the WAL flush)."""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection


def commit_settings(apply: Callable[[], object], *, marker: str) -> list[str]:
    """Run ``apply``; for each statement whose SQL contains ``marker``, in order, the value of
    ``synchronous_commit`` in that statement's transaction just after it ran."""
    seen: list[str] = []

    def record(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if marker in sql:
            # A second cursor: the statement's own result stays fetched in its cursor.
            with connection.cursor() as cursor:
                cursor.execute("SHOW synchronous_commit")
                seen.append(cursor.fetchone()[0])
        return result

    with connection.execute_wrapper(record):
        apply()
    return seen
