"""Reads of the results counters (campaigns.models.counters) and their reconciliation.

The counters are written by the message table's statement-level triggers (migration
campaigns/0026_counters), never by Python: every writer of message rows (planning, dispatch,
delivery reports, settlement, the 72-hour sweep, drops, deletes, and the bench's bulk seeds) keeps
them exact in its own transaction. These reads cost a few index lookups whatever the number of
messages: a counter row stands for all the messages of a run planned on a day that share a
status, settlement, suppression reason and variant.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection

from campaigns.models.counters import (
    ClickCounter,
    HoldoutCounter,
    HoldoutRun,
    HourCounter,
    MessageCounter,
    OrderCounter,
)
from campaigns.models.links import Click
from campaigns.models.orders import Order
from campaigns.models.sending import ArchivedMonth, CampaignRun, Message

# The holdout comparison counts a recipient's orders placed in [run start, run start + this),
# the run's start being the time its first recipient row was written (planning began).
COMPARISON_WINDOW = timedelta(days=5)
# The statuses of a message handed to the gateway: the holdout comparison's sent group.
SENT = (
    Message.Status.SENDING,
    Message.Status.ACCEPTED,
    Message.Status.DELIVERED,
    Message.Status.FAILED,
    Message.Status.EXPIRED,
)

_COUNTER, _HOURS, _RUN, _MESSAGE = (
    MessageCounter._meta.db_table,
    HourCounter._meta.db_table,
    CampaignRun._meta.db_table,
    Message._meta.db_table,
)
_CLICKS, _ORDERS, _CLICK, _ORDER = (
    ClickCounter._meta.db_table,
    OrderCounter._meta.db_table,
    Click._meta.db_table,
    Order._meta.db_table,
)
_HOLDOUT, _STARTS = HoldoutCounter._meta.db_table, HoldoutRun._meta.db_table


@dataclass(frozen=True)
class CounterRow:
    campaign_id: int
    run_id: int
    status: str
    reason: str
    settlement: str
    variant_id: int
    messages: int
    parts: int
    links: int


def counter_rows(*, campaign_ids: list[int], audience_only: bool = True, run_ids: list[int] | None = None
                 ) -> list[CounterRow]:
    """The counters of these campaigns (of their audience runs only, unless told), summed over
    the days: one statement, rows at zero left out."""
    if not campaign_ids:
        return []
    kind = f"AND r.kind = '{CampaignRun.Kind.AUDIENCE}'" if audience_only else ""
    runs = "AND c.run_id = ANY(%(runs)s::bigint[])" if run_ids is not None else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT c.campaign_id, c.run_id, c.status, c.reason, c.settlement, c.variant_id,
                       sum(c.messages)::bigint, sum(c.parts)::bigint, sum(c.links)::bigint
                FROM {_COUNTER} c JOIN {_RUN} r ON r.id = c.run_id {kind}
                WHERE c.campaign_id = ANY(%(ids)s::bigint[]) {runs}
                GROUP BY c.campaign_id, c.run_id, c.status, c.reason, c.settlement, c.variant_id
                HAVING sum(c.messages) <> 0 OR sum(c.parts) <> 0 OR sum(c.links) <> 0""",
            {"ids": list(campaign_ids), "runs": list(run_ids or [])},
        )
        return [CounterRow(*row) for row in cursor.fetchall()]


def campaign_hours(*, campaign_id: int) -> dict[str, Counter]:
    """Sent, delivered and failed (failed or expired) per hour of the campaign's audience runs."""
    series: dict[str, Counter] = {kind: Counter() for kind in HourCounter.Kind.values}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT h.hour, h.kind, sum(h.messages)::bigint
                FROM {_HOURS} h JOIN {_RUN} r ON r.id = h.run_id AND r.kind = %s
                WHERE h.campaign_id = %s GROUP BY h.hour, h.kind HAVING sum(h.messages) <> 0""",
            [CampaignRun.Kind.AUDIENCE, campaign_id],
        )
        for hour, kind, n in cursor.fetchall():
            series[kind][hour] += n
    return series


# --- reconciliation (manage.py reconcile_stats) ----------------------------------------------

# The counters of runs whose month was archived (docs/RETENTION.md) have no rows left to recount:
# they are what the campaign pages show from then on, and the check leaves them alone.
_LIVE = (
    f"run_id NOT IN (SELECT r.id FROM {_RUN} r JOIN {ArchivedMonth._meta.db_table} a ON a.month = r.month)"
)
_KEPT_SCOPE = f"{_LIVE} AND (%(all)s OR campaign_id = %(campaign)s)"

# The same keys as the triggers' (migration 0026), recounted from the message rows.
_RECOUNT = f"""
WITH counted AS (
    SELECT run_id, min(campaign_id) AS campaign_id, (created_at AT TIME ZONE 'UTC')::date AS day, status,
           CASE WHEN status = 'suppressed' THEN reason ELSE '' END AS reason, settlement,
           coalesce(variant_id, 0) AS variant_id, count(*) AS messages, sum(parts)::bigint AS parts,
           count(link_code) AS links
    FROM {_MESSAGE} WHERE %(all)s OR campaign_id = %(campaign)s
    GROUP BY 1, 3, 4, 5, 6, 7),
