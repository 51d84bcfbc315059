"""Planning: turn a run's audience into message rows, in batches of ``PLAN_BATCH`` recipients
(``campaigns.services.pipeline``).

Several planners can plan one run at once (the run task and ``PLAN_WORKERS - 1`` helper
tasks, ``campaigns.tasks.plan_run_part``): planning is CPU work in Python and in PostgreSQL,
so two planners use both cores of a small server. A batch takes two transactions:

1. **claim** (short, one claimer at a time): under the run row locked ``FOR NO KEY UPDATE``,
   find the key of the ``PLAN_BATCH``-th next recipient after ``run.plan_cursor``, store
   the range as a ``PlanBatch`` row numbered ``run.batches_planned + 1`` and move the cursor
   and the counter to it. Claimers serialise on the run row; planners do not wait for them.
2. **plan**, under the run row locked ``FOR KEY SHARE`` (planners do not block each other
   nor the claimers) and the batch row ``FOR UPDATE SKIP LOCKED``: read the range's
   recipients, a dry frequency decision sizes the batch to what the balance (and the coupon
   stock) can cover, ``frequency_decide(commit=True)`` counts the allowed ones, all rows are
   inserted, their parts reserved with ``account_reserve(reference="campaign:<c>:run:<r>:batch:<n>")``
   and coupons issued (last: the shop's account row is shared by the planners of a run, so
   it is held only until the commit), and the batch row is marked planned.

When nothing is left to claim, a planner locks the run ``FOR UPDATE``, which waits for every
planner still planning a batch (their ``KEY SHARE``), and moves the run to dispatching if
every claimed batch is planned. Every other writer of a run's status locks it ``FOR UPDATE``
too (``select_for_update()``), so a run never stops planning under a planner's feet.

A killed planner loses at most its open transaction, which rolls back whole (counts,
reservation, rows, the batch's ``planned_at``); its claimed batch stays unplanned and
unlocked, and the next planner takes it (``SKIP LOCKED``), so nothing is planned twice
(the batch row lock, and the unique (run, phone) index) and nothing is skipped.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import date, datetime

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models.audience import Coupon
from campaigns.models.frequency import MessageClass
from campaigns.models.sending import (
    Campaign,
    CampaignRun,
    CampaignVariant,
    Message,
    PlanBatch,
    reservation_reference,
)
from campaigns.selectors import Recipient, run_recipients_after, run_recipients_last_key
from campaigns.services.campaigns import (
    campaign_source_text,
    message_for,
    shop_sms_state,
    short_link,
    variant_content,
)
from campaigns.services.frequency import frequency_decide
from campaigns.services.links import LINK_CODE_LENGTH, link_code_new, text_has_link
from campaigns.services.message_partitions import message_month_ensure
from campaigns.services.notices import balance_exhausted_notify, campaign_stopped_notify
from campaigns.services.pipeline import pipeline_setting
from campaigns.services.variants import run_split
from campaigns.sqlarrays import sql_int_array, sql_text_array
from smsmarketing.db import commit_without_flush
from smsmarketing.errors import AccountNotActive, InsufficientBalance, SmsError, SpendLimitReached
from smsmarketing.models import SmsAccount
from smsmarketing.services import account_reserve
from smsmarketing.services.spend_limits import DAY, period_end, spend_limit_state

INSUFFICIENT_BALANCE = "INSUFFICIENT-BALANCE"
ACCOUNT_INACTIVE = AccountNotActive.rule
COUPON_EXHAUSTED = "COUPON-EXHAUSTED"
# Beyond the account's daily or monthly spending limit (docs/SPEND_LIMITS.md): the run pauses,
# and these rows are planned again when it resumes (``campaigns.services.spend_pause``).
SPEND_LIMIT = SpendLimitReached.rule
# Rendered in place of a message's link code when one body serves a whole batch, then replaced
# by each row's own code: as long as a code, so the parts counted are the real message's.
LINK_CODE_PLACEHOLDER = "\u2063" * LINK_CODE_LENGTH


class CouponExhausted(SmsError):
    rule = COUPON_EXHAUSTED


@dataclass(slots=True)
class Row:
    recipient: Recipient
    status: str
    reason: str = ""
    body: str = ""
    parts: int = 0
    link_code: str | None = None
    variant: CampaignVariant | None = None  # an A/B run's: the variant this recipient is sent


def run_plan(*, run_id: int, time_budget: float | None = None) -> bool:
    """Plan batches until the run is planned (True) or the time budget is spent (False)."""
    started = time.monotonic()
    batches = 0
    # Its month's partitions exist before the first insert (docs/RETENTION.md; the nightly task
    # creates them ahead, this covers a run of a month it has not reached).
    month = CampaignRun.objects.filter(pk=run_id).values_list("month", flat=True).first()
    if month is not None:
        message_month_ensure(month)
    # The crash tests' hook: the worker dies (os._exit, no cleanup) after this many batches.
    crash_after = pipeline_setting("CRASH_AFTER_PLAN_BATCHES")
    while True:
        if plan_batch(run_id=run_id):
            return True
        batches += 1
        if crash_after and batches >= crash_after:
            os._exit(17)
        if time_budget is not None and time.monotonic() - started > time_budget:
            return False


def plan_batch(*, run_id: int, now: datetime | None = None) -> bool:
    """Plan one batch of a run; True when there is nothing left for this planner to do
    (the run moved on to dispatching, or is not planning)."""
    now = now or timezone.now()
    planned = _plan_claimed(run_id=run_id, now=now)
    if planned is not None:
        return planned is _STOPPED
    number = _claim(run_id=run_id, now=now)
    if number is _STOPPED:
        return True
    if number is None:
        return _finish(run_id=run_id, now=now)
    # Usually this planner plans the batch it claimed; if another one took it meanwhile
    # (SKIP LOCKED), the next call finds the next unplanned batch or claims one.
    _plan_claimed(run_id=run_id, now=now, number=number)
    return False


_STOPPED = object()  # the run is not planning (any more)
_PLANNED = object()


def _claim(*, run_id: int, now: datetime):
    """Claim the next batch of the run: its number, None when no recipient is left, or _STOPPED."""
    with transaction.atomic():
        # Race: two planners claiming at once serialise on the run row (FOR NO KEY UPDATE
        # conflicts with itself, not with the planners' KEY SHARE), so each range is claimed
        # once and numbers follow the cursor; the unique (run, number) index backs it.
        run = (
            CampaignRun.objects.select_for_update(no_key=True, of=("self",))
            .select_related("campaign")
            .get(pk=run_id)
        )
        if run.status != CampaignRun.Status.PLANNING:
            return _STOPPED
        if run.spend_paused:
            return None  # a spending limit paused the run: the rest waits (_finish moves it on)
        size = pipeline_setting("PLAN_BATCH")
        last = run_recipients_last_key(run=run, cursor=run.plan_cursor, limit=size, now=now)
        if last is None:
            return None
        number = run.batches_planned + 1
        PlanBatch.objects.create(run_id=run.pk, number=number, after_key=run.plan_cursor, upto_key=last)
        run.plan_cursor, run.batches_planned = last, number
        run.save(update_fields=["plan_cursor", "batches_planned"])
    return number


def _plan_claimed(*, run_id: int, now: datetime, number: int | None = None):
    """Plan a claimed, unplanned batch of the run (``number``, else the first one no other
    planner holds): _PLANNED, _STOPPED, or None when there is none to take."""
    # Performance: the batch's commit does not wait for its WAL flush. A database crash can
    # then lose the last batches committed, always whole (counts, reservation, rows and
    # planned_at together), and a planner plans them again: the claim row is there,
    # unplanned. Nothing outside depends on a lost batch: a message dispatched from it is
    # recorded by a later, durable commit, and flushing that one flushes every earlier commit
    # with it (the WAL is written in order).
    with commit_without_flush():
        with connection.cursor() as cursor:
            # Performance: the frequency statements look a batch's phones up in the counter
            # tables by primary key (= ANY of the batch's phones). With the default
            # random_page_cost (4, for spinning disks) PostgreSQL switches to a sequential scan
            # of the whole table once a batch holds more than about 1,500 phones and the table
            # is under a few hundred thousand rows (50 ms instead of 2-7 ms at 2,000 phones).
            # The counters of the last days are small and cached: price a random read as such.
            cursor.execute("SET LOCAL random_page_cost = 1.1")
            # Race: the run's status cannot change while this batch is planned: every status
            # change locks the run FOR UPDATE, which waits for this KEY SHARE. KEY SHARE (not
            # SHARE) so that claimers, which update the run's cursor, do not wait for planners.
            cursor.execute(
                f"SELECT status FROM {CampaignRun._meta.db_table} WHERE id = %s FOR KEY SHARE", [run_id]
            )
            row = cursor.fetchone()
            if row is None or row[0] != CampaignRun.Status.PLANNING:
                return _STOPPED
            # Race: two planners taking the same batch; the row lock gives it to one, the
            # other skips to the next (or finds none). A batch left by a killed planner is
            # unlocked again, so it is taken over.
            cursor.execute(
                f"""SELECT id, number, after_key, upto_key, replans FROM {PlanBatch._meta.db_table}
                    WHERE run_id = %s AND planned_at IS NULL AND (%s::int IS NULL OR number = %s)
                    ORDER BY number LIMIT 1 FOR UPDATE SKIP LOCKED""",
                [run_id, number, number],
            )
            claimed = cursor.fetchone()
            if claimed is None:
                return None
            batch_id, number, after_key, upto_key, replans = claimed
        run = CampaignRun.objects.select_related("campaign__shop").get(pk=run_id)
        recipients = run_recipients_after(run=run, cursor=after_key, upto=upto_key, limit=None, now=now)
        if replans is not None:
            recipients = _held_back(run=run, batch=replans, recipients=recipients)
        limited = bool(recipients) and _plan_rows(run=run, recipients=recipients, batch=number, now=now)
        PlanBatch.objects.filter(pk=batch_id).update(planned_at=now)
    if limited:
        _spend_pause(run=run, now=now)
    return _PLANNED


def _held_back(*, run: CampaignRun, batch: int, recipients: list[Recipient]) -> list[Recipient]:
    """A resumed run's re-planning of batch ``batch``: delete its SPEND-LIMIT rows (in the
    planner's transaction: a killed planner rolls the delete back with the rest) and return
    those of the range's recipients they were for, to be planned again as a new batch."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {Message._meta.db_table} WHERE run_id = %s AND batch = %s AND status = %s"
            " AND reason = %s RETURNING phone",
            [run.pk, batch, Message.Status.SUPPRESSED, SPEND_LIMIT],
        )
        phones = {row[0] for row in cursor.fetchall()}
    return [r for r in recipients if r.phone in phones]


