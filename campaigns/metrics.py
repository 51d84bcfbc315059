"""The send pipeline's figures for Prometheus, read from PostgreSQL at scrape time.

The workers are separate processes (django-q2's cluster, on other hosts too), so counters
kept in their memory would never reach the web's ``/metrics``: every figure here is read
from the rows themselves when Prometheus scrapes (``smsmarketing.health.metrics``).
``PipelineCollector`` is registered in ``smsmarketing.health.DATABASE_METRICS`` by
``CampaignsConfig.ready``. docs/OPERATIONS.md ("Metrics and alerts") lists the metrics and
the alerts built on them.

Cost per scrape: six statements, each served by an index but the small queue table (measured
figures in docs/OPERATIONS.md):
- the last minute's messages: the ``message_last_change`` index (the latest of created_at,
  sent_at, final_at), so only rows touched in the last minute are read;
- the oldest due planned message: one index probe per run with planned messages
  (``message_planned``, walked run by run);
- the oldest message still waiting for its report: the first entry of ``message_in_flight``;
- django-q2's queue (``django_q_ormq``, a few rows unless tasks pile up), the open
  reservations (``reservation_open_by_account``) and the scheduled tasks' last successes
  (django-q2's ``success_index`` on the task's group, the schedule's name).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import DatabaseError, connection
from django.db.models import Count, F, Min, Q
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ, Schedule, Task
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from campaigns.models.sending import Message
from campaigns.services.delivery import FINAL_REPORT_DEADLINE
from campaigns.services.frequency import in_quiet_hours
from smsmarketing.models import Reservation

logger = logging.getLogger(__name__)

WINDOW = timedelta(minutes=1)
# Stages of the "last minute" figure, in the order they are exported.
STAGES = ("planned", "suppressed", "dispatched", "delivered", "failed", "expired", "dropped")

# One pass over the rows touched in the window (index message_last_change: the expression
# must stay the index's own). A delivery-report lag counts messages finalised by a report
# (delivered, or failed with a DLR-* reason), not the gateway's refusals at hand-over.
_WINDOW_SQL = """
SELECT
    count(*) FILTER (WHERE created_at >= %(since)s AND status NOT IN ('suppressed', 'holdout')),
    count(*) FILTER (WHERE created_at >= %(since)s AND status = 'suppressed'),
    count(*) FILTER (WHERE sent_at >= %(since)s),
    count(*) FILTER (WHERE final_at >= %(since)s AND status = 'delivered'),
    count(*) FILTER (WHERE final_at >= %(since)s AND status = 'failed'),
    count(*) FILTER (WHERE final_at >= %(since)s AND status = 'expired'),
    count(*) FILTER (WHERE final_at >= %(since)s AND status = 'dropped'),
    percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM final_at - sent_at))
        FILTER (WHERE final_at >= %(since)s AND sent_at IS NOT NULL
                AND (status = 'delivered' OR (status = 'failed' AND reason LIKE 'DLR-%%')))
