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
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

from campaigns.gateways import get_gateway
from campaigns.gateways.base import OutboundSms, PendingBatch
from campaigns.models.frequency import OptOut
from campaigns.models.sending import Campaign, CampaignRun, Message
from campaigns.models.webhooks import WebhookEventType
from campaigns.services.campaigns import (
    CATEGORY_RESTRICTED,
    NO_SIGNATURE,
    RUN_TASK,
    SHOP_INACTIVE,
    TEMPLATE_NOT_APPROVED,
    campaign_templates_usable,
    full_text,
)
from campaigns.services.delivery import delivery_settle
from campaigns.services.frequency import in_quiet_hours, next_send_window
from campaigns.services.leases import RUN_LEASE, task_lease
from campaigns.services.notices import (
    STOP_REASONS,
    campaign_paused_notify,
    campaign_stopped_notify,
    runs_finished_notify,
)
from campaigns.services.pipeline import pipeline_setting
from campaigns.services.planning import run_plan
from campaigns.services.webhooks import webhook_event_emit
from campaigns.sqlarrays import sql_int_array
from reviews.models.signatures import Signature
from reviews.policy.length import MULTI_PART_SIZE, SINGLE_PART_MAX
from smsmarketing.db import commit_without_flush
from smsmarketing.models import Category, Shop

logger = logging.getLogger(__name__)

OPTED_OUT = "OPTED-OUT"
SIGNATURE_CHANGED = "SIGNATURE-CHANGED"
GATEWAY_REJECTED = "GATEWAY-REJECTED"
GATEWAY_ERROR = "GATEWAY-ERROR"
PLAN_TASK = "campaigns.tasks.plan_run_part"


@dataclass
class DispatchResult:
    done: bool  # nothing planned is left
    retry_at: datetime | None = None  # planned messages wait for a retry at this time


# --- the run task ---------------------------------------------------------------


def run_execute(*, run_id: int, now: datetime | None = None) -> str:
    """Advance a run as far as its time budget allows; returns what happened (for logs and tests).

    Outcomes: ``finished``, ``requeued`` (budget spent, task enqueued again),
    ``deferred`` (quiet hours or retry back-off: a ONCE schedule resumes it),
    ``skipped`` (cancelled, stopped, already finished), ``busy`` (another worker holds the run).
    """
    # Race: two copies of the run's task (a recovery re-enqueue, django-q2's redelivery); the
    # lease lets one work and the other return at once, so copies never pile up as chains.
    with task_lease(kind=RUN_LEASE, object_id=run_id) as held:
        if not held:
            return "busy"
        outcome = _run_advance(run_id=run_id, now=now)
    if outcome == "requeued":
        # After the release: the next task must find the lease free, or it would return busy.
        _requeue(run_id)
    return outcome


def _run_advance(*, run_id: int, now: datetime | None) -> str:
    started = time.monotonic()
    budget = pipeline_setting("TASK_TIME_BUDGET")
    status = _run_start(run_id=run_id, now=now or timezone.now())
    if status in {"skipped", "deferred"}:
        return status
    run = CampaignRun.objects.get(pk=run_id)
    if run.status == CampaignRun.Status.PLANNING:
        if run.kind == CampaignRun.Kind.AUDIENCE:
            # More planners for the same run (a test SMS has one recipient: no need). They
            # stop by themselves when nothing is left to plan (campaigns.services.planning).
            for _ in range(pipeline_setting("PLAN_WORKERS") - 1):
                async_task(PLAN_TASK, run_id)
        if not run_plan(run_id=run_id, time_budget=budget):
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
        return "requeued"
    return _run_finish(run_id=run_id)


# PAUSED: a spending limit paused the run; only campaigns.services.spend_pause resumes it.
_NOT_STARTABLE = {CampaignRun.Status.FINISHED, CampaignRun.Status.CANCELLED, CampaignRun.Status.PAUSED}


