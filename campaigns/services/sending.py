"""Running a campaign: start, plan, dispatch through the gateway, finish.

``run_execute`` is the one entry point of the run task. It is safe to run twice
and to kill at any moment: progress lives in the run and message rows.

Dispatch claims up to a gateway batch of planned messages with
``SELECT ... FOR UPDATE SKIP LOCKED`` and marks them ``sending`` in the same
short transaction, after re-validating them (shop active and allowed, signature
still approved — the text is built with the signature live *now* —, template
still approved, phone not opted out since planning). Only then is the batch
handed to the gateway. A message is therefore handed over at most once: a
worker killed between the claim and the gateway's answer leaves it ``sending``;
the gateway's own delivery report (keyed by our message id) or, without one,
the 72-hour sweep settles it. Retryable gateway failures go back to ``planned``
with a back-off and are never lost.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

from campaigns.gateways import get_gateway
from campaigns.gateways.base import OutboundSms
from campaigns.models.frequency import OptOut
from campaigns.models.sending import Campaign, CampaignRun, Message
from campaigns.services.campaigns import RUN_TASK, full_text, parts_of, shop_sms_state
from campaigns.services.delivery import delivery_settle
from campaigns.services.frequency import in_quiet_hours, next_send_window
from campaigns.services.planning import run_plan

logger = logging.getLogger(__name__)

OPTED_OUT = "OPTED-OUT"
SIGNATURE_CHANGED = "SIGNATURE-CHANGED"
GATEWAY_REJECTED = "GATEWAY-REJECTED"
GATEWAY_ERROR = "GATEWAY-ERROR"
CRASH_ENV = "CAMPAIGNS_CRASH_AFTER_DISPATCH_BATCHES"


def pipeline_setting(name: str):
    defaults = {
        "TASK_TIME_BUDGET": 480,  # seconds a run task works before re-enqueueing itself (< Q timeout)
        "DISPATCH_RATE": 100,  # messages per second handed to the gateway, per worker (0: unbounded)
        "DISPATCH_BATCH": 100,  # messages per gateway call
        "MAX_ATTEMPTS": 5,  # gateway tries before a retryable failure becomes final
        "RETRY_BACKOFF": 60,  # seconds, doubled per attempt
    }
    return getattr(settings, "SMS_PIPELINE", {}).get(name, defaults[name])


@dataclass
class DispatchResult:
    done: bool  # nothing planned is left
    retry_at: datetime | None = None  # planned messages wait for a retry at this time


# --- the run task ---------------------------------------------------------------


def run_execute(*, run_id: int, now: datetime | None = None) -> str:
    """Advance a run as far as its time budget allows; returns what happened (for logs and tests).

    Outcomes: ``finished``, ``requeued`` (budget spent, task enqueued again),
    ``deferred`` (quiet hours or retry back-off: a ONCE schedule resumes it),
    ``skipped`` (cancelled, stopped, already finished).
    """
    started = time.monotonic()
    budget = pipeline_setting("TASK_TIME_BUDGET")
    status = _run_start(run_id=run_id, now=now or timezone.now())
    if status in {"skipped", "deferred"}:
        return status
    run = CampaignRun.objects.get(pk=run_id)
    if run.status == CampaignRun.Status.PLANNING:
        if not run_plan(run_id=run_id, time_budget=budget):
            _requeue(run_id)
            return "requeued"
    now = timezone.now()
    if in_quiet_hours(now):
        _defer(run_id, next_send_window(now))
        return "deferred"
    remaining = max(1.0, budget - (time.monotonic() - started))
    result = run_dispatch(run_id=run_id, time_budget=remaining)
    # Messages dropped at dispatch or refused by the gateway are final now: release them
    # without waiting for the periodic settlement.
    delivery_settle()
    if not result.done:
        if result.retry_at is not None:
            _defer(run_id, result.retry_at)
            return "deferred"
        _requeue(run_id)
        return "requeued"
    _run_finish(run_id=run_id)
    return "finished"


def runs_resume_unfinished() -> int:
    """Enqueue the run task of every run still planning or dispatching; returns how many.

    A worker killed mid-run leaves its run in one of these states; django-q2 re-delivers
    the task after ``retry`` seconds, and this sweep is the safety net when it gave up.
    Running a run twice is safe (the run row lock, SKIP LOCKED claims), so no lease is kept.
    """
    ids = list(
        CampaignRun.objects.filter(
            status__in=[CampaignRun.Status.PLANNING, CampaignRun.Status.DISPATCHING]
        ).values_list("pk", flat=True)
    )
    for run_id in ids:
        async_task(RUN_TASK, run_id)
    return len(ids)


def _run_start(*, run_id: int, now: datetime) -> str:
    with transaction.atomic():
        # Lock order everywhere: campaign, then run. Race: cancel vs. start.
        campaign_id = CampaignRun.objects.values_list("campaign_id", flat=True).get(pk=run_id)
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        run = CampaignRun.objects.select_for_update().get(pk=run_id)
        if run.status in {CampaignRun.Status.FINISHED, CampaignRun.Status.CANCELLED}:
            return "skipped"
        is_test = run.kind == CampaignRun.Kind.TEST
        if not is_test and campaign.status not in {Campaign.Status.SCHEDULED, Campaign.Status.RUNNING}:
            run.status = CampaignRun.Status.CANCELLED
            run.save(update_fields=["status"])
            return "skipped"
        if run.status != CampaignRun.Status.PENDING:
            return "resumed"
        if not is_test and in_quiet_hours(now):
            # Marketing waits for 08:00; it is deferred, never dropped.
            _defer(run_id, next_send_window(now))
            return "deferred"
        if not is_test and campaign.status == Campaign.Status.SCHEDULED:
            campaign.start(at=now)
            campaign.save()
        run.status = CampaignRun.Status.PLANNING
        run.save(update_fields=["status"])
    return "started"


def _run_finish(*, run_id: int) -> None:
    with transaction.atomic():
        campaign_id = CampaignRun.objects.values_list("campaign_id", flat=True).get(pk=run_id)
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        run = CampaignRun.objects.select_for_update().get(pk=run_id)
        if run.status != CampaignRun.Status.DISPATCHING:
            return
        run.status, run.finished_at = CampaignRun.Status.FINISHED, timezone.now()
        run.save(update_fields=["status", "finished_at"])
        one_off = campaign.kind != Campaign.Kind.REPURCHASE and run.kind == CampaignRun.Kind.AUDIENCE
        if one_off and campaign.status == Campaign.Status.RUNNING:
            campaign.complete(at=run.finished_at)
            campaign.save()


def _requeue(run_id: int) -> None:
    transaction.on_commit(lambda: async_task(RUN_TASK, run_id))


def _defer(run_id: int, at: datetime) -> None:
    Schedule.objects.update_or_create(
        name=f"run-{run_id}-resume",
        defaults={
            "func": RUN_TASK,
            "args": repr(run_id),
            "schedule_type": Schedule.ONCE,
            "next_run": at,
            "repeats": 1,
        },
    )


# --- dispatch ---------------------------------------------------------------------


def run_dispatch(*, run_id: int, time_budget: float | None = None) -> DispatchResult:
    """Hand a run's planned messages to the gateway at the configured rate."""
    started = time.monotonic()
    rate = pipeline_setting("DISPATCH_RATE")
    size = pipeline_setting("DISPATCH_BATCH")
    crash_after = int(os.environ.get(CRASH_ENV, "0") or 0)
    gateway = get_gateway()
    batches = 0
    try:
        while True:
            batch_started = time.monotonic()
            outbound = dispatch_claim(run_id=run_id, limit=size)
            if outbound is None:
                return _dispatch_state(run_id)
            if outbound:
                results = gateway.send_batch(outbound)
                dispatch_record(results=results)
            batches += 1
            if crash_after and batches >= crash_after:
                os._exit(17)
            if rate and outbound:
                time.sleep(max(0.0, len(outbound) / rate - (time.monotonic() - batch_started)))
            if time_budget is not None and time.monotonic() - started > time_budget:
                return DispatchResult(done=False)
    finally:
        gateway.close()