kept AS (
    SELECT run_id, campaign_id, day, status, reason, settlement, variant_id, messages, parts, links
    FROM {_COUNTER} WHERE {_KEPT_SCOPE}
         AND (messages <> 0 OR parts <> 0 OR links <> 0))
SELECT coalesce(k.campaign_id, m.campaign_id), coalesce(k.run_id, m.run_id), coalesce(k.day, m.day),
       coalesce(k.status, m.status), coalesce(k.reason, m.reason), coalesce(k.settlement, m.settlement),
       coalesce(k.variant_id, m.variant_id),
       coalesce(k.messages, 0), coalesce(m.messages, 0), coalesce(k.parts, 0), coalesce(m.parts, 0),
       coalesce(k.links, 0), coalesce(m.links, 0)
FROM kept k FULL JOIN counted m
     ON (k.run_id, k.day, k.status, k.reason, k.settlement, k.variant_id)
      = (m.run_id, m.day, m.status, m.reason, m.settlement, m.variant_id)
WHERE k.run_id IS NULL OR m.run_id IS NULL
   OR (k.messages, k.parts, k.links) IS DISTINCT FROM (m.messages, m.parts, m.links)
ORDER BY 1, 2, 3, 4, 5, 6, 7
"""

_HOUR = "date_trunc('hour', {at} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
_RECOUNT_HOURS = f"""
WITH counted AS (
    SELECT run_id, min(campaign_id) AS campaign_id, hour, kind, count(*) AS messages FROM (
        SELECT run_id, campaign_id, {_HOUR.format(at="sent_at")} AS hour, 'sent' AS kind
        FROM {_MESSAGE} WHERE sent_at IS NOT NULL AND (%(all)s OR campaign_id = %(campaign)s)
        UNION ALL
        SELECT run_id, campaign_id, {_HOUR.format(at="final_at")},
               CASE WHEN status = 'delivered' THEN 'delivered' ELSE 'failed' END
        FROM {_MESSAGE} WHERE status IN ('delivered', 'failed', 'expired') AND final_at IS NOT NULL
             AND (%(all)s OR campaign_id = %(campaign)s)) x
    GROUP BY run_id, hour, kind),
kept AS (
    SELECT run_id, campaign_id, hour, kind, messages FROM {_HOURS}
    WHERE {_KEPT_SCOPE} AND messages <> 0)
SELECT coalesce(k.campaign_id, m.campaign_id), coalesce(k.run_id, m.run_id), coalesce(k.hour, m.hour),
       coalesce(k.kind, m.kind), coalesce(k.messages, 0), coalesce(m.messages, 0)
FROM kept k FULL JOIN counted m ON (k.run_id, k.hour, k.kind) = (m.run_id, m.hour, m.kind)
WHERE k.run_id IS NULL OR m.run_id IS NULL OR k.messages <> m.messages
ORDER BY 1, 2, 3, 4
"""



def _compare(counted: str, kept: str, key: list[str], figures: list[str]) -> str:
    """The keys where ``kept`` (counters) and ``counted`` (recounted rows) differ: each side's
    select gives campaign_id, the key's columns, then the figures, with no row at all zeros."""
    on = " AND ".join(f"k.{c} = m.{c}" for c in key)
    return f"""
WITH counted AS ({counted}), kept AS ({kept})
SELECT coalesce(k.campaign_id, m.campaign_id), {", ".join(f"coalesce(k.{c}, m.{c})" for c in key)},
       {", ".join(f"coalesce(k.{f}, 0), coalesce(m.{f}, 0)" for f in figures)}
FROM kept k FULL JOIN counted m ON {on}
WHERE k.run_id IS NULL OR m.run_id IS NULL
   OR ({", ".join(f"k.{f}" for f in figures)}) IS DISTINCT FROM ({", ".join(f"m.{f}" for f in figures)})
ORDER BY 1, {", ".join(str(i + 2) for i in range(len(key)))}
"""