def _spend_pause(*, run: CampaignRun, now: datetime) -> None:
    """A batch met the spending limit: pause the run until the end of the cap's period.

    After the batch's commit, in its own statement (the planner held the run only FOR KEY
    SHARE). Race: several planners of the run meet the limit at once; the first one stamps
    the period, the others change nothing (``spend_paused = ''``)."""
    account_id = SmsAccount.objects.filter(shop_id=run.campaign.shop_id).values_list("pk", flat=True).first()
    period = (spend_limit_state(account_id=account_id, at=now).binding or DAY) if account_id else DAY
    CampaignRun.objects.filter(pk=run.pk, spend_paused="").update(
        spend_paused=period, spend_resume_at=period_end(period, now)
    )


def _finish(*, run_id: int, now: datetime) -> bool:
    """Nothing left to claim: move the run on once every claimed batch is planned.

    True when the run is no longer planning; False when a batch is still unplanned (left by a
    killed planner: the caller plans it next) or recipients arrived since the last claim."""
    with transaction.atomic():
        # Race: planners still planning a batch hold the run FOR KEY SHARE; FOR UPDATE waits
        # for all of them, and no planner starts a batch until this commits.
        run = CampaignRun.objects.select_for_update(of=("self",)).select_related("campaign").get(pk=run_id)
        if run.status != CampaignRun.Status.PLANNING:
            return True
        if PlanBatch.objects.filter(run_id=run_id, planned_at__isnull=True).exists():
            return False
        if (
            not run.spend_paused
            and run_recipients_last_key(run=run, cursor=run.plan_cursor, limit=1, now=now) is not None
        ):
            return False
        run.status = CampaignRun.Status.DISPATCHING
        run.planned_at = now
        run.save(update_fields=["status", "planned_at"])
    return True