def _dispatch_state(run_id: int) -> DispatchResult:
    waiting = Message.objects.filter(run_id=run_id, status=Message.Status.PLANNED)
    retry_at = waiting.order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first()
    if retry_at is None and not waiting.exists():
        return DispatchResult(done=True)
    return DispatchResult(done=False, retry_at=retry_at or timezone.now())


def dispatch_claim(*, run_id: int, limit: int, now: datetime | None = None) -> list[OutboundSms] | None:
    """Claim up to ``limit`` due planned messages; None when none are due.

    Claimed messages are re-validated: those that may no longer be sent become
    ``dropped`` with a reason (their parts and frequency count are released by
    the settlement), the rest ``sending`` with their full text.
    """
    now = now or timezone.now()
    table = Message._meta.db_table
    with transaction.atomic():
        with connection.cursor() as cursor:
            # Race: several dispatchers of one run; SKIP LOCKED hands each its own rows.
            cursor.execute(
                f"""SELECT id, phone, body, parts, shop_id, campaign_id FROM {table}
                    WHERE run_id = %s AND status = 'planned'
                      AND (next_attempt_at IS NULL OR next_attempt_at <= %s)
                    ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED""",
                [run_id, now, limit],
            )
            claimed = cursor.fetchall()
        if not claimed:
            return None
        campaign = Campaign.objects.select_related("shop__category", "coupon").get(pk=claimed[0][5])
        state = shop_sms_state(shop=campaign.shop, campaign=campaign)
        opted_out = set(
            OptOut.objects.filter(
                shop_id=campaign.shop_id, phone__in=[row[1] for row in claimed]
            ).values_list("phone", flat=True)
        )
        updates = []  # (id, status, reason, text)
        outbound = []
        for message_id, phone, body, parts, _shop, _campaign in claimed:
            reason = state.reason or (OPTED_OUT if phone in opted_out else "")
            text = "" if reason else full_text(signature=state.signature, body=body)
            if not reason and parts_of(signature=state.signature, body=body) != parts:
                # The live signature changed length since planning and the message no
                # longer fits the parts reserved for it: not sent rather than mis-billed.
                reason = SIGNATURE_CHANGED
            if reason:
                updates.append((message_id, Message.Status.DROPPED, reason, ""))
            else:
                updates.append((message_id, Message.Status.SENDING, "", text))
                outbound.append(OutboundSms(message_id=message_id, phone=phone, text=text))
        with connection.cursor() as cursor:
            cursor.execute(
                f"""UPDATE {table} m SET status = u.status, reason = u.reason, text = u.text,
                        attempts = m.attempts + CASE WHEN u.status = 'sending' THEN 1 ELSE 0 END,
                        sent_at = CASE WHEN u.status = 'sending' THEN %s ELSE m.sent_at END,
                        final_at = CASE WHEN u.status = 'dropped' THEN %s ELSE m.final_at END
                    FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[])
                         AS u(id, status, reason, text)
                    WHERE m.id = u.id""",
                [now, now, *map(list, zip(*updates, strict=True))],
            )
    return outbound