def _run_start(*, run_id: int, now: datetime) -> str:
    with transaction.atomic():
        # Lock order everywhere: campaign, then run. Race: cancel vs. start.
        campaign_id = CampaignRun.objects.values_list("campaign_id", flat=True).get(pk=run_id)
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        run = CampaignRun.objects.select_for_update().get(pk=run_id)
        if run.status in _NOT_STARTABLE:
            return "skipped"
        is_test = run.kind == CampaignRun.Kind.TEST
        if run.status != CampaignRun.Status.PENDING:
            # A run in progress finishes even if its campaign was stopped meanwhile
            # (campaign_stop): cancelling it here would strand its planned messages with
            # their parts reserved and their frequency counts taken.
            return "resumed"
        if not is_test and campaign.status not in {Campaign.Status.SCHEDULED, Campaign.Status.RUNNING}:
            run.status = CampaignRun.Status.CANCELLED
            run.save(update_fields=["status"])
            return "skipped"
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


def _run_finish(*, run_id: int) -> str:
    """Everything planned is sent: ``finished``; or ``paused`` (a spending limit held recipients
    back: they wait for its next period or the owner), or ``requeued`` (resumed meanwhile)."""
    with transaction.atomic():
        campaign_id = CampaignRun.objects.values_list("campaign_id", flat=True).get(pk=run_id)
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        run = CampaignRun.objects.select_for_update().get(pk=run_id)
        if run.status == CampaignRun.Status.PLANNING:
            return "requeued"  # race: the owner resumed it while this task dispatched
        if run.status != CampaignRun.Status.DISPATCHING:
            return "finished"
        if run.spend_paused:
            run.status = CampaignRun.Status.PAUSED
            run.save(update_fields=["status"])
            campaign_paused_notify(campaign=campaign, run=run)
            return "paused"
        run.status, run.finished_at = CampaignRun.Status.FINISHED, timezone.now()
        run.save(update_fields=["status", "finished_at"])
        # An A/B test's run is not the end: the campaign completes with its winner's run.
        one_off = (
            campaign.kind != Campaign.Kind.REPURCHASE
            and run.kind == CampaignRun.Kind.AUDIENCE
            and run.phase != CampaignRun.Phase.AB_TEST
        )
        if one_off and campaign.status == Campaign.Status.RUNNING:
            campaign.complete(at=run.finished_at)
            campaign.save()
        if run.kind != CampaignRun.Kind.TEST:
            # The outbox: the event commits with the run's end (nothing without a subscriber).
            webhook_event_emit(
                shop_id=campaign.shop_id,
                type=WebhookEventType.CAMPAIGN_FINISHED,
                data={
                    "campaign_id": campaign.pk,
                    "run_id": run.pk,
                    "name": campaign.name,
                    "kind": campaign.kind,
                    "phase": run.phase,
                    "campaign_status": campaign.status,
                    "finished_at": timezone.localtime(run.finished_at).isoformat(),
                },
            )
        # The inbox and the mail, with the run's figures, on the same commit: now if every outcome
        # is in and settled (the settlement just ran), else with the settlement of its last messages.
        runs_finished_notify(run_ids=[run_id])
    return "finished"


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


def run_dispatch(
    *, run_id: int, time_budget: float | None = None, quiet_hours: bool = True
) -> DispatchResult:
    """Hand a run's planned messages to the gateway at the configured rate.

    The marketing window is checked before each batch; once it closed, dispatch stops with
    ``retry_at`` at the next window: a run that started at 20:59 does not send its remaining
    batches after 21:00. ``quiet_hours=False`` sends at any hour; only a caller that is not
    sending to customers may say so (the dispatch benchmark, which runs at night too).

    With a gateway that sends on its own threads (``overlaps_dispatch``, the Kannel
    backend) the next batch is claimed, and the previous one recorded, while a batch is
    on the wire: at most ``DISPATCH_WINDOW`` batches are claimed and not yet recorded,
    so a worker killed mid-run leaves at most that many batches ``sending``.
    """
    started = time.monotonic()
    rate = pipeline_setting("DISPATCH_RATE")
    size = pipeline_setting("DISPATCH_BATCH")
    crash_after = pipeline_setting("CRASH_AFTER_DISPATCH_BATCHES")  # the crash tests' hook
    gateway = get_gateway()
    window = max(1, pipeline_setting("DISPATCH_WINDOW")) if gateway.overlaps_dispatch else 1
    # What does not change while the run dispatches (shop, kind, template id); the state that
    # does (shop open, category, live signature, template approval) is read per batch.
    campaign = Campaign.objects.select_related("shop").prefetch_related("variants").get(runs__id=run_id)
    in_flight: deque[PendingBatch] = deque()
    batches = 0
    try:
        while True:
            batch_started = time.monotonic()
            if quiet_hours and in_quiet_hours(now := timezone.now()):
                # What is claimed already goes out and is recorded; the rest waits, never dropped.
                while in_flight:
                    dispatch_record(results=in_flight.popleft().results())
                return DispatchResult(done=False, retry_at=next_send_window(now))
            outbound = dispatch_claim(run_id=run_id, limit=size, campaign=campaign)
            if outbound:
                in_flight.append(gateway.submit_batch(outbound))
            # Record the oldest batch once the window is full (or nothing is left to claim):
            # its answers are in by now or soon, while the newer batch keeps the connections busy.
            while in_flight and (outbound is None or len(in_flight) >= window):
                dispatch_record(results=in_flight.popleft().results())
            if outbound is None:
                return _dispatch_state(run_id)
            batches += 1
            if crash_after and batches >= crash_after:
                os._exit(17)
            if rate and outbound:
                time.sleep(max(0.0, len(outbound) / rate - (time.monotonic() - batch_started)))
            if time_budget is not None and time.monotonic() - started > time_budget:
                while in_flight:
                    dispatch_record(results=in_flight.popleft().results())
                return DispatchResult(done=False)
    finally:
        # An error above (the database went away): the batches on the wire still get their
        # answers recorded if possible; if not, they stay ``sending`` — handed over at most
        # once, settled by their delivery reports or the 72-hour sweep.
        while in_flight:
            pending = in_flight.popleft()
            try:
                dispatch_record(results=pending.results())
            except Exception:
                logger.exception("dispatch: could not record a batch; its messages stay 'sending'")
        gateway.close()