def _plan_rows(*, run: CampaignRun, recipients: list[Recipient], batch: int, now: datetime) -> bool:
    """Decide, count, insert and reserve one batch's rows (inside the caller's transaction).

    True when the spending limit held some of them back (``SPEND_LIMIT``): the run pauses."""
    campaign = run.campaign
    # Holdout and A/B tests (campaigns.services.variants): which of the batch this run sends,
    # with which variant, and who is held out; None for a plain run (everyone is sent).
    split = run_split(run=run, recipients=recipients)
    held: list[Recipient] = []
    if split is not None:
        recipients, held = split.sent, split.held
        if not recipients and not held:
            return False  # the batch is the other run's (an A/B test's rest, or its test share)
    state = shop_sms_state(shop=campaign.shop, campaign=campaign)
    if state.reason:
        _insert(
            run=run,
            rows=[Row(r, Message.Status.SUPPRESSED, state.reason) for r in (*recipients, *held)],
            batch=batch,
            now=now,
        )
        # The run is stopped by a rule (no signature, shop closed ...): tell the shop, once per run.
        campaign_stopped_notify(campaign=campaign, run=run, reason=state.reason)
        return False
    if split is None:
        rows = {r.phone: Row(r, Message.Status.SUPPRESSED) for r in recipients}
    else:
        variant_of = split.variant_of
        suppressed = Message.Status.SUPPRESSED
        rows = {r.phone: Row(r, suppressed, variant=variant_of.get(r.phone)) for r in recipients}
    everyone = list(rows.values()) + _held_rows(campaign=campaign, held=held, now=now)
    fitting, candidates, reason = _fit_whole_batch(
        campaign=campaign, rows=rows, signature=state.signature, month=run.month
    )
    if fitting is None:
        candidates = _dry_candidates(
            campaign=campaign, rows=rows, signature=state.signature, now=now, month=run.month
        )
        fitting, reason = _fit(campaign=campaign, candidates=candidates)
        for row in candidates[len(fitting) :]:
            row.reason = reason
    reference = reservation_reference(campaign_id=campaign.pk, run_id=run.pk, batch=batch)
    for attempt in range(2):
        try:
            # Savepoint: counts, rows, reservation and coupons together or not at all.
            with transaction.atomic():
                _commit(run=run, rows=fitting, everyone=everyone, reference=reference, batch=batch, now=now)
            _notify_suppressed(run=run, rows=everyone)
            return any(row.reason == SPEND_LIMIT for row in everyone)
        except (InsufficientBalance, AccountNotActive, CouponExhausted, SpendLimitReached) as exc:
            # Race: another send spent the balance (or coupons) between the sizing and the reserve.
            for row in fitting:
                row.status, row.reason = Message.Status.SUPPRESSED, exc.rule
            if attempt == 0:
                fitting, reason = _fit(campaign=campaign, candidates=candidates)
                for row in candidates[len(fitting) :]:
                    row.reason = reason
    _insert(run=run, rows=everyone, batch=batch, now=now)
    _notify_suppressed(run=run, rows=everyone)
    return any(row.reason == SPEND_LIMIT for row in everyone)


