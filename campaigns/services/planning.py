"""Planning: turn a run's audience into message rows, in batches of PLAN_BATCH_SIZE.

One batch is one transaction, under the run's row lock:
1. read the next PLAN_BATCH_SIZE recipients after ``run.plan_cursor`` (keyset, never the whole audience);
2. a dry frequency decision sizes the batch to what the balance (and the coupon stock) can cover;
3. ``frequency_decide(commit=True)`` counts the allowed recipients, their rows are inserted
   (``INSERT ... ON CONFLICT (run, phone) DO NOTHING``), their parts reserved with
   ``account_reserve(reference="campaign:<c>:run:<r>:batch:<n>")``, coupons issued;
4. the cursor and batch number move on in the same transaction.
A killed worker loses at most the open transaction, which rolls back whole: counts,
reservation, rows and cursor together. Two workers on the same run serialise on the run row.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from campaigns.models.audience import Coupon
from campaigns.models.frequency import MessageClass
from campaigns.models.sending import Campaign, CampaignRun, Message, reservation_reference
from campaigns.selectors import run_recipients_after
from campaigns.services.campaigns import Recipient, message_for, shop_sms_state
from campaigns.services.frequency import frequency_decide
from campaigns.sqlarrays import sql_int_array, sql_text_array
from smsmarketing.errors import AccountNotActive, InsufficientBalance, SmsError
from smsmarketing.services import account_reserve

PLAN_BATCH_SIZE = 1000

INSUFFICIENT_BALANCE = "INSUFFICIENT-BALANCE"
ACCOUNT_INACTIVE = AccountNotActive.rule
COUPON_EXHAUSTED = "COUPON-EXHAUSTED"

# Test hook for the crash test: the worker dies (os._exit, no cleanup) after this many batches.
CRASH_ENV = "CAMPAIGNS_CRASH_AFTER_PLAN_BATCHES"


class CouponExhausted(SmsError):
    rule = COUPON_EXHAUSTED


@dataclass
class Row:
    recipient: Recipient
    status: str
    reason: str = ""
    body: str = ""
    parts: int = 0
    link_code: str | None = None


def run_plan(*, run_id: int, time_budget: float | None = None) -> bool:
    """Plan batches until the run is planned (True) or the time budget is spent (False)."""
    started = time.monotonic()
    batches = 0
    crash_after = int(os.environ.get(CRASH_ENV, "0") or 0)
    while True:
        if plan_batch(run_id=run_id):
            return True
        batches += 1
        if crash_after and batches >= crash_after:
            os._exit(17)
        if time_budget is not None and time.monotonic() - started > time_budget:
            return False


def plan_batch(*, run_id: int, now: datetime | None = None) -> bool:
    """Plan the next batch of a run; True when there was nothing left to plan."""
    now = now or timezone.now()
    with transaction.atomic():
        # Performance: the batch's commit does not wait for its WAL flush (this transaction
        # only). A database crash can then lose the last batches committed, always whole
        # (counts, reservation, rows and cursor together), and the planner plans them again
        # from the cursor that survived. Nothing outside depends on a lost batch: a message
        # dispatched from it is recorded by a later, durable commit, and flushing that one
        # flushes every earlier commit with it (the WAL is written in order).
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
        # Race: the same run task delivered twice runs on two workers; this row lock
        # serialises them and the cursor read under it is always the latest. Only the run's
        # row (of=self): the run services lock the campaign, then its run; a planner holding
        # the run and waiting for the campaign would close a cycle with them (deadlock).
        run = (
            CampaignRun.objects.select_for_update(of=("self",))
            .select_related("campaign__shop")
            .get(pk=run_id)
        )
        if run.status != CampaignRun.Status.PLANNING:
            return True
        recipients = run_recipients_after(run=run, cursor=run.plan_cursor, limit=PLAN_BATCH_SIZE, now=now)
        if not recipients:
            run.status = CampaignRun.Status.DISPATCHING
            run.planned_at = now
            run.save(update_fields=["status", "planned_at"])
            return True
        batch = run.batches_planned + 1
        rows = _plan_rows(run=run, recipients=recipients, batch=batch, now=now)
        _insert(run=run, rows=rows, batch=batch, now=now)
        run.plan_cursor = max(r.key for r in recipients)
        run.batches_planned = batch
        run.save(update_fields=["plan_cursor", "batches_planned"])
    return False


def _plan_rows(*, run: CampaignRun, recipients: list[Recipient], batch: int, now: datetime) -> list[Row]:
    campaign = run.campaign
    state = shop_sms_state(shop=campaign.shop, campaign=campaign)
    if state.reason:
        return [Row(r, Message.Status.SUPPRESSED, state.reason) for r in recipients]
    rows = {r.phone: Row(r, Message.Status.SUPPRESSED) for r in recipients}
    fitting, candidates, reason = _fit_whole_batch(campaign=campaign, rows=rows, signature=state.signature)
    if fitting is None:
        candidates = _dry_candidates(campaign=campaign, rows=rows, signature=state.signature, now=now)
        fitting, reason = _fit(campaign=campaign, candidates=candidates)
        for row in candidates[len(fitting) :]:
            row.reason = reason
    reference = reservation_reference(campaign_id=campaign.pk, run_id=run.pk, batch=batch)
    for attempt in range(2):
        try:
            with transaction.atomic():  # savepoint: counts, reservation and coupons together or not at all
                _commit(campaign=campaign, rows=fitting, reference=reference, now=now)
            break
        except (InsufficientBalance, AccountNotActive, CouponExhausted) as exc:
            # Race: another send spent the balance (or coupons) between the sizing and the reserve.
            for row in fitting:
                row.status, row.reason = Message.Status.SUPPRESSED, exc.rule
            if attempt == 0:
                fitting, reason = _fit(campaign=campaign, candidates=candidates)
                for row in candidates[len(fitting) :]:
                    row.reason = reason
    return list(rows.values())


def _fit_whole_batch(
    *, campaign: Campaign, rows: dict[str, Row], signature: str | None
) -> tuple[list[Row] | None, list[Row], str]:
    """Fast path (performance, docs/PERFORMANCE.md): when the balance covers the whole batch even
    if every recipient is allowed, the dry frequency decision that only sizes the batch to the
    balance is skipped and the counting decision in ``_commit`` alone decides (same decisions,
    one frequency round trip instead of two). Not for coupons: their links are drawn only for
    allowed recipients. Returns (None, [], "") when the slow path must size the batch."""
    if campaign.coupon_id:
        return None, [], ""
    everyone = list(rows.values())
    _render(campaign=campaign, rows=everyone, signature=signature, link_codes=False)
    fitting, reason = _fit(campaign=campaign, candidates=everyone)
    if len(fitting) < len(everyone):
        for row in everyone:
            row.body, row.parts = "", 0
        return None, [], ""
    return fitting, everyone, reason


def _dry_candidates(*, campaign: Campaign, rows: dict[str, Row], signature: str | None, now) -> list[Row]:
    """The recipients a dry frequency decision allows, their bodies rendered; the others get its reason."""
    recipients = [row.recipient for row in rows.values()]
    dry = frequency_decide(
        shop_id=campaign.shop_id,
        message_class=MessageClass.MARKETING,
        phones=[r.phone for r in recipients],
        at=now,
        commit=False,
    )
    candidates = []
    for decision, recipient in zip(dry, recipients, strict=True):
        row = rows[recipient.phone]
        if decision.allowed:
            candidates.append(row)
        else:
            row.reason = decision.reason or ""
    _render(campaign=campaign, rows=candidates, signature=signature, link_codes=bool(campaign.coupon_id))
    return candidates


def _render(*, campaign: Campaign, rows: list[Row], signature: str | None, link_codes: bool) -> None:
    """Fill each row's body and parts (and draw its coupon link code when ``link_codes``).

    Performance: when the body does not depend on the recipient (no coupon link; rendering
    for two different recipients gives the same text), it is rendered once for the batch."""
    if not rows:
        return
    if not link_codes:
        first, other = rows[0].recipient, Recipient(key=0, customer_id=None, phone="", name="\u2063")
        body, parts = message_for(campaign=campaign, recipient=first, signature=signature, link_code=None)
        if message_for(campaign=campaign, recipient=other, signature=signature, link_code=None)[0] == body:
            for row in rows:
                row.body, row.parts = body, parts
            return
    for row in rows:
        row.link_code = _link_code() if link_codes else None
        row.body, row.parts = message_for(
            campaign=campaign, recipient=row.recipient, signature=signature, link_code=row.link_code
        )


def _commit(*, campaign: Campaign, rows: list[Row], reference: str, now: datetime) -> None:
    decisions = frequency_decide(
        shop_id=campaign.shop_id,
        message_class=MessageClass.MARKETING,
        phones=[row.recipient.phone for row in rows],
        at=now,
        commit=True,
    )
    parts = 0
    allowed = 0
    for decision, row in zip(decisions, rows, strict=True):
        if decision.allowed:
            row.status, row.reason = Message.Status.PLANNED, ""
            parts += row.parts
            allowed += 1
        else:
            row.status, row.reason = Message.Status.SUPPRESSED, decision.reason or ""
    if parts:
        account_reserve(shop_id=campaign.shop_id, parts=parts, reference=reference)
    if campaign.coupon_id and allowed:
        # Race: two campaigns issuing the same coupon; the conditional UPDATE caps the total.
        issued = Coupon.objects.filter(
            pk=campaign.coupon_id, issued_count__lte=F("total_count") - allowed
        ).update(issued_count=F("issued_count") + allowed)
        if not issued:
            raise CouponExhausted("coupon stock ran out")


def _fit(*, campaign: Campaign, candidates: list[Row]) -> tuple[list[Row], str]:
    """The longest prefix the balance (and coupon stock) covers, and the reason for the rest."""
    from smsmarketing.models import SmsAccount

    account = SmsAccount.objects.filter(shop_id=campaign.shop_id).values("status", "balance").first()
    if account is None or account["status"] != SmsAccount.Status.ACTIVE:
        return [], ACCOUNT_INACTIVE
    budget, reason = account["balance"], INSUFFICIENT_BALANCE
    coupons = len(candidates)
    if campaign.coupon_id:
        coupon = Coupon.objects.filter(pk=campaign.coupon_id).values("total_count", "issued_count").first()
        coupons = coupon["total_count"] - coupon["issued_count"]
    fitting: list[Row] = []
    for row in candidates:
        if len(fitting) >= coupons:
            return fitting, COUPON_EXHAUSTED
        if row.parts > budget:
            return fitting, reason
        budget -= row.parts
        fitting.append(row)
    return fitting, reason


def _link_code() -> str:
    return secrets.token_urlsafe(8)[:10]


def _insert(*, run: CampaignRun, rows: list[Row], batch: int, now: datetime) -> None:
    """One set-based insert of the batch's rows, planned and suppressed.

    A replayed batch cannot duplicate a message: the unique (run, phone) index refuses the
    whole insert, so the batch rolls back with its counts and reservation (impossible under
    the run lock anyway). Performance (docs/PERFORMANCE.md): no ON CONFLICT arbitration or
    RETURNING; the columns go as PostgreSQL array literals (``campaigns.sqlarrays``), and a
    body shared by the whole batch as one value."""
    table = Message._meta.db_table
    planned_status = Message.Status.PLANNED
    planned = [row.status == planned_status for row in rows]
    bodies = {row.body for row, ok in zip(rows, planned, strict=True) if ok}
    shared_body = bodies.pop() if len(bodies) == 1 else None
    pairs = list(zip(rows, planned, strict=True))
    columns = {
        "phone": sql_text_array(r.recipient.phone for r in rows),
        "customer": sql_text_array(r.recipient.customer_id for r in rows),  # None for a test SMS
        "status": sql_text_array(r.status for r in rows),
        "reason": sql_text_array(r.reason for r in rows),
        "body": None if shared_body is not None else sql_text_array(r.body if ok else "" for r, ok in pairs),
        "parts": sql_int_array(r.parts if ok else 0 for r, ok in pairs),
        "link": sql_text_array(r.link_code if ok else None for r, ok in pairs),
    }
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {table} (campaign_id, run_id, shop_id, customer_id, phone, status, reason,
                    body, text, parts, batch, settlement, link_code, attempts, counted_at, created_at)
                SELECT %(campaign)s, %(run)s, %(shop)s, u.customer, u.phone, u.status, u.reason,
                       CASE WHEN u.status = 'planned' THEN COALESCE(%(shared_body)s, u.body) ELSE '' END,
                       '', u.parts, %(batch)s,
                       CASE WHEN u.status = 'planned' THEN 'pending' ELSE 'none' END,
                       u.link, 0, CASE WHEN u.status = 'planned' THEN %(now)s::timestamptz END, %(now)s
                FROM unnest(%(phone)s::text[], %(customer)s::bigint[], %(status)s::text[], %(reason)s::text[],
                            COALESCE(%(body)s::text[], array_fill(''::text, ARRAY[%(n)s])),
                            %(parts)s::int[], %(link)s::text[])
                     AS u(phone, customer, status, reason, body, parts, link)""",
            {
                "campaign": run.campaign_id,
                "run": run.pk,
                "shop": run.campaign.shop_id,
                "batch": batch,
                "now": now,
                "shared_body": shared_body,
                "n": len(rows),
                **columns,
            },
        )
        if cursor.rowcount != len(rows):
            raise RuntimeError(f"run {run.pk} batch {batch}: {len(rows)} rows, inserted {cursor.rowcount}")