def _dispatch_state(run_id: int) -> DispatchResult:
    waiting = Message.objects.filter(run_id=run_id, status=Message.Status.PLANNED)
    retry_at = waiting.order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first()
    if retry_at is None and not waiting.exists():
        return DispatchResult(done=True)
    return DispatchResult(done=False, retry_at=retry_at or timezone.now())


def _text_frame() -> tuple[str, str, str]:
    """What ``full_text`` puts around the signature and the body: (before the signature,
    between it and the body, after the body) — so SQL can build the text ``full_text`` builds."""
    framed = full_text(signature="\x01", body="\x00")
    before, rest = framed.split("\x01")
    between, after = rest.split("\x00")
    return before, between, after


# One statement claims, re-validates and marks a batch.
# - state: the campaign's shop as ``shop_sms_state`` sees it, in its order (category
#   restricted, shop closed, no live signature, template no longer usable), and the
#   signature live *now* (at most one approved per shop: constraint
#   signature_one_live_per_shop, so this is ``reviews.selectors.live_signature``);
# - claimed: the inner SELECT ... FOR UPDATE SKIP LOCKED (race: several dispatchers of one
#   run; each gets its own rows, a row another one holds is skipped, not waited for);
#   MATERIALIZED so it runs once (a LIMIT subquery inlined into a join could be rescanned);
# - decided: per message, an opt-out since planning, and the parts with the signature live
#   now (1 up to SINGLE_PART_MAX characters, else ceil(n / MULTI_PART_SIZE), as
#   ``reviews.policy.length.count_parts``: a changed signature length must not bill
#   differently from what was reserved);
# - signed: the run keeps the signature its messages go out with (history: the campaign's
#   page shows it after the shop's signature changed), one value per run, written only when
#   it differs (the first batch, or a batch after a new signature went live);
# - the UPDATE re-checks status = 'planned' on the locked row (race: a cancel that
#   committed first). Sendable rows become 'sending' with their full text, the rest
#   'dropped' with the reason (released by the settlement).
# tests/campaigns/test_dispatch_statements.py checks each branch against the Python rules.
_CLAIM_SQL = """
WITH state AS MATERIALIZED (
    SELECT CASE
            WHEN coalesce(cat.restricted, false) THEN %(category_restricted)s
            WHEN NOT s.active THEN %(shop_inactive)s
            WHEN sig.text IS NULL THEN %(no_signature)s
            WHEN NOT %(template_ok)s THEN %(template_not_approved)s
            ELSE ''
        END AS reason,
        %(before)s || coalesce(sig.text, '') || %(between)s AS head,
        sig.text AS signature
    FROM {run} r
    JOIN {campaign} c ON c.id = r.campaign_id
    JOIN {shop} s ON s.id = c.shop_id
    LEFT JOIN {category} cat ON cat.id = s.category_id
    LEFT JOIN {signature} sig ON sig.shop_id = s.id AND sig.state = 'approved'
    WHERE r.id = %(run)s
), claimed AS MATERIALIZED (
    SELECT id FROM {message}
    WHERE run_id = %(run)s AND status = 'planned'
      AND (next_attempt_at IS NULL OR next_attempt_at <= %(now)s)
    ORDER BY id LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), decided AS MATERIALIZED (
    SELECT m.id, t.full_text,
        CASE
            WHEN st.reason <> '' THEN st.reason
            WHEN EXISTS (SELECT 1 FROM {optout} o WHERE o.shop_id = m.shop_id AND o.phone = m.phone)
                THEN %(opted_out)s
            WHEN CASE WHEN char_length(t.full_text) <= %(single)s THEN 1
                      ELSE ceil(char_length(t.full_text) / %(multi)s::numeric) END <> m.parts
                THEN %(signature_changed)s
            ELSE ''
        END AS reason
    FROM {message} m
    JOIN claimed USING (id)
    CROSS JOIN state st
    CROSS JOIN LATERAL (SELECT st.head || m.body || %(after)s AS full_text) AS t
), signed AS (
    UPDATE {run} r SET signature = st.signature
    FROM state st
    WHERE r.id = %(run)s AND st.reason = '' AND r.signature IS DISTINCT FROM st.signature
      AND EXISTS (SELECT 1 FROM decided d WHERE d.reason = '')
    RETURNING 1
)
UPDATE {message} m SET
    status = CASE WHEN d.reason = '' THEN 'sending' ELSE 'dropped' END,
    reason = d.reason,
    text = CASE WHEN d.reason = '' THEN d.full_text ELSE '' END,
    attempts = m.attempts + CASE WHEN d.reason = '' THEN 1 ELSE 0 END,
    sent_at = CASE WHEN d.reason = '' THEN %(now)s ELSE m.sent_at END,
    final_at = CASE WHEN d.reason = '' THEN m.final_at ELSE %(now)s END
FROM decided d
WHERE m.id = d.id AND m.status = 'planned'
RETURNING m.id, m.phone, m.text, m.status = 'sending', m.reason
"""