def _notify_suppressed(*, run: CampaignRun, rows: list[Row]) -> None:
    """Tell the shop when the batch suppressed recipients for want of balance, or because the
    account is not active (the run cannot send): one notice per run (its event key), raised in
    the batch's transaction; one query for the balance, only when it happens."""
    reasons = {row.reason for row in rows}
    campaign = run.campaign
    if ACCOUNT_INACTIVE in reasons:
        campaign_stopped_notify(campaign=campaign, run=run, reason=ACCOUNT_INACTIVE)
    if INSUFFICIENT_BALANCE in reasons:
        account = SmsAccount.objects.filter(shop_id=campaign.shop_id)
        balance = account.values_list("balance", flat=True).first() or 0
        balance_exhausted_notify(campaign=campaign, run=run, balance=balance)


def _fit_whole_batch(
    *, campaign: Campaign, rows: dict[str, Row], signature: str | None, month: date
) -> tuple[list[Row] | None, list[Row], str]:
    """Fast path (performance, docs/PERFORMANCE.md): when the balance covers the whole batch even
    if every recipient is allowed, the dry frequency decision that only sizes the batch to the
    balance is skipped and the counting decision in ``_commit`` alone decides (same decisions,
    one frequency round trip instead of two). Not for coupons: their stock must size the batch.
    Returns (None, [], "") when the slow path must size the batch."""
    if campaign.coupon_id:
        return None, [], ""
    everyone = list(rows.values())
    _render_variants(campaign=campaign, rows=everyone, signature=signature, month=month)
    fitting, reason = _fit(campaign=campaign, candidates=everyone)
    if len(fitting) < len(everyone):
        for row in everyone:
            row.body, row.parts = "", 0
        return None, [], ""
    return fitting, everyone, reason


