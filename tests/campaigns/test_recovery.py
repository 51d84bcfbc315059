"""Recovery within a minute: a whole django-q2 cluster killed (SIGKILL to its process group)
mid-planning, an operator starts a new one, and sending resumes at once — not after the resume
sweep or django-q2's ``retry``. The clusters are real ``manage.py qcluster`` processes on the
test database, their clock shifted into the marketing window (``bench.soak.clock``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta

import psycopg
import pytest
import time_machine
from django.conf import settings
from django.db import OperationalError, connection
from django.db.models import Count, Min
from django.test import TransactionTestCase
from django.utils import timezone
from django_q.models import OrmQ, Schedule
from django_q.tasks import async_task

from campaigns.models import CampaignRun, CustomerImport, DeliveryReport, Message
from campaigns.models.imports import CustomerImportChunk
from campaigns.services.campaigns import RUN_TASK, campaign_create, campaign_schedule
from campaigns.services.delivery import delivery_settle
from campaigns.services.leases import IMPORT_CHECK_LEASE, RUN_LEASE, lease_is_free, task_lease
from campaigns.services.recovery import import_checks_recover, runs_recover
from campaigns.services.sending import run_execute
from campaigns.tasks import check_customer_import, run_campaign
from tests.campaigns.campaign_fixtures import (
    MARKETING_TEXT,
    MORNING,
    assert_ledger_clean,
    import_customers,
    live_signature_for,
)
from tests.campaigns.test_customer_import_pages import csv_bytes, good_rows
from tests.dburl import test_database_url as database_url
from tests.factories import make_active_account, make_reviewer, make_shop, make_user

AUDIENCE = 8_000
PLAN_BATCH = 100  # 80 planning batches: the cluster is killed after the first few
RECOVERY_LIMIT = 60.0  # seconds from the new cluster's start to the first message handed over


def cluster(offset: float, log) -> subprocess.Popen:
    """``manage.py qcluster`` (2 workers) in its own process group, clock shifted by ``offset``."""
    environment = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "smsmarketing.settings",
        "Q_WORKERS": "2",
        "SMS_PLAN_BATCH": str(PLAN_BATCH),
        "SMS_PLAN_WORKERS": "1",
        "SMS_DISPATCH_RATE": "0",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bench.soak.clock", str(offset), "manage.py", "qcluster"],
        env=environment,
        cwd=settings.BASE_DIR,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # whatever the group left behind
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


def wait_for(condition, *, seconds: float, what: str, log=None) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            tail = ""
            if log is not None:
                log.flush()
                log.seek(0)
                tail = log.read().decode(errors="replace")[-4000:]
            raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}\n{tail}")
        time.sleep(0.02)


def scheduled_campaign() -> CampaignRun:
    alice = make_user("alice")
    shop = make_shop("爱丽丝服饰", owner=alice)
    make_active_account(shop, balance=2 * AUDIENCE, user=alice)
    live_signature_for(shop, alice, make_reviewer())
    import_customers(shop, [f"139{i:08d},客户,,,," for i in range(AUDIENCE)])
    return scheduled_run(shop=shop, user=alice)


class RecoveryTests(TransactionTestCase):
    """Real commits, so the cluster processes see the rows."""

    serialized_rollback = True


    def test_it_resumes_sending_within_a_minute_after_the_whole_cluster_is_killed_mid_planning(self):
        run = scheduled_campaign()
        # The clusters' clock: just after the scheduled time, whatever the real hour is.
        offset = (MORNING + timedelta(hours=1, seconds=5) - timezone.now()).total_seconds()
        log = tempfile.TemporaryFile()
        first = cluster(offset, log)
        second = None
        try:
            # What the run's schedule enqueues, on the clusters' clock (the queue's lock times).
            with time_machine.travel(timezone.now() + timedelta(seconds=offset), tick=True):
                async_task(RUN_TASK, run.pk, sync=False)
            wait_for(
                lambda: CampaignRun.objects.get(pk=run.pk).batches_planned >= 3,
                seconds=120, what="planning to start", log=log,
            )  # fmt: skip
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=30)
            run.refresh_from_db()
            assert run.status == CampaignRun.Status.PLANNING, run.status
            assert not Message.objects.filter(run=run).exclude(sent_at=None).exists()
            killed_with = run.batches_planned

            restarted = time.time()
            second = cluster(offset, log)
            handed_over = Message.objects.filter(run=run).exclude(sent_at=None)
            wait_for(handed_over.exists, seconds=RECOVERY_LIMIT + 60, what="sending to resume", log=log)
            first_sent = handed_over.aggregate(first=Min("sent_at"))["first"]
            gap = first_sent.timestamp() - (restarted + offset)
            print(
                f"\nrecovery: cluster killed after {killed_with} of {AUDIENCE // PLAN_BATCH} planning "
                f"batches; first message handed over {gap:.1f} s after the new cluster started"
            )
            assert gap < RECOVERY_LIMIT

            wait_for(
                lambda: CampaignRun.objects.get(pk=run.pk).status == CampaignRun.Status.FINISHED,
                seconds=300, what="the run to finish", log=log,
            )  # fmt: skip
            messages = Message.objects.filter(run=run)
            wait_for(
                lambda: not messages.filter(status__in=["planned", "sending", "accepted"]).exists(),
                seconds=120, what="every delivery report", log=log,
            )  # fmt: skip
        finally:
            stop(first)
            if second is not None:
                stop(second)
            log.close()
        assert messages.count() == AUDIENCE
        assert not messages.values("phone").annotate(n=Count("id")).filter(n__gt=1).exists()
        # The simulated gateway reports every hand-over once: no message was handed over twice.
        assert not DeliveryReport.objects.values("message").annotate(n=Count("id")).filter(n__gt=1).exists()
        reports = DeliveryReport.objects.filter(message__run=run).count()
        assert reports == messages.exclude(sent_at=None).count()
        delivery_settle()
        assert_ledger_clean()


def scheduled_run(*, shop, user) -> CampaignRun:
    with time_machine.travel(MORNING, tick=False):
        campaign = campaign_create(shop=shop, user=user, kind="marketing", name="大促", text=MARKETING_TEXT)
        campaign_schedule(campaign=campaign, user=user, at=MORNING + timedelta(hours=1))
    return CampaignRun.objects.get(campaign=campaign)


def hold_lease(run_id: int, acquired: threading.Event, release: threading.Event) -> None:
    """A worker on the run: holds its lease (in its own database session) until released."""
    try:
        with task_lease(kind=RUN_LEASE, object_id=run_id) as held:
            assert held
            acquired.set()
            release.wait(60)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_it_leaves_a_run_a_live_worker_holds_and_resumes_it_once_the_worker_is_gone(ready_shop, alice):
    run = scheduled_run(shop=ready_shop, user=alice)
    CampaignRun.objects.filter(pk=run.pk).update(status=CampaignRun.Status.PLANNING)
    acquired, release = threading.Event(), threading.Event()
    worker = threading.Thread(target=hold_lease, args=(run.pk, acquired, release))
    worker.start()
    try:
        assert acquired.wait(30)
        with time_machine.travel(MORNING + timedelta(hours=1), tick=True):
            assert not lease_is_free(kind=RUN_LEASE, object_id=run.pk)
            assert runs_recover() == 0  # a live worker is on it
            assert run_execute(run_id=run.pk) == "busy"  # a redelivered copy does nothing
        assert not Message.objects.filter(run=run).exists()
    finally:
        release.set()
        worker.join(30)
    # The worker is gone (its session's lock with it): the run is resumed (django-q2 runs the
    # task inline in the tests) and finishes; a second recovery finds nothing to do.
    with time_machine.travel(MORNING + timedelta(hours=1), tick=True):
        assert lease_is_free(kind=RUN_LEASE, object_id=run.pk)
        assert runs_recover() == 1
        assert runs_recover() == 0
    run.refresh_from_db()
    assert run.status == CampaignRun.Status.FINISHED
    assert Message.objects.filter(run=run).count() == 20


@pytest.mark.django_db(transaction=True)
def test_it_does_not_enqueue_a_run_whose_task_waits_in_the_queue_or_that_is_deferred(ready_shop, alice):
    run = scheduled_run(shop=ready_shop, user=alice)
    CampaignRun.objects.filter(pk=run.pk).update(status=CampaignRun.Status.DISPATCHING)
    now = MORNING + timedelta(hours=1)
    with time_machine.travel(now, tick=False):
        async_task(RUN_TASK, run.pk, sync=False)  # waiting in the queue, no cluster took it yet
        assert OrmQ.objects.count() == 1
        assert runs_recover() == 0
        OrmQ.objects.all().delete()
        Schedule.objects.create(
            name=f"run-{run.pk}-resume", func=RUN_TASK, args=repr(run.pk),
            schedule_type=Schedule.ONCE, next_run=now + timedelta(minutes=5), repeats=1,
        )  # fmt: skip
        assert runs_recover() == 0  # deferred: its schedule resumes it
    assert not Message.objects.filter(run=run).exists()


@pytest.mark.django_db(transaction=True)
def test_it_hands_the_run_to_a_new_task_when_the_task_loses_its_database_session(ready_shop, alice):
    run = scheduled_run(shop=ready_shop, user=alice)
    terminated = []

    def terminate_once(execute, sql, params, many, context):
        # An operator's pg_terminate_backend (or a failover) just as the first batch is claimed.
        if not terminated and "claimed AS MATERIALIZED" in sql:
            terminated.append(connection.connection.info.backend_pid)
            db = connection.settings_dict
            with psycopg.connect(
                host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
                password=db["PASSWORD"] or None, dbname=db["NAME"], autocommit=True,
            ) as other:  # fmt: skip
                other.execute("SELECT pg_terminate_backend(%s)", [terminated[0]])
        return execute(sql, params, many, context)

    with time_machine.travel(MORNING + timedelta(hours=1), tick=True):
        with connection.execute_wrapper(terminate_once), pytest.raises(OperationalError):
            run_campaign(run.pk)  # the task fails, its error kept; the new task ran inline (sync)
    assert terminated
    run.refresh_from_db()
    assert run.status == CampaignRun.Status.FINISHED
    messages = Message.objects.filter(run=run)
    assert messages.count() == 20 and not messages.filter(status="planned").exists()


def hold_import_lease(job_id: int, acquired: threading.Event, release: threading.Event) -> None:
    try:
        with task_lease(kind=IMPORT_CHECK_LEASE, object_id=job_id) as held:
            assert held
            acquired.set()
            release.wait(60)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_it_checks_again_an_import_left_checking_by_a_dead_worker_and_not_one_a_worker_holds(alice_shop):
    job = CustomerImport.objects.create(shop=alice_shop, filename="会员.csv")
    CustomerImportChunk.objects.create(job=job, seq=0, data=csv_bytes(good_rows(3)))
    acquired, release = threading.Event(), threading.Event()
    worker = threading.Thread(target=hold_import_lease, args=(job.pk, acquired, release))
    worker.start()
    try:
        assert acquired.wait(30)
        assert import_checks_recover() == 0  # a live worker checks it
        assert check_customer_import(job.pk) == "busy"  # a redelivered copy does nothing
    finally:
        release.set()
        worker.join(30)
    job.refresh_from_db()
    assert job.status == CustomerImport.Status.CHECKING
    assert import_checks_recover() == 1  # the worker is gone: checked again (inline in the tests)
    job.refresh_from_db()
    assert job.status == CustomerImport.Status.READY and job.rows == 3
    assert import_checks_recover() == 0