def dispatch_claim(
    *, run_id: int, limit: int, now: datetime | None = None, campaign: Campaign | None = None
) -> list[OutboundSms] | None:
    """Claim up to ``limit`` due planned messages; None when none are due.

    Claimed messages are re-validated: those that may no longer be sent become
    ``dropped`` with a reason (their parts and frequency count are released by
    the settlement), the rest ``sending`` with their full text. One statement
    (``_CLAIM_SQL``), committed on its own, nothing per message in Python; a campaign
    with a template (or A/B variants with templates) adds one query (``campaign_templates_usable``:
    an A/B campaign's run is dropped whole when any variant's template lost its approval).
    ``campaign`` (the run's, with its variants, as ``run_dispatch`` loads it once) saves reading
    it again.
    """
    now = now or timezone.now()
    if campaign is None:
        campaign = Campaign.objects.select_related("shop").prefetch_related("variants").get(runs__id=run_id)
    template_ok = campaign_templates_usable(campaign=campaign)
    before, between, after = _text_frame()
    with connection.cursor() as cursor:
        cursor.execute(
            _CLAIM_SQL.format(
                message=Message._meta.db_table,
                run=CampaignRun._meta.db_table,
                campaign=Campaign._meta.db_table,
                shop=Shop._meta.db_table,
                category=Category._meta.db_table,
                signature=Signature._meta.db_table,
                optout=OptOut._meta.db_table,
            ),
            {
                "run": run_id,
                "now": now,
                "limit": limit,
                "template_ok": template_ok,
                "before": before,
                "between": between,
                "after": after,
                "category_restricted": CATEGORY_RESTRICTED,
                "shop_inactive": SHOP_INACTIVE,
                "no_signature": NO_SIGNATURE,
                "template_not_approved": TEMPLATE_NOT_APPROVED,
                "opted_out": OPTED_OUT,
                "signature_changed": SIGNATURE_CHANGED,
                "single": SINGLE_PART_MAX,
                "multi": MULTI_PART_SIZE,
            },
        )
        rows = cursor.fetchall()
    if not rows:
        return None
    rows.sort()  # RETURNING has no order; hand over in id order
    stopped = next((reason for *_, sending, reason in rows if not sending and reason in STOP_REASONS), None)
    if stopped:
        _notify_stopped(run_id=run_id, campaign=campaign, reason=stopped)
    return [OutboundSms(message_id, phone, text) for message_id, phone, text, sending, _ in rows if sending]