def _dry_candidates(
    *, campaign: Campaign, rows: dict[str, Row], signature: str | None, now, month: date
) -> list[Row]:
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
    _render_variants(campaign=campaign, rows=candidates, signature=signature, month=month)
    return candidates


def _held_rows(*, campaign: Campaign, held: list[Recipient], now: datetime) -> list[Row]:
    """The held-out recipients' rows: ``holdout`` for those the campaign would have sent (the same
    frequency decision as the sent group, taken dry: nothing counted, locked or reserved), else
    ``suppressed`` with the reason, as they would have been. No body, parts or link code."""
    if not held:
        return []
    decisions = frequency_decide(
        shop_id=campaign.shop_id,
        message_class=MessageClass.MARKETING,
        phones=[r.phone for r in held],
        at=now,
        commit=False,
    )
    return [
        Row(r, Message.Status.HOLDOUT) if d.allowed else Row(r, Message.Status.SUPPRESSED, d.reason or "")
        for d, r in zip(decisions, held, strict=True)
    ]


def _render_variants(*, campaign: Campaign, rows: list[Row], signature: str | None, month: date) -> None:
    """``_render`` the rows with the campaign's content, or an A/B run's rows variant by variant
    (every row of an A/B run has one), each with its variant's content."""
    if not rows or rows[0].variant is None:
        _render(
            campaign=campaign, rows=rows, signature=signature, link_codes=_has_link(campaign), month=month
        )
        return
    groups: dict[int, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.variant.pk, []).append(row)
    for group in groups.values():
        content = variant_content(campaign=campaign, variant=group[0].variant)
        _render(campaign=content, rows=group, signature=signature, link_codes=_has_link(content), month=month)


def _has_link(campaign: Campaign) -> bool:
    """Whether the campaign's messages carry a short link, each message then its own code."""
    return text_has_link(campaign_source_text(campaign=campaign))


def _render(
    *, campaign: Campaign, rows: list[Row], signature: str | None, link_codes: bool, month: date
) -> None:
    """Fill each row's body and parts (and draw its own short-link code when ``link_codes``).

    Performance: when the body does not depend on the recipient (rendering for two different
    recipients gives the same text), it is rendered once for the batch, with a placeholder
    for the link that each row's code then replaces."""
    if not rows:
        return
    placeholder = LINK_CODE_PLACEHOLDER if link_codes else None
    first, other = rows[0].recipient, Recipient(key=0, customer_id=None, phone="", name="\u2063")
    body, parts = message_for(campaign=campaign, recipient=first, signature=signature, link_code=placeholder)
    if message_for(campaign=campaign, recipient=other, signature=signature, link_code=placeholder)[0] == body:
        link = short_link(LINK_CODE_PLACEHOLDER)
        for row in rows:
            row.link_code = link_code_new(month=month) if link_codes else None
            row.body = body.replace(link, short_link(row.link_code)) if link_codes else body
            row.parts = parts
        return
    for row in rows:
        row.link_code = link_code_new(month=month) if link_codes else None
        row.body, row.parts = message_for(
            campaign=campaign, recipient=row.recipient, signature=signature, link_code=row.link_code
        )


