"""Delivery reports and settlement: delivered → charge, failed / no report → release.

``delivery_report_apply`` is the entry point for every gateway (the simulated one,
Kannel's DLR endpoint). Reports arrive out of order and twice; each changes the
message at most once, with a conditional UPDATE: an intermediate report
(``queued``/``accepted``) only moves ``sending`` to ``accepted``; a final report
(``delivered``/``failed``/``rejected``) only moves a non-final message, so a final
state is never overwritten, by an intermediate report or by another final one.

Money moves in ``delivery_settle``: it takes final, unsettled messages in
batches (``FOR UPDATE SKIP LOCKED``), charges or releases their parts with one
ledger settlement per (reservation, outcome) — not one ledger row per message —
releases the frequency counts of the ones that failed, and marks them settled,
all in one transaction (a crash rolls the whole batch back; the settlement keys
make a replay a no-op at the account).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from contextlib import nullcontext
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from campaigns.models.frequency import MessageClass
from campaigns.models.sending import DeliveryReport, Message, reservation_reference
from campaigns.services.frequency import ReleaseItem, frequency_release_many
from campaigns.services.notices import runs_finished_notify
from campaigns.services.webhooks import webhook_events_emit_messages
from smsmarketing.db import commit_without_flush
from smsmarketing.services import account_charge, account_release

QUEUED, ACCEPTED, DELIVERED, FAILED, REJECTED = "queued", "accepted", "delivered", "failed", "rejected"
REPORT_STATUSES = (QUEUED, ACCEPTED, DELIVERED, FAILED, REJECTED)
NO_REPORT = "NO-REPORT"
# No final report this long after the hand-over: the parts go back (DOMAIN.md "Length and billing").
FINAL_REPORT_DEADLINE = timedelta(hours=72)
SETTLE_BATCH = 1000


class UnknownReportStatus(ValueError):
    pass


def delivery_report_apply(*, message_id: int, status: str, at: datetime, raw: dict | None = None) -> bool:
    """Apply one delivery report; True if it changed the message, False for a duplicate,
    a late intermediate report, an unknown message or one already final.

    ``status`` is one of ``queued``, ``accepted``, ``delivered``, ``failed``,
    ``rejected``; ``at`` the time the gateway reports. Every report is kept in
    ``DeliveryReport`` (with ``raw``), applied or not. Settlement follows in
    ``delivery_settle`` (run by the caller after a batch, and every minute).
    """
    return bool(delivery_reports_apply(reports=[(message_id, status, at, raw)]))


def delivery_reports_apply(*, reports: list[tuple[int, str, datetime, dict | None]]) -> int:
    """Apply many reports ``(message_id, status, at, raw)`` set-based; returns how many changed
    a message. Reports of the same message within one call are applied in order."""
    for _id, status, _at, _raw in reports:
        if status not in REPORT_STATUSES:
            raise UnknownReportStatus(status)
    changed = 0
    while reports:
        # One report per message per statement; a second report of a message waits for the next round.
        seen: set[int] = set()
        now_, later = [], []
        for report in reports:
            (later if report[0] in seen else now_).append(report)
            seen.add(report[0])
        changed += _apply_round(now_)
        reports = later
    return changed


# Durability of a report's commit. Intermediate reports (queued/accepted) commit without
# waiting for the WAL flush (``commit_without_flush``): if a database crash loses one, the
# message stays 'sending', which a final report moves on just as well and the 72-hour sweep
# expires the same way — nothing is charged or released by it. Each final report's statement
# is its own transaction (no BEGIN/COMMIT round trips) and commits durably before Kannel is
# answered, so a final status Kannel was told we have is never lost (once
# answered 2xx, Kannel never sends that report again). Concurrent callbacks share WAL flushes
# (PostgreSQL's group commit). Intermediate and final reports go in separate statements,
# each simpler to plan than one statement deciding per row (planning was most of its cost).
_INTERMEDIATE_SQL = """
WITH r AS (
    SELECT * FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[], %s::text[])
    AS r(id, status, at, raw)),
changed AS (
    UPDATE {table} m SET status = 'accepted' FROM r
    WHERE m.id = r.id AND m.status = 'sending'
    RETURNING m.id)
INSERT INTO {log} (message_id, status, at, applied, raw, received_at, month)
SELECT r.id, r.status, r.at, EXISTS (SELECT 1 FROM changed c WHERE c.id = r.id), r.raw::jsonb, now(),
       known.month
FROM r JOIN {table} known ON known.id = r.id
RETURNING applied
"""
_FINAL_SQL = """
WITH r AS (
    SELECT * FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[], %s::text[])
    AS r(id, status, at, raw)),
changed AS (
    UPDATE {table} m SET
        status = CASE WHEN r.status = 'delivered' THEN 'delivered' ELSE 'failed' END,
        reason = CASE WHEN r.status = 'delivered' THEN m.reason ELSE 'DLR-' || upper(r.status) END,
        final_at = r.at
    FROM r
    WHERE m.id = r.id AND m.status IN ('sending', 'accepted')
    RETURNING m.id)