def _notify_stopped(*, run_id: int, campaign: Campaign, reason: str) -> None:
    """A rule stopped the run at dispatch (the signature withdrawn or replaced, the shop closed,
    the template withdrawn since planning): tell the shop, once per run (the notice's key). The
    claim committed on its own; the notice follows in its own short transaction, only in this
    case (a crash between the two loses it only if no later batch of the run is dropped too)."""
    run = CampaignRun.objects.get(pk=run_id)
    with transaction.atomic():
        campaign_stopped_notify(campaign=campaign, run=run, reason=reason)


# One statement records a whole batch's answers. Only 'sending' rows change: a delivery
# report that arrived first (the gateway may answer before we record; race: the report
# callback and this statement on one row) moved it on already and is never overwritten.
# Its commit does not wait for the WAL flush (``commit_without_flush``; ~6 ms per batch here).
# Losing it in a database crash is safe: the rows stay 'sending' — handed over at most once,
# settled by their delivery reports or refunded by the 72-hour sweep, never sent twice. The
# claim, which is what makes the hand-over at-most-once, always commits durably.
_RECORD_SQL = """
UPDATE {message} m SET
    status = CASE WHEN u.outcome = 'accepted' THEN 'accepted'
                  WHEN u.outcome = 'rejected' OR m.attempts >= %(max_attempts)s THEN 'failed'
                  ELSE 'planned' END,
    reason = CASE WHEN u.outcome = 'rejected' THEN %(rejected)s
                  WHEN u.outcome = 'retry' AND m.attempts >= %(max_attempts)s THEN %(error)s
                  ELSE m.reason END,
    final_at = CASE WHEN u.outcome = 'rejected' OR (u.outcome = 'retry' AND m.attempts >= %(max_attempts)s)
                    THEN %(now)s ELSE m.final_at END,
    next_attempt_at = CASE WHEN u.outcome = 'retry' AND m.attempts < %(max_attempts)s
                           THEN %(now)s + make_interval(secs => %(backoff)s * 2 ^ (m.attempts - 1))
                           ELSE m.next_attempt_at END,
    sent_at = CASE WHEN u.outcome = 'retry' AND m.attempts < %(max_attempts)s THEN NULL ELSE m.sent_at END
FROM (SELECT unnest(%(accepted)s::bigint[]) AS id, 'accepted' AS outcome
      UNION ALL SELECT unnest(%(refused)s::bigint[]), 'rejected'
      UNION ALL SELECT unnest(%(retry)s::bigint[]), 'retry') AS u
WHERE m.id = u.id AND m.status = 'sending'
"""


def dispatch_record(*, results, now: datetime | None = None) -> None:
    """Record the gateway's answers in one statement (``_RECORD_SQL``): accepted →
    ``accepted``; refused → ``failed`` (``GATEWAY-REJECTED``); retryable → back to
    ``planned`` with back-off ``RETRY_BACKOFF``·2^(attempts-1), or ``failed``
    (``GATEWAY-ERROR``) after ``MAX_ATTEMPTS``."""
    if not results:
        return
    now = now or timezone.now()
    accepted = [r.message_id for r in results if r.accepted]
    retryable = [r.message_id for r in results if not r.accepted and r.retryable]
    rejected = [r.message_id for r in results if not r.accepted and not r.retryable]
    with commit_without_flush(), connection.cursor() as cursor:
        cursor.execute(
            _RECORD_SQL.format(message=Message._meta.db_table),
            {
                "accepted": sql_int_array(accepted),
                "refused": sql_int_array(rejected),
                "retry": sql_int_array(retryable),
                "max_attempts": pipeline_setting("MAX_ATTEMPTS"),
                "backoff": pipeline_setting("RETRY_BACKOFF"),
                "rejected": GATEWAY_REJECTED,
                "error": GATEWAY_ERROR,
                "now": now,
            },
        )
    if rejected or retryable:
        logger.warning("gateway: %d rejected, %d to retry", len(rejected), len(retryable))
