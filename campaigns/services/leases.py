"""Task leases: at most one worker at a time works on one run (or one import check).

A lease is a PostgreSQL session advisory lock taken with ``pg_try_advisory_lock``: it is
held by the worker's database session, so it ends with that session, however the worker
ends (a return, an exception, ``kill -9``: PostgreSQL drops the session and its locks).
Nothing has to expire it, and no row has to be cleaned after a crash — which is what makes
recovery on a cluster's start immediate (``campaigns.services.recovery``): a run whose
lease nobody holds has no live worker.

Why leases at all, when every task is safe to run twice: recovery enqueues a run's task
again every minute unless a worker holds it, and django-q2 redelivers a task whose worker
died after ``retry`` seconds. Without a lease each such copy would start one more chain of
self-re-enqueueing run tasks; with it, a copy that finds the lease taken returns ``busy``
at once and ends there.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connection

logger = logging.getLogger(__name__)

# The first key of the two-key advisory locks (pg_locks.classid), one per kind of lease.
RUN_LEASE = 0x534D5301  # "SMS" 1: a campaign run's task (run_execute)
IMPORT_CHECK_LEASE = 0x534D5302  # "SMS" 2: a customer import's check


def _object_key(object_id: int) -> int:
    # The second key is an int4; ids beyond 2**31 share a lease with another id, which only
    # makes one of the two wait for the next recovery, never run twice at once.
    return object_id & 0x7FFFFFFF


@contextmanager
def task_lease(*, kind: int, object_id: int) -> Iterator[bool]:
    """Try to take the lease ``(kind, object_id)`` for the ``with`` block; yields True when this
    session holds it (False: another worker does, do nothing). Released at the end of the block.

    Session locks are re-entrant: a task run inline (django-q2's sync mode) under another that
    holds the same lease gets it too."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [kind, _object_key(object_id)])
        held = cursor.fetchone()[0]
    try:
        yield held
    finally:
        if held:
            _release(kind=kind, object_id=object_id)


def _release(*, kind: int, object_id: int) -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [kind, _object_key(object_id)])
    except DatabaseError:
        # The session is gone (terminated, network): its locks went with it.
        logger.warning("lease %#x/%s: the database session ended before the release", kind, object_id)


def lease_is_free(*, kind: int, object_id: int) -> bool:
    """True when no session holds the lease (at this instant): no worker is on the object."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [kind, _object_key(object_id)])
        free = cursor.fetchone()[0]
        if free:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [kind, _object_key(object_id)])
    return free
