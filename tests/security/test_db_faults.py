"""The database connection of a run worker is cut from another connection
(``pg_terminate_backend``) while it plans and again while it dispatches. The batch in flight
rolls back whole, the next worker resumes, and the campaign completes with every recipient
sent once, no double charge, and a clean ledger."""

from __future__ import annotations

import time
from datetime import timedelta

import time_machine
from django.db import connection
from django.test import TransactionTestCase

from campaigns.models import CampaignRun, Message
from campaigns.services.delivery import delivery_expire_stale, delivery_settle
from tests.campaigns.campaign_fixtures import MORNING
from tests.campaigns.test_pipeline_crash import (
    assert_completed_exactly_once,
    big_campaign,
    database_url,
    worker,
)

APP = "sms-sec-fault-worker"


def worker_with_name(run_id: int, **kwargs):
    return worker(run_id, DATABASE_URL=database_url(application_name=APP), **kwargs)


def terminate_worker_when(condition, process, *, seconds: float = 60) -> str:
    """Cut the worker's connection the first time ``condition()`` holds; returns the run status then."""
    deadline = time.monotonic() + seconds
    with connection.cursor() as cursor:
        while time.monotonic() < deadline and process.poll() is None:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND pid <> pg_backend_pid()",
                [APP],
            )
            pids = [row[0] for row in cursor.fetchall()]
            status = condition()
            if pids and status:
                cursor.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [pids])
                return status
            time.sleep(0.002)
    raise WorkerGone("the worker finished before its connection could be cut")


class WorkerGone(AssertionError):
    pass


class DatabaseFaultTests(TransactionTestCase):
    serialized_rollback = True


    def test_it_loses_and_duplicates_nothing_when_the_connection_drops_mid_planning_and_mid_dispatch(self):
        run = big_campaign()

        def planning() -> str:
            status = CampaignRun.objects.filter(pk=run.pk).values_list("status", flat=True).get()
            return status if status == CampaignRun.Status.PLANNING else ""

        # A worker either dies of its lost connection or, when django-q2's task wrapper has
        # dropped the broken connection, reconnects and carries on; both must end well.
        first = worker_with_name(run.pk, rate=400)
        assert terminate_worker_when(planning, first) == CampaignRun.Status.PLANNING

        def dispatching() -> str:
            handed = Message.objects.filter(run=run).exclude(status__in=["planned", "suppressed"]).count()
            return "dispatching" if handed >= 300 else ""

        workers = [first]
        try:
            cut = terminate_worker_when(dispatching, first)
        except WorkerGone:  # the first one died of the cut: the next worker takes over
            workers.append(worker_with_name(run.pk, rate=400))
            cut = terminate_worker_when(dispatching, workers[-1])
        assert cut == "dispatching"
        for process in workers:
            process.wait(timeout=120)
        run.refresh_from_db()
        assert run.status != CampaignRun.Status.PLANNING  # the cut batch was planned again, whole

        third = worker(run.pk)
        assert third.wait(timeout=180) == 0, third.stderr.read()
        # A message claimed in the instant of the cut stays "sending" (never handed over twice)
        # until the 72-hour sweep releases it.
        with time_machine.travel(MORNING + timedelta(hours=80), tick=False):
            delivery_expire_stale()
            delivery_settle()
        assert_completed_exactly_once(run)
