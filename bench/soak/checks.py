"""What the soak checks once every run is over (each check one function, one line of the report).

- caps: the frequency service's replay (``frequency_replay``: the default rules, an empty
  history, rolled back) over every message that was counted, in the order they were counted,
  released ones marked failed; a message the model refuses was sent over a cap;
- no duplicate (run, phone) row; no message handed over twice (the SMSC's log of what it
  received, or the simulated gateway's hand-over log);
- ``reconcile_ledger``; ``reconcile_stats`` (the results counters against the rows); the
  statistics of every campaign against the ledger (parts charged, refunded, still reserved, per
  campaign, from the messages vs. from the reservations);
- every opt-out honoured: no message of a shop to a phone handed over after the phone opted out
  of that shop (1 s of grace: a claim that began before the opt-out's commit);
- replayed reports changed nothing;
- the gap in dispatch after each fault: from the fault to the next hand-over, when work was due.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from django.core.management import call_command
from django.db.models import Count, F, Min, Q, Sum

from bench.soak.faults import Fault, Replayed
from campaigns.models import Campaign, Message
from campaigns.models.frequency import MessageClass, OptOut
from campaigns.selectors import campaign_statistics
from campaigns.services.frequency import ReplayEvent, frequency_replay
from smsmarketing.models import Reservation

OPTOUT_GRACE = timedelta(seconds=1)
RELEASED = (Message.Status.FAILED, Message.Status.EXPIRED, Message.Status.DROPPED)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"  {'OK  ' if self.ok else 'FAIL'} {self.name}: {self.detail}"


def caps(*, shop_ids: list[int]) -> Check:
    counted = (
        Message.objects.filter(shop_id__in=shop_ids, counted_at__isnull=False)
        .order_by("counted_at", "id")
        .values_list("shop_id", "phone", "counted_at", "status")
    )
    events = [
        ReplayEvent(at=at, shop=str(shop), phone=phone, message_class=MessageClass.MARKETING,
                    failed=status in RELEASED)
        for shop, phone, at, status in counted
    ]  # fmt: skip
    refused = Counter(d.reason for d in frequency_replay(events=events) if not d.allowed)
    detail = f"frequency replay of {len(events):,} counted messages: {sum(refused.values())} refused"
    if refused:
        detail += " (" + ", ".join(f"{reason} {n}" for reason, n in refused.most_common()) + ")"
    return Check("caps never exceeded", not refused, detail)


def duplicate_rows(*, shop_ids: list[int]) -> Check:
    twice = (
        Message.objects.filter(shop_id__in=shop_ids).values("run_id", "phone")
        .annotate(n=Count("id")).filter(n__gt=1).count()
    )  # fmt: skip
    return Check("no duplicate (run, phone)", twice == 0, f"{twice} (run, phone) pairs with two rows or more")


def handovers(*, gateway: str, handed_over: list, shop_ids: list[int]) -> Check:
    handed = Message.objects.filter(shop_id__in=shop_ids, sent_at__isnull=False).count()
    twice = sum(1 for n in Counter(handed_over).values() if n > 1)
    side = "the SMSC received" if gateway == "kannel" else "the gateway took"
    detail = f"{side} {len(handed_over):,} messages ({handed:,} handed over by the app), {twice} twice"
    return Check("no message handed over twice", twice == 0, detail)


def ledger() -> Check:
    out = io.StringIO()
    try:
        call_command("reconcile_ledger", stdout=out, stderr=out)
        clean = True
    except SystemExit as exc:
        clean = exc.code in (0, None)
    last = out.getvalue().strip().splitlines()
    return Check("reconcile_ledger clean", clean, last[-1] if last else "(no output)")


def counters() -> Check:
    """The results counters (kept by the message table's triggers) against a recount of the rows."""
    out = io.StringIO()
    try:
        call_command("reconcile_stats", stdout=out, stderr=out)
        clean = True
    except SystemExit as exc:
        clean = exc.code in (0, None)
    last = out.getvalue().strip().splitlines()
    return Check("reconcile_stats clean", clean, last[-1] if last else "(no output)")


def statistics(*, shop_ids: list[int]) -> Check:
    """Each campaign's statistics (from its messages) against its reservations (the ledger side)."""
    wrong = []
    campaigns = Campaign.objects.filter(shop_id__in=shop_ids)
    for campaign in campaigns:
        stats = campaign_statistics(campaign=campaign)
        held = Reservation.objects.filter(reference__startswith=f"campaign:{campaign.pk}:run:").aggregate(
            all_charged=Sum("charged"),
            all_released=Sum("released"),
            all_open=Sum(F("parts") - F("charged") - F("released")),
        )
        figures = (stats.parts_charged, stats.parts_refunded, stats.parts_reserved)
        ledger_side = (held["all_charged"] or 0, held["all_released"] or 0, held["all_open"] or 0)
        if figures != ledger_side:
            wrong.append(f"campaign {campaign.pk}: statistics {figures} vs reservations {ledger_side}")
    detail = f"{campaigns.count()} campaigns: parts charged, refunded and reserved as the ledger has them"
    if wrong:
        detail = f"{len(wrong)} of {campaigns.count()} campaigns differ: " + "; ".join(wrong[:5])
    return Check("statistics reconcile with the ledger", not wrong, detail)


def optouts(*, shop_ids: list[int]) -> Check:
    late = 0
    optouts = OptOut.objects.filter(shop_id__in=shop_ids)
    for optout in optouts:
        late += Message.objects.filter(
            shop_id=optout.shop_id, phone=optout.phone, sent_at__gt=optout.created_at + OPTOUT_GRACE
        ).count()
    dropped = Message.objects.filter(
        shop_id__in=shop_ids, status=Message.Status.DROPPED, reason="OPTED-OUT"
    ).count()
    return Check(
        "every opt-out honoured", late == 0,
        f"{optouts.count()} opt-outs, {late} messages handed over after one "
        f"({dropped} planned messages dropped at dispatch for an opt-out since planning)",
    )  # fmt: skip


def replays(replayed: Replayed) -> Check:
    moved = [
        (message_id, before, after)
        for message_id, before, after in (
            (m, replayed.before[m], s)
            for m, s in Message.objects.filter(pk__in=list(replayed.before)).values_list("pk", "status")
        )
        if before != after
    ]
    detail = (
        f"{replayed.sent} reports replayed for {len(replayed.before)} final messages "
        f"({replayed.refused} not answered 200), {len(moved)} messages changed"
    )
    return Check("replayed reports changed nothing", not moved, detail)


def gaps(*, faults: list[Fault], shop_ids: list[int], limit: float) -> tuple[Check, list[float | None]]:
    """For each fault, seconds from it to the next hand-over (None: nothing was due then)."""
    sent = Message.objects.filter(shop_id__in=shop_ids, sent_at__isnull=False)
    measured: list[float | None] = []
    for fault in faults:
        if not fault.backlog:
            measured.append(None)
            continue
        first = sent.filter(sent_at__gte=fault.at).aggregate(first=Min("sent_at"))["first"]
        measured.append((first - fault.at).total_seconds() if first else float("inf"))
    known = [g for g in measured if g is not None]
    longest = max(known, default=0.0)
    worst = faults[measured.index(longest)].kind if known else "-"
    ok = not limit or longest <= limit
    detail = (
        f"longest {longest:.1f} s (after {worst}), limit {limit:.0f} s; "
        f"{len(known)} of {len(faults)} faults had work due"
    )
    return Check("dispatch resumes after every fault", ok, detail), measured


def outcome_counts(*, shop_ids: list[int]) -> dict[str, int]:
    rows = Message.objects.filter(shop_id__in=shop_ids).values("status").annotate(n=Count("id"))
    return {row["status"]: row["n"] for row in rows}


def suppressed_counts(*, shop_ids: list[int]) -> dict[str, int]:
    rows = (
        Message.objects.filter(shop_id__in=shop_ids)
        .filter(Q(status=Message.Status.SUPPRESSED) | Q(status=Message.Status.DROPPED))
        .values("reason").annotate(n=Count("id"))
    )  # fmt: skip
    return {row["reason"]: row["n"] for row in rows}