def _commit(
    *, run: CampaignRun, rows: list[Row], everyone: list[Row], reference: str, batch: int, now: datetime
) -> None:
    """Count the allowed ``rows``, insert ``everyone``'s message rows, then reserve and issue.

    The reservation and the coupon update come last: they lock the shop's account row (and
    the coupon's), which the other planners of the run need too, so they are held only from
    here to the commit, not while the frequency decision and the insert run."""
    campaign = run.campaign
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
    _insert(run=run, rows=everyone, batch=batch, now=now)
    if parts:
        # The label is what 消费记录 shows for this batch's reserve, charges and refunds.
        account_reserve(
            shop_id=campaign.shop_id,
            parts=parts,
            reference=reference,
            label=_("营销任务「{name}」").format(name=campaign.name),
        )
    if campaign.coupon_id and allowed:
        # Race: two campaigns issuing the same coupon; the conditional UPDATE caps the total.
        issued = Coupon.objects.filter(
            pk=campaign.coupon_id, issued_count__lte=F("total_count") - allowed
        ).update(issued_count=F("issued_count") + allowed)
        if not issued:
            raise CouponExhausted("coupon stock ran out")


def _fit(*, campaign: Campaign, candidates: list[Row]) -> tuple[list[Row], str]:
    """The longest prefix the balance, the spending limits (and coupon stock) cover, and the
    reason for the rest: the tighter of balance and caps names it (a tie: the balance)."""
    account = SmsAccount.objects.filter(shop_id=campaign.shop_id).values("pk", "status", "balance").first()
    if account is None or account["status"] != SmsAccount.Status.ACTIVE:
        return [], ACCOUNT_INACTIVE
    budget, reason = account["balance"], INSUFFICIENT_BALANCE
    left = spend_limit_state(account_id=account["pk"]).left
    if left is not None and left < budget:
        budget, reason = left, SPEND_LIMIT
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


def _insert(*, run: CampaignRun, rows: list[Row], batch: int, now: datetime) -> None:
    """One set-based insert of the batch's rows, planned, suppressed and held out.

    A replayed batch cannot duplicate a message: the unique (run, phone) index refuses the
    whole insert, so the batch rolls back with its counts and reservation (impossible under
    the batch row's lock anyway). Performance (docs/PERFORMANCE.md): no ON CONFLICT arbitration or
    RETURNING; the columns go as PostgreSQL array literals (``campaigns.sqlarrays``), and a
    body shared by the whole batch as one value. ``COPY ... FROM STDIN`` was tried instead and
    measured no faster here (8.0-9.7 vs 9.2-10.8 us of backend CPU per row, three in-process
    pairs of 100,000), so the plain statement stays."""
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
        # An A/B run's planned rows name their variant; a plain run's column is all NULL (no array).
        "variant": (
            sql_text_array(r.variant.pk if ok and r.variant is not None else None for r, ok in pairs)
            if any(r.variant is not None for r in rows)
            else None
        ),
    }
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {table} (campaign_id, run_id, shop_id, customer_id, phone, status, reason,
                    body, text, parts, batch, settlement, link_code, variant_id, attempts, counted_at,
                    created_at, month)
                SELECT %(campaign)s, %(run)s, %(shop)s, u.customer, u.phone, u.status, u.reason,
                       CASE WHEN u.status = 'planned' THEN COALESCE(%(shared_body)s, u.body) ELSE '' END,
                       '', u.parts, %(batch)s,
                       CASE WHEN u.status = 'planned' THEN 'pending' ELSE 'none' END,
                       u.link, u.variant, 0, CASE WHEN u.status = 'planned' THEN %(now)s::timestamptz END,
                       %(now)s, %(month)s
                FROM unnest(%(phone)s::text[], %(customer)s::bigint[], %(status)s::text[], %(reason)s::text[],
                            COALESCE(%(body)s::text[], array_fill(''::text, ARRAY[%(n)s])),
                            %(parts)s::int[], %(link)s::text[],
                            COALESCE(%(variant)s::bigint[], array_fill(NULL::bigint, ARRAY[%(n)s])))
                     AS u(phone, customer, status, reason, body, parts, link, variant)""",
            {
                "campaign": run.campaign_id,
                "run": run.pk,
                "shop": run.campaign.shop_id,
                "month": run.month,
                "batch": batch,
                "now": now,
                "shared_body": shared_body,
                "n": len(rows),
                **columns,
            },
        )
        if cursor.rowcount != len(rows):
            raise RuntimeError(f"run {run.pk} batch {batch}: {len(rows)} rows, inserted {cursor.rowcount}")