FROM {message}
WHERE GREATEST(created_at, sent_at, final_at) >= %(since)s
"""

# The message each run's dispatcher takes next (its first due planned message by id), and
# since when it has been waiting: created, or due again after a retry back-off. The runs
# with planned messages are found by a loose index scan of message_planned (run_id, id).
_OLDEST_PLANNED_SQL = """
WITH RECURSIVE runs(run_id) AS (
    (SELECT run_id FROM {message} WHERE status = 'planned' ORDER BY run_id LIMIT 1)
    UNION ALL
    SELECT (SELECT m.run_id FROM {message} m
            WHERE m.status = 'planned' AND m.run_id > runs.run_id ORDER BY m.run_id LIMIT 1)
    FROM runs WHERE runs.run_id IS NOT NULL
)
SELECT min(next_one.waiting_since)
FROM runs
CROSS JOIN LATERAL (
    SELECT coalesce(m.next_attempt_at, m.created_at) AS waiting_since FROM {message} m
    WHERE m.run_id = runs.run_id AND m.status = 'planned'
      AND (m.next_attempt_at IS NULL OR m.next_attempt_at <= %(now)s)
    ORDER BY m.id LIMIT 1
) AS next_one
"""

# The last success of each recurring schedule, per task function: django-q2 runs a
# schedule's task in the group named after the schedule (``success_index``). Keeping them
# needs Q_CLUSTER["save_limit_per"] = "group" (else the every-minute tasks push a daily
# task's success out of the ``save_limit`` newest).
_LAST_SUCCESS_SQL = """
SELECT s.func, max(last.stopped)
FROM {schedule} s
LEFT JOIN LATERAL (
    SELECT max(t.stopped) AS stopped FROM {task} t WHERE t.success AND t."group" = s.name
) AS last ON true
WHERE s.schedule_type <> %(once)s AND s.name IS NOT NULL
GROUP BY s.func
ORDER BY s.func
"""


@dataclass(frozen=True)
class PipelineFigures:
    """What one scrape reads; ages in seconds, times as datetimes (None: nothing)."""

    last_minute: dict[str, int]
    report_lag_p95: float | None
    oldest_due_planned: datetime | None
    oldest_awaiting_report: datetime | None
    queues: list[tuple[str, int, int, datetime | None]]  # key, queued, taken, oldest queued
    accounts_with_old_reservations: int
    last_successes: list[tuple[str, datetime | None]]  # task function, last success


def pipeline_figures(*, now: datetime | None = None) -> PipelineFigures:
    """Read every figure of the pipeline (six statements; see the module docstring)."""
    now = now or timezone.now()
    table = Message._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(_WINDOW_SQL.format(message=table), {"since": now - WINDOW})
        *counts, lag = cursor.fetchone()
        cursor.execute(_OLDEST_PLANNED_SQL.format(message=table), {"now": now})
        (oldest_planned,) = cursor.fetchone()
        cursor.execute(
            _LAST_SUCCESS_SQL.format(schedule=Schedule._meta.db_table, task=Task._meta.db_table),
            {"once": Schedule.ONCE},
        )
        last_successes = cursor.fetchall()
    in_flight = Message.objects.filter(status__in=[Message.Status.SENDING, Message.Status.ACCEPTED])
    queues = (
        OrmQ.objects.values("key")
        .annotate(
            queued=Count("id", filter=Q(lock__lte=now)),
            taken=Count("id", filter=Q(lock__gt=now)),
            oldest=Min("lock", filter=Q(lock__lte=now)),
        )
        .order_by("key")
    )
    return PipelineFigures(
        last_minute=dict(zip(STAGES, counts, strict=True)),
        report_lag_p95=lag,
        oldest_due_planned=oldest_planned,
        oldest_awaiting_report=in_flight.aggregate(oldest=Min("sent_at"))["oldest"],
        queues=[(q["key"], q["queued"], q["taken"], q["oldest"]) for q in queues],
        accounts_with_old_reservations=Reservation.objects.filter(
            charged__lt=F("parts") - F("released"), created_at__lt=now - FINAL_REPORT_DEADLINE
        ).aggregate(accounts=Count("account", distinct=True))["accounts"],
        last_successes=last_successes,
    )


def _age(now: datetime, since: datetime | None) -> float:
    return max(0.0, (now - since).total_seconds()) if since else 0.0


# name: (help, labels). Every one is a gauge: a value read at scrape time.
METRICS: dict[str, tuple[str, list[str]]] = {
    "sms_pipeline_metrics_up": ("1 if the pipeline's figures were read from PostgreSQL at this scrape.", []),
    "sms_quiet_hours": ("1 in marketing quiet hours (21:00-08:00 Asia/Shanghai): planned sends wait.", []),
    "sms_messages_last_minute": (
        "Messages per stage in the last 60 s: planned (to send), suppressed, dispatched (handed to the "
        "gateway), delivered, failed, expired (no report in 72 h), dropped (refused at dispatch).",
        ["stage"],
    ),
    "sms_delivery_report_lag_p95_seconds": (
        "95th percentile of report time minus hand-over time, over the final reports of the last 60 s.",
        [],
    ),
    "sms_messages_planned_oldest_age_seconds": (
        "How long the next due planned message has waited for dispatch (0: none waiting).",
        [],
    ),
    "sms_delivery_report_oldest_missing_age_seconds": (
        "Age of the oldest message handed to the gateway and still without a final report (0: none).",
        [],
    ),
    "sms_task_queue_depth": ("django-q2 tasks queued, not taken by a worker.", ["queue"]),
    "sms_task_queue_taken": ("django-q2 tasks taken by a worker, not acknowledged yet.", ["queue"]),
    "sms_task_queue_oldest_age_seconds": (
        "How long the oldest queued django-q2 task has waited for a worker (0: none).",
        ["queue"],
    ),
    "sms_accounts_with_old_reservations": (
        "SMS accounts holding parts reserved more than 72 hours ago and still unsettled.",
        [],
    ),
    "sms_scheduled_task_last_success_timestamp_seconds": (
        "Unix time of the last success of a recurring django-q2 schedule, per task function (0: never).",
        ["task"],
    ),
}


class PipelineCollector(Collector):
    """Gauges of the send pipeline (``METRICS``), read from PostgreSQL on every scrape.

    A scrape while PostgreSQL is unreachable exports ``sms_pipeline_metrics_up 0`` and
    ``sms_quiet_hours``, nothing else of the pipeline (the request metrics still answer).
    """

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(_families().values())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = timezone.now()
        families = _families()
        families["sms_quiet_hours"].add_metric([], 1 if in_quiet_hours(now) else 0)
        try:
            figures = pipeline_figures(now=now)
        except DatabaseError:
            logger.warning("metrics: the pipeline's figures could not be read", exc_info=True)
            families["sms_pipeline_metrics_up"].add_metric([], 0)
            return iter([families["sms_pipeline_metrics_up"], families["sms_quiet_hours"]])
        families["sms_pipeline_metrics_up"].add_metric([], 1)
        _fill(families, figures, now)
        return iter(families.values())


def _families() -> dict[str, GaugeMetricFamily]:
    return {name: GaugeMetricFamily(name, text, labels=labels) for name, (text, labels) in METRICS.items()}


def _fill(families: dict[str, GaugeMetricFamily], figures: PipelineFigures, now: datetime) -> None:
    for stage, count in figures.last_minute.items():
        families["sms_messages_last_minute"].add_metric([stage], count)
    families["sms_delivery_report_lag_p95_seconds"].add_metric([], figures.report_lag_p95 or 0.0)
    families["sms_messages_planned_oldest_age_seconds"].add_metric([], _age(now, figures.oldest_due_planned))
    families["sms_delivery_report_oldest_missing_age_seconds"].add_metric(
        [], _age(now, figures.oldest_awaiting_report)
    )
    queues = {key: (queued, taken, oldest) for key, queued, taken, oldest in figures.queues}
    queues.setdefault(Conf.CLUSTER_NAME, (0, 0, None))  # the cluster's own queue, even empty
    for key, (queued, taken, oldest) in sorted(queues.items()):
        families["sms_task_queue_depth"].add_metric([key], queued)
        families["sms_task_queue_taken"].add_metric([key], taken)
        families["sms_task_queue_oldest_age_seconds"].add_metric([key], _age(now, oldest))
    families["sms_accounts_with_old_reservations"].add_metric([], figures.accounts_with_old_reservations)
    for func, stopped in figures.last_successes:
        families["sms_scheduled_task_last_success_timestamp_seconds"].add_metric(
            [func], stopped.timestamp() if stopped else 0.0
        )