INSERT INTO {log} (message_id, status, at, applied, raw, received_at, month)
SELECT r.id, r.status, r.at, EXISTS (SELECT 1 FROM changed c WHERE c.id = r.id), r.raw::jsonb, now(),
       known.month
FROM r JOIN {table} known ON known.id = r.id
RETURNING applied
"""


def _apply_round(reports: list[tuple[int, str, datetime, dict | None]]) -> int:
    """Apply reports of distinct messages: the intermediate ones, then the final ones (the
    order between the two statements does not matter, no message is in both)."""
    table, log = Message._meta.db_table, DeliveryReport._meta.db_table
    intermediate = [r for r in reports if r[1] in (QUEUED, ACCEPTED)]
    final = [r for r in reports if r[1] not in (QUEUED, ACCEPTED)]
    changed = 0
    # Race: two reports of one message applied at once (two HTTP callbacks); each UPDATE
    # re-checks the status under the row lock, so the loser matches no row. A final state
    # is never left: intermediate reports only move 'sending', finals only non-finals.
    # Intermediate reports commit without the flush, finals durably (the comment above).
    for group, sql, durable in ((intermediate, _INTERMEDIATE_SQL, False), (final, _FINAL_SQL, True)):
        if not group:
            continue
        ids, statuses, times, raws = (list(column) for column in zip(*group, strict=True))
        raws = [json.dumps(raw, ensure_ascii=False) if raw is not None else None for raw in raws]
        with nullcontext() if durable else commit_without_flush(), connection.cursor() as cursor:
            cursor.execute(sql.format(table=table, log=log), [ids, statuses, times, raws])
            changed += sum(1 for (applied,) in cursor.fetchall() if applied)
    return changed


def delivery_expire_stale(*, now: datetime | None = None) -> int:
    """Messages handed over more than 72 hours ago without a final report: expired (released)."""
    now = now or timezone.now()
    return Message.objects.filter(
        status__in=[Message.Status.SENDING, Message.Status.ACCEPTED], sent_at__lt=now - FINAL_REPORT_DEADLINE
    ).update(status=Message.Status.EXPIRED, reason=NO_REPORT, final_at=now)


def delivery_settle(*, limit: int = SETTLE_BATCH) -> int:
    """Settle final messages in batches until none is left; returns how many were settled."""
    total = 0
    while settled := _settle_batch(limit=limit):
        total += settled
    return total


def _settle_batch(*, limit: int) -> int:
    table = Message._meta.db_table
    finals = [s.value for s in Message.FINAL]
    with transaction.atomic():
        with connection.cursor() as cursor:
            # Race: two settlers (the periodic task and a gateway's report batch);
            # SKIP LOCKED gives each different messages, the settlement flag is the guard.
            cursor.execute(
                f"""SELECT id, campaign_id, run_id, batch, parts, status, shop_id, phone, counted_at
                    FROM {table} WHERE settlement = 'pending' AND status = ANY(%s)
                    ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED""",
                [finals, limit],
            )
            rows = cursor.fetchall()
        if not rows:
            return 0
        groups: dict[tuple[int, str, str], list] = defaultdict(list)
        released = []
        for row in rows:
            message_id, campaign_id, run_id, batch, parts, status, shop_id, phone, counted_at = row
            outcome = "charge" if status == Message.Status.DELIVERED else "release"
            groups[
                (shop_id, reservation_reference(campaign_id=campaign_id, run_id=run_id, batch=batch), outcome)
            ].append((message_id, parts))
            if outcome == "release" and counted_at is not None:
                released.append(
                    ReleaseItem(
                        shop_id=shop_id,
                        message_class=MessageClass.MARKETING,
                        phone=phone,
                        accepted_at=counted_at,
                    )
                )
        # Race: planners lock the frequency counters, then their shop's account (planning's
        # _commit); settling in the other order deadlocked against them (the chaos soak, two
        # shops at once). So the counters first, then the accounts in shop order.
        if released:
            frequency_release_many(released)
        for (_shop, reference, outcome), items in sorted(groups.items()):
            parts = sum(p for _, p in items)
            if not parts:
                continue
            ids = ",".join(str(i) for i, _ in items)
            key = f"settle:{outcome}:{reference}:{hashlib.sha1(ids.encode()).hexdigest()[:16]}"
            settle = account_charge if outcome == "charge" else account_release
            settle(reference=reference, parts=parts, key=key)
        charged = [r[0] for r in rows if r[5] == Message.Status.DELIVERED]
        Message.objects.filter(pk__in=charged).update(settlement=Message.Settlement.CHARGED)
        Message.objects.filter(pk__in=[r[0] for r in rows if r[0] not in set(charged)]).update(
            settlement=Message.Settlement.RELEASED
        )
        # The outbox: each final message is settled once, so its webhook event is written once,
        # with its settlement (one indexed query when no shop of the batch has an endpoint).
        webhook_events_emit_messages(message_ids=[r[0] for r in rows], shop_ids={r[6] for r in rows})
        # The runs whose last outcomes this batch settled are complete: their finished notice, with
        # final figures, commits with it (one statement for the batch's runs, usually one).
        runs_finished_notify(run_ids={r[2] for r in rows})
    return len(rows)
