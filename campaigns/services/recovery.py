"""Recovery after a crash: put every unfinished run (and import check) back in the hands of a worker.

A worker killed mid-run (``kill -9``, OOM, a lost host) leaves its run ``planning`` or
``dispatching``. Its progress is all in the database (claimed planning batches, message
rows), so the run only needs a task again: ``runs_recover`` enqueues the run task of
every unfinished run that

- no worker holds (its lease is free, ``campaigns.services.leases``: a dead worker's lease
  ended with its database session), and
- no task is already waiting for in the queue (an enqueued, not yet taken, ``run_campaign``),
- and that is not deferred (quiet hours, retry back-off: its ``run-<id>-resume`` schedule
  brings it back at the right time).

It runs when a django-q2 worker process starts (``post_spawn``: a cluster starting, or a
worker reincarnated after it died) and every minute (schedule
``campaigns-resume-unfinished-runs``). The resumed run task takes over what the dead one
left: its claimed, unplanned planning batches (``SKIP LOCKED``, the killed transaction
rolled back) and the rest of its planned messages. Messages it left ``sending`` are never
handed over again (at most once, docs/CAMPAIGNS.md): their delivery reports or the 72-hour
sweep settle them.

A customer import's check is one task too, so ``import_checks_recover`` does the same for
imports left ``checking`` (an import's merge re-enqueues itself and is redelivered by
django-q2 within ``retry``, like any budgeted task).

Running it twice, or on two clusters at once, is harmless: a second copy of a run's task
finds the lease taken and returns ``busy``.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone
from django_q.models import OrmQ, Schedule
from django_q.tasks import async_task

from campaigns.models.imports import CustomerImport
from campaigns.models.sending import CampaignRun
from campaigns.services.campaigns import RUN_TASK
from campaigns.services.importing import CHECK_TASK, CHECK_TASK_TIMEOUT
from campaigns.services.leases import IMPORT_CHECK_LEASE, RUN_LEASE, lease_is_free

logger = logging.getLogger(__name__)

RESUME_SCHEDULE = "campaigns-resume-unfinished-runs"


def runs_recover(*, now: datetime | None = None) -> int:
    """Enqueue the run task of every unfinished run no worker holds or waits for; returns how many."""
    now = now or timezone.now()
    unfinished = list(
        CampaignRun.objects.filter(
            status__in=[CampaignRun.Status.PLANNING, CampaignRun.Status.DISPATCHING]
        ).values_list("pk", flat=True)
    )
    if not unfinished:
        return 0
    deferred = _deferred_runs(run_ids=unfinished, now=now)
    waiting = _waiting_in_queue(func=RUN_TASK, now=now)
    resumed = 0
    for run_id in unfinished:
        if run_id in deferred or run_id in waiting:
            continue
        if not lease_is_free(kind=RUN_LEASE, object_id=run_id):
            continue  # a live worker is on it
        async_task(RUN_TASK, run_id)
        resumed += 1
    if resumed:
        logger.info("recovery: %d unfinished run(s) enqueued again", resumed)
    return resumed


def _deferred_runs(*, run_ids: list[int], now: datetime) -> set[int]:
    """Runs with a resume schedule still to come (``sending._defer``: quiet hours, back-off)."""
    names = {f"run-{run_id}-resume": run_id for run_id in run_ids}
    pending = Schedule.objects.filter(name__in=list(names), next_run__gt=now).exclude(repeats=0)
    return {names[name] for name in pending.values_list("name", flat=True)}


def _waiting_in_queue(*, func: str, now: datetime) -> set[int]:
    """Ids (first argument) of ``func`` tasks waiting in the queue, not taken by a cluster yet
    (ORM broker: lock <= now).

    A task a cluster took (lock in the future) is not counted: its worker either holds the
    lease, or died with it (then the task comes back after ``retry``, and the copy enqueued
    now meanwhile does the work; the late one finds the lease taken, or nothing to do)."""
    waiting: set[int] = set()
    for package in OrmQ.objects.filter(lock__lte=now).only("payload"):
        task = package.task
        if task.get("func") == func and task.get("args"):
            waiting.add(task["args"][0])
    return waiting


def import_checks_recover(*, now: datetime | None = None) -> int:
    """Enqueue the check of every customer import still ``checking`` that no worker holds or
    waits for (a check is one task, not budgeted: a worker that died mid-check leaves the job
    ``checking``); the check starts over from the first row. Returns how many."""
    now = now or timezone.now()
    checking = list(
        CustomerImport.objects.filter(status=CustomerImport.Status.CHECKING).values_list("pk", flat=True)
    )
    if not checking:
        return 0
    waiting = _waiting_in_queue(func=CHECK_TASK, now=now)
    resumed = 0
    for job_id in checking:
        if job_id in waiting or not lease_is_free(kind=IMPORT_CHECK_LEASE, object_id=job_id):
            continue
        async_task(CHECK_TASK, job_id, timeout=CHECK_TASK_TIMEOUT)
        resumed += 1
    if resumed:
        logger.info("recovery: %d customer import check(s) enqueued again", resumed)
    return resumed


def pipeline_recover() -> int:
    """Everything a dead worker may have left: unfinished runs, unfinished import checks."""
    return runs_recover() + import_checks_recover()


def recover_on_worker_start(sender: object = None, **kwargs: object) -> None:
    """``django_q.signals.post_spawn`` receiver: a worker process starts (a cluster starting, or
    a worker reincarnated after it died), so runs a dead worker held are resumed now, not at the
    next minute. Never raises: an error here would kill the worker before its first task (and
    the guard would start it again, in a loop); the minute schedule retries."""
    if settings.Q_CLUSTER.get("sync"):
        # Tasks run inline (the tests): django-q2 calls its worker function for every task,
        # and a recovery there would run inside whatever enqueued it (and recurse).
        return
    try:
        pipeline_recover()
    except DatabaseError:
        logger.exception("recovery on worker start failed; the minute schedule will retry")