_SCOPE = "(%(all)s OR m.campaign_id = %(campaign)s)"
_CLICK_ROWS = f"""FROM {_CLICK} k JOIN {_MESSAGE} m ON m.id = k.message_id WHERE k.human AND {_SCOPE}"""
# Human clicks per run, day (of the click) and variant.
_RECOUNT_CLICKS = _compare(
    f"""SELECT m.run_id, min(m.campaign_id) AS campaign_id, (k.at AT TIME ZONE 'UTC')::date AS day,
               coalesce(m.variant_id, 0) AS variant_id, count(*) AS clicks
        {_CLICK_ROWS} GROUP BY 1, 3, 4""",
    f"""SELECT run_id, campaign_id, day, variant_id, clicks FROM {_CLICKS}
        WHERE {_KEPT_SCOPE} AND clicks <> 0""",
    ["run_id", "day", "variant_id"],
    ["clicks"],
)
# Unique clicks per run and variant (the counters keep them on the day of the first click).
_RECOUNT_UNIQUE = _compare(
    f"""SELECT m.run_id, min(m.campaign_id) AS campaign_id, coalesce(m.variant_id, 0) AS variant_id,
               count(DISTINCT k.message_id) AS unique_clicks
        {_CLICK_ROWS} GROUP BY 1, 3""",
    f"""SELECT run_id, min(campaign_id) AS campaign_id, variant_id, sum(unique_clicks) AS unique_clicks
        FROM {_CLICKS} WHERE {_KEPT_SCOPE}
        GROUP BY run_id, variant_id HAVING sum(unique_clicks) <> 0""",
    ["run_id", "variant_id"],
    ["unique_clicks"],
)
# Attributed orders, their revenue and the converted messages per run and variant.
_RECOUNT_ORDERS = _compare(
    f"""SELECT m.run_id, min(m.campaign_id) AS campaign_id, coalesce(m.variant_id, 0) AS variant_id,
               count(*) AS orders, sum(o.amount) AS revenue, count(DISTINCT m.id) AS converted
        FROM {_ORDER} o JOIN {_MESSAGE} m ON m.id = o.attributed_message_id WHERE {_SCOPE} GROUP BY 1, 3""",
    f"""SELECT run_id, campaign_id, variant_id, orders, revenue, converted FROM {_ORDERS}
        WHERE {_KEPT_SCOPE} AND (orders <> 0 OR revenue <> 0 OR converted <> 0)""",
    ["run_id", "variant_id"],
    ["orders", "revenue", "converted"],
)


# The holdout comparison per run and group (held out / sent): the row-based statement
# ``campaigns.results._groups`` ran before the counters (each recipient's orders in [its run's
# start, + the comparison window)), with the run's start as kept (the earliest ``created_at``
# written: a deleted or archived first row does not move it). Only runs whose earliest row is
# still there are recounted: months are archived oldest first, so those have all their rows; a
# run with archived rows keeps its counters as its only record (as does one whose first row was
# deleted).
_RETAINED = f"""SELECT h.run_id FROM {_STARTS} h
    JOIN (SELECT m.run_id, min(m.created_at) AS first FROM {_MESSAGE} m WHERE {_SCOPE} GROUP BY m.run_id) p
      ON p.run_id = h.run_id AND p.first = h.start"""