def dispatch_record(*, results, now: datetime | None = None) -> None:
    """Record the gateway's answers. Only ``sending`` rows change: a delivery report that
    arrived first (the gateway may answer before we record) is never overwritten."""
    now = now or timezone.now()
    max_attempts = pipeline_setting("MAX_ATTEMPTS")
    backoff = pipeline_setting("RETRY_BACKOFF")
    accepted = [r.message_id for r in results if r.accepted]
    retryable = [r.message_id for r in results if not r.accepted and r.retryable]
    rejected = [r.message_id for r in results if not r.accepted and not r.retryable]
    sending = Message.objects.filter(status=Message.Status.SENDING)
    with transaction.atomic():
        if accepted:
            sending.filter(pk__in=accepted).update(status=Message.Status.ACCEPTED)
        if rejected:
            sending.filter(pk__in=rejected).update(
                status=Message.Status.FAILED, reason=GATEWAY_REJECTED, final_at=now
            )
        if retryable:
            sending.filter(pk__in=retryable, attempts__gte=max_attempts).update(
                status=Message.Status.FAILED, reason=GATEWAY_ERROR, final_at=now
            )
            for message in sending.filter(pk__in=retryable).only("id", "attempts"):
                message.status = Message.Status.PLANNED
                message.next_attempt_at = now + timedelta(seconds=backoff * 2 ** (message.attempts - 1))
                message.sent_at = None
                message.save(update_fields=["status", "next_attempt_at", "sent_at"])
    if rejected or retryable:
        logger.warning("gateway: %d rejected, %d to retry", len(rejected), len(retryable))
