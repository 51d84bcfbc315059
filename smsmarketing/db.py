"""Small database helpers shared by the apps."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def commit_without_flush() -> Iterator[None]:
    """A transaction whose commit does not wait for the WAL flush (``SET LOCAL
    synchronous_commit = off``: this transaction only, the connection is durable again after).

    Cost it answers: a durable commit waits for the WAL to reach the disk (several ms here),
    and a row lock taken in the transaction is held until that wait ends, so writers of one
    hot row (a rate-limit counter, a batch of messages) queue one flush each. For writes whose
    loss in a database crash is harmless; each caller says why. A later durable commit flushes
    them anyway (the WAL is written in order), so a lost write is always one of the last.

    Inside a caller's transaction this is a plain savepoint and stays durable: the setting
    would cover the caller's writes too, which never agreed to be lost.
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
        yield
