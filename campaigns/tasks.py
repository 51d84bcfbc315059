"""django-q2 tasks of the campaigns app: thin adapters that take ids and call services.

Every task is idempotent (safe to run twice, at-least-once delivery).
"""

from __future__ import annotations

from datetime import datetime

from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone
from django_q.tasks import async_task

from campaigns.api.idempotency import idempotency_purge
from campaigns.services.ab_testing import ab_tests_end_due
from campaigns.services.attribution import orders_reattribute_recent
from campaigns.services.campaigns import RUN_TASK, repurchase_run_today
from campaigns.services.delivery import delivery_expire_stale, delivery_reports_apply, delivery_settle
from campaigns.services.frequency import frequency_counters_purge_old
from campaigns.services.importing import (
    customer_import_check,
    customer_import_run,
    customer_imports_purge_stale,
)
from campaigns.services.leases import IMPORT_CHECK_LEASE, task_lease
from campaigns.services.notices import campaign_finished_sweep
from campaigns.services.pipeline import pipeline_setting
from campaigns.services.planning import run_plan
from campaigns.services.recovery import pipeline_recover
from campaigns.services.retention import message_history_retain
from campaigns.services.sending import run_execute
from campaigns.services.spend_pause import spend_paused_runs_resume_due
from campaigns.services.webhooks import webhook_deliveries_run, webhook_events_purge


def run_campaign(run_id: int) -> str:
    """Advance one campaign run (start, plan, dispatch, finish).

    When the task loses its database session mid-run (a terminated session, a failover), the
    run is handed to a new task at once, not left to the minute's recovery: the task fails (its
    error is kept), and the new one resumes the run on a fresh connection. If the database is
    still away, enqueueing fails too, and recovery resumes the run once it is back."""
    try:
        return run_execute(run_id=run_id)
    except (OperationalError, InterfaceError):
        if connection.is_usable():
            raise  # a failed statement (a deadlock, a timeout): the minute's recovery retries
        connection.close()
        async_task(RUN_TASK, run_id)
        raise


def plan_run_part(run_id: int) -> str:
    """One more planner of a run: ``run_campaign`` enqueues ``PLAN_WORKERS - 1`` of these, which
    plan batches of the run alongside it (the run task alone goes on to dispatch)."""
    return (
        "planned"
        if run_plan(run_id=run_id, time_budget=pipeline_setting("TASK_TIME_BUDGET"))
        else "budget spent"
    )


def check_customer_import(job_id: int) -> str:
    """Read an uploaded customer file into checked rows and totals (the preview).

    One task for the whole file, with its own timeout (``CHECK_TASK_TIMEOUT``), longer than the
    cluster's ``retry``: a copy redelivered while the check still runs finds the lease taken."""
    with task_lease(kind=IMPORT_CHECK_LEASE, object_id=job_id) as held:
        return customer_import_check(job_id=job_id) if held else "busy"


def run_customer_import(job_id: int) -> str:
    """Import a confirmed customer file batch by batch (resumes after the last batch merged);
    after ``TASK_TIME_BUDGET`` seconds it hands the rest to a new task (below the cluster's timeout)."""
    return customer_import_run(job_id=job_id, time_budget=pipeline_setting("TASK_TIME_BUDGET"))


def purge_stale_customer_imports() -> int:
    """Daily (03:40 Asia/Shanghai): cancel import previews left unconfirmed for a day."""
    return customer_imports_purge_stale()


def repurchase_daily(campaign_id: int) -> str:
    """The daily run of a repurchase reminder (one run per local day)."""
    return repurchase_run_today(campaign_id=campaign_id)


def simulated_reports(reports: list, at: str | None = None) -> int:
    """Delivery reports of the simulated/console gateway: [[message_id, status], ...]."""
    when = datetime.fromisoformat(at) if at else timezone.now()
    applied = delivery_reports_apply(reports=[(int(mid), status, when, None) for mid, status in reports])
    delivery_settle()
    return applied


def settle_deliveries() -> int:
    """Every minute: settle final messages whose reports came one by one (e.g. from Kannel), then
    raise the finished notice of complete runs that have none yet (``campaign_finished_sweep``)."""
    settled = delivery_settle()
    campaign_finished_sweep()
    return settled


def resume_unfinished_runs() -> int:
    """Every minute (and when a worker process starts): re-enqueue the runs and import checks a
    dead worker left (``campaigns.services.recovery``)."""
    return pipeline_recover()


def expire_stale_messages() -> int:
    """Hourly: release messages without a final report after 72 hours, then settle them."""
    expired = delivery_expire_stale()
    delivery_settle()
    return expired


def end_ab_tests() -> int:
    """Every minute: end the A/B tests that are due; each winner goes to the rest of its audience."""
    return ab_tests_end_due()


def reattribute_recent_orders() -> int:
    """Hourly: attribute again the orders placed within the last days, so that touches recorded
    after their orders were ingested (late delivery reports) count (``campaigns.services.attribution``)."""
    return orders_reattribute_recent()


def purge_frequency_counters() -> int:
    """Daily (03:30 Asia/Shanghai): delete frequency counters of days no window or report reaches."""
    return frequency_counters_purge_old()


def retain_message_history() -> str:
    """Daily (04:40 Asia/Shanghai): the coming months' partitions, and the months past
    ``SMS_MESSAGE_RETENTION_MONTHS`` archived per shop and dropped (docs/RETENTION.md)."""
    result = message_history_retain()
    return f"created {len(result.created)} partitions; archived {sorted(str(m) for m in result.dropped)}"


def deliver_webhooks() -> int:
    """Post the webhook deliveries that are due: enqueued after a commit that wrote some, and
    every minute (the retries after their back-off, and any whose task was lost)."""
    return webhook_deliveries_run(time_budget=pipeline_setting("TASK_TIME_BUDGET"))


def purge_idempotency_records() -> int:
    """Hourly: drop the open API's idempotency records older than 24 h (campaigns.api.idempotency)."""
    return idempotency_purge()


def purge_webhook_events() -> int:
    """Daily (03:50 Asia/Shanghai): delete webhook events older than 30 days, with their deliveries."""
    return webhook_events_purge()


def resume_spend_paused_runs() -> int:
    """Every minute: resume the runs a spending limit paused whose period has ended
    (``campaigns.services.spend_pause``, docs/SPEND_LIMITS.md)."""
    return spend_paused_runs_resume_due()
