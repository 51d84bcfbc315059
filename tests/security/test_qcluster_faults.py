"""A real django-q2 cluster is killed (SIGKILL of the whole process group: sentinel, pusher,
worker, monitor) while it dispatches a campaign. The ORM broker re-delivers the task to the
next cluster after ``retry`` seconds; the campaign completes with every recipient sent once,
no double charge and a clean ledger."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import time_machine
from django.conf import settings
from django.db.models import Count
from django.test import TransactionTestCase
from django_q.models import OrmQ
from django_q.tasks import async_task

from campaigns.models import CampaignRun, Message
from campaigns.services.delivery import delivery_expire_stale, delivery_settle
from tests.campaigns.campaign_fixtures import MORNING
from tests.campaigns.test_pipeline_crash import (
    AUDIENCE,
    assert_completed_exactly_once,
    big_campaign,
    database_url,
)


def cluster(at, *, rate: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SMS_DISPATCH_RATE": str(rate),
        "SMS_SIMULATED_FAIL_RATIO": "0.2",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.security.qcluster_runner", at.isoformat()],
        env=env,
        cwd=settings.BASE_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, killed whole
    )


def kill_group(process: subprocess.Popen, sig: int) -> None:
    """Signal the whole group; a cluster that does not stop in 20 s is killed."""
    for signal_ in (sig, signal.SIGKILL):
        try:
            os.killpg(process.pid, signal_)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=20)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_for(condition, *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {describe()}"
        time.sleep(0.1)


def describe() -> str:
    runs = list(CampaignRun.objects.values_list("status", "batches_planned"))
    statuses = dict(Message.objects.values_list("status").annotate(n=Count("id")))
    queue = list(OrmQ.objects.values_list("lock", flat=True))
    return f"runs={runs} messages={statuses} queue={queue}"


class ClusterFaultTests(TransactionTestCase):
    serialized_rollback = True


    def test_it_completes_once_after_the_cluster_is_killed_mid_dispatch(self):
        run = big_campaign()
        start = MORNING + timedelta(hours=1)
        with time_machine.travel(start, tick=False):
            async_task("campaigns.tasks.run_campaign", run.pk, sync=False)  # what the schedule enqueues

        def handed_over() -> int:
            return Message.objects.filter(run=run).exclude(status__in=["planned", "suppressed"]).count()

        first = cluster(start, rate=300)
        try:
            wait_for(lambda: handed_over() >= 300, seconds=90, what="the first cluster to dispatch")
        finally:
            kill_group(first, signal.SIGKILL)
        assert handed_over() < AUDIENCE
        assert OrmQ.objects.exists()  # the task is still in the broker, locked by the dead worker

        second = cluster(start + timedelta(minutes=1), rate=0)
        try:
            wait_for(
                lambda: (
                    CampaignRun.objects.get(pk=run.pk).status == CampaignRun.Status.FINISHED
                    and not OrmQ.objects.exists()
                ),
                seconds=150,
                what="the second cluster to finish the run and drain the queue",
            )
        finally:
            kill_group(second, signal.SIGTERM)
        with time_machine.travel(MORNING + timedelta(hours=80), tick=False):
            delivery_expire_stale()
            delivery_settle()
        assert_completed_exactly_once(run)