_RECOUNT_HOLDOUT = _compare(
    f"""SELECT run_id, min(campaign_id) AS campaign_id, held, sum(n)::bigint AS orders,
               count(*) FILTER (WHERE n > 0) AS buyers, sum(revenue) AS revenue,
               sum(revenue * revenue) AS revenue_squares
        FROM (SELECT m.id, m.run_id, m.campaign_id, m.status = 'holdout' AS held, count(o.id) AS n,
                     coalesce(sum(o.amount), 0) AS revenue
              FROM {_MESSAGE} m JOIN {_STARTS} h ON h.run_id = m.run_id
              LEFT JOIN {_ORDER} o ON o.shop_id = m.shop_id AND o.phone = m.phone
                   AND o.placed_at >= h.start AND o.placed_at < h.start + %(window)s
              WHERE m.status = ANY(%(grouped)s) AND {_SCOPE} AND m.run_id IN ({_RETAINED})
              GROUP BY m.id, m.run_id, m.campaign_id, m.status) p
        GROUP BY run_id, held HAVING sum(n) <> 0""",
    f"""SELECT run_id, campaign_id, held, orders, buyers, revenue, revenue_squares FROM {_HOLDOUT} k
        WHERE (%(all)s OR campaign_id = %(campaign)s)
          AND (orders <> 0 OR buyers <> 0 OR revenue <> 0 OR revenue_squares <> 0)
          AND run_id IN ({_RETAINED})""",
    ["run_id", "held"],
    ["orders", "buyers", "revenue", "revenue_squares"],
)
# Every audience run with messages has its start, at most its earliest row's.
_RECOUNT_STARTS = f"""
SELECT x.campaign_id, x.run_id, h.start, x.first
FROM (SELECT m.run_id, min(m.campaign_id) AS campaign_id, min(m.created_at) AS first
      FROM {_MESSAGE} m JOIN {_RUN} r ON r.id = m.run_id AND r.kind = '{CampaignRun.Kind.AUDIENCE}'
      WHERE {_SCOPE} GROUP BY m.run_id) x
LEFT JOIN {_STARTS} h ON h.run_id = x.run_id
WHERE h.start IS NULL OR h.start > x.first
ORDER BY 1, 2
"""


@dataclass(frozen=True)
class StatsDiscrepancy:
    campaign_id: int
    run_id: int
    key: str
    kept: tuple
    counted: tuple
    what: str

    def __str__(self) -> str:
        return (
            f"campaign {self.campaign_id} run {self.run_id} [{self.key}]: counters {self.what}="
            f"{self.kept}, message rows {self.what}={self.counted}"
        )


def stats_reconcile(*, campaign_id: int | None = None) -> list[StatsDiscrepancy]:
    """Every counter (of one campaign, or all) that differs from a recount of the message, click
    and attributed order rows (full scans: an operator's check, never a page's read). Empty when
    clean."""

    params = {
        "all": campaign_id is None,
        "campaign": campaign_id or 0,
        "window": COMPARISON_WINDOW,
        "grouped": [*SENT, Message.Status.HOLDOUT],
    }
    found: list[StatsDiscrepancy] = []
    with connection.cursor() as cursor:
        cursor.execute(_RECOUNT, params)
        for campaign, run, day, status, reason, settlement, variant, *n in cursor.fetchall():
            key = f"day={day} status={status} reason={reason or '-'} settlement={settlement} v={variant}"
            found.append(
                StatsDiscrepancy(campaign, run, key, (n[0], n[2], n[4]), (n[1], n[3], n[5]),
                                 "(messages, parts, links)")
            )
        cursor.execute(_RECOUNT_HOURS, params)
        for campaign, run, hour, kind, kept, counted in cursor.fetchall():
            found.append(
                StatsDiscrepancy(campaign, run, f"hour={hour.isoformat()} {kind}", (kept,), (counted,),
                                 "(messages)")
            )
        cursor.execute(_RECOUNT_CLICKS, params)
        for campaign, run, day, variant, kept, counted in cursor.fetchall():
            found.append(
                StatsDiscrepancy(campaign, run, f"day={day} v={variant}", (kept,), (counted,), "(clicks)")
            )
        cursor.execute(_RECOUNT_UNIQUE, params)
        for campaign, run, variant, kept, counted in cursor.fetchall():
            found.append(
                StatsDiscrepancy(campaign, run, f"v={variant}", (kept,), (counted,), "(unique_clicks)")
            )
        cursor.execute(_RECOUNT_ORDERS, params)
        for campaign, run, variant, *n in cursor.fetchall():
            found.append(
                StatsDiscrepancy(campaign, run, f"v={variant}", (n[0], n[2], n[4]), (n[1], n[3], n[5]),
                                 "(attributed orders, revenue, converted)")
            )
        cursor.execute(_RECOUNT_HOLDOUT, params)
        for campaign, run, held, *n in cursor.fetchall():
            found.append(
                StatsDiscrepancy(campaign, run, "holdout" if held else "sent", (n[0], n[2], n[4], n[6]),
                                 (n[1], n[3], n[5], n[7]), "(group orders, buyers, revenue, squares)")
            )
        cursor.execute(_RECOUNT_STARTS, params)
        for campaign, run, start, first in cursor.fetchall():
            found.append(StatsDiscrepancy(campaign, run, "start", (start,), (first,), "(run start)"))
    return found
