"""Reads of a campaign's results (selectors): the funnel, clicks, attributed orders, the holdout
comparison with its confidence interval, the SMS cost and the ROI, the A/B variants' figures.

``campaign_results`` answers everything the results page and the ``campaign_report`` command
show; ``campaign_results_report`` is its JSON form with exactly the report's keys (amounts as
decimal strings in yuan). Every figure is defined in docs/RESULTS.md, "The campaign report".
All figures are of the campaign's audience runs: test SMS are not part of them.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.utils.translation import gettext as _
from scipy import stats as scipy_stats

from campaigns.counters import COMPARISON_WINDOW, SENT
from campaigns.models.counters import ClickCounter, HoldoutCounter, MessageCounter, OrderCounter
from campaigns.models.links import Click
from campaigns.models.orders import Order
from campaigns.models.sending import Campaign, CampaignRun, Message
from campaigns.services.ab_testing import ab_variant_figures
from campaigns.services.attribution import attribution_windows
from smsmarketing.models import LedgerEntry, RechargeOrder, SmsAccount

# Fewer recipients than this in either group: too small to conclude anything.
MIN_GROUP_SIZE = 30
CONFIDENCE = 0.95

CENT = Decimal("0.01")
S = Message.Status
NOT_DELIVERED = (S.FAILED, S.EXPIRED)

REPORT_KEYS = (
    "recipients",
    "holdout",
    "sent",
    "delivered",
    "failed",
    "clicks",
    "unique_clicks",
    "attributed_orders",
    "attributed_revenue",
    "sent_group_orders",
    "sent_group_revenue",
    "holdout_orders",
    "holdout_revenue",
    "incremental_revenue",
    "parts_charged",
    "cost_yuan",
    "roi",
    "variants",
)
VARIANT_KEYS = (
    "name",
    "recipients",
    "delivered",
    "unique_clicks",
    "attributed_orders",
    "attributed_revenue",
    "winner",
)


@dataclass
class Group:
    """One side of the holdout comparison: its recipients, their orders in the window, the
    revenue, and the sum of squared per-recipient revenues (for the variance)."""

    recipients: int = 0
    orders: int = 0
    buyers: int = 0
    revenue: Decimal = Decimal(0)
    revenue_squares: Decimal = Decimal(0)

    @property
    def mean(self) -> float:
        return float(self.revenue) / self.recipients if self.recipients else 0.0

    @property
    def variance(self) -> float:
        """The sample variance of per-recipient revenue (0 for fewer than 2 recipients)."""
        n = self.recipients
        if n < 2:
            return 0.0
        return max(0.0, (float(self.revenue_squares) - float(self.revenue) ** 2 / n) / (n - 1))


@dataclass
class Lift:
    """The holdout's answer: incremental revenue with its confidence interval, and in Chinese
    whether it can be concluded."""

    incremental_revenue: Decimal | None = None
    low: Decimal | None = None
    high: Decimal | None = None
    conclusive: bool = False
    verdict: str = ""


@dataclass
class VariantFigures:
    variant_id: int
    name: str
    recipients: int = 0
    delivered: int = 0
    unique_clicks: int = 0
    attributed_orders: int = 0
    attributed_revenue: Decimal = Decimal(0)
    winner: bool = False
    rate: float = 0.0  # of the campaign's A/B metric, over delivered
    probability_best: float | None = None
    p_value: float | None = None  # against the leading variant; None for the leader


@dataclass
class CampaignResults:
    recipients: int = 0
    holdout: int = 0
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    clicks: int = 0
    unique_clicks: int = 0
    attributed_orders: int = 0
    attributed_revenue: Decimal = Decimal(0)
    sent_group: Group = field(default_factory=Group)
    holdout_group: Group = field(default_factory=Group)
    lift: Lift = field(default_factory=Lift)
    parts_charged: int = 0
    price_per_part: Decimal = Decimal(0)  # yuan, unrounded
    cost_yuan: Decimal = Decimal(0)
    roi: Decimal | None = None
    variants: list[VariantFigures] = field(default_factory=list)
    click_window: timedelta = timedelta(0)
    delivery_window: timedelta = timedelta(0)
    comparison_window: timedelta = COMPARISON_WINDOW


def _yuan(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount.quantize(CENT, rounding=ROUND_HALF_UP))


def campaign_results(*, campaign: Campaign, groups: bool = True) -> CampaignResults:
    """Every figure of the campaign's results, read now (a few set-based statements).

    ``groups=False`` (the campaign's page, which shows the comparison only with a holdout): the
    groups' statement (one read of the holdout counters) runs only when the funnel's counters
    show a holdout; the report and the API (``campaign_results_report``) always read them."""
    windows = attribution_windows()
    results = CampaignResults(click_window=windows["click"], delivery_window=windows["delivery"])
    with connection.cursor() as cursor:
        _funnel(cursor, campaign, results)
        _clicks(cursor, campaign, results)
        _attributed(cursor, campaign, results)
        if groups or results.holdout:
            _groups(cursor, campaign, results)
    results.variants = _variants(campaign)
    results.lift = holdout_lift(sent=results.sent_group, held=results.holdout_group)
    results.price_per_part = shop_price_per_part(shop_id=campaign.shop_id)
    results.cost_yuan = yuan_of(results.parts_charged * results.price_per_part)
    results.roi = roi_of(revenue=results.attributed_revenue, cost=results.cost_yuan)
    return results


def yuan_of(amount: Decimal) -> Decimal:
    """An amount in yuan rounded to the fen (half up), as every figure of the report."""
    return Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP)


def roi_of(*, revenue: Decimal, cost: Decimal) -> Decimal | None:
    """(revenue − cost) / cost, 2 decimals; None when the cost is 0 (only granted parts)."""
    if not cost:
        return None
    return ((revenue - cost) / cost).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass
class CampaignMoney:
    """A campaign's line of the list: attributed revenue, cost and ROI (as the report's)."""

    revenue: Decimal = Decimal(0)
    parts_charged: int = 0
    cost_yuan: Decimal = Decimal(0)
    roi: Decimal | None = None


def campaigns_money(
    *, shop_id: int, campaigns: list[Campaign], settled: Collection[int] = ()
) -> dict[int, CampaignMoney]:
    """Revenue, cost and ROI of many campaigns of one shop (the campaign list's page): ONE
    statement for every campaign's attributed revenue and charged parts (not one per row), and
    the shop's price per part; each figure defined as in ``campaign_results``.

    ``settled``: campaigns over whose every message has its final report; their charged parts
    can no longer change, so they are kept in the cache and not summed again (a campaign of a
    million messages would cost the list a scan of them on every view). Revenue is always read
    (orders keep arriving; one indexed sum per campaign)."""
    money = {c.pk: CampaignMoney() for c in campaigns}
    if not campaigns:
        return money
    over = [c for c in campaigns if c.pk in settled]
    keys = {c.pk: PARTS_KEY.format(pk=c.pk, created=c.created_at.timestamp()) for c in over}
    kept = cache.get_many(list(keys.values())) if keys else {}
    parts_of = {pk: kept[key] for pk, key in keys.items() if key in kept}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT c.id,
                       (SELECT coalesce(sum(o.revenue), 0) FROM {_ORDERS} o WHERE o.campaign_id = c.id),
                       CASE WHEN c.id = ANY(%(kept)s::bigint[]) THEN NULL ELSE
                       (SELECT coalesce(sum(k.parts), 0)::bigint FROM {_COUNTER} k {_COUNTED_AUDIENCE}
                        WHERE k.campaign_id = c.id AND k.settlement = %(charged)s) END
                FROM unnest(%(ids)s::bigint[]) AS c(id)""",
            {
                "shop": shop_id,
                "charged": Message.Settlement.CHARGED,
                "ids": list(money),
                "kept": list(parts_of),
            },
        )
        rows = cursor.fetchall()
    for pk, _revenue, parts in rows:
        if parts is not None:
            parts_of[pk] = int(parts)
    to_keep = {keys[pk]: parts_of[pk] for pk in keys if keys[pk] not in kept}
    if to_keep:
        cache.set_many(to_keep, timeout=None)
    # Read whether or not anything was charged: the page's statements do not depend on its rows.
    price = shop_price_per_part(shop_id=shop_id)
    for pk, revenue, _parts in rows:
        line = money[pk]
        line.revenue, line.parts_charged = yuan_of(revenue), parts_of[pk]
        line.cost_yuan = yuan_of(line.parts_charged * price)
        line.roi = roi_of(revenue=line.revenue, cost=line.cost_yuan)
    return money


# The campaign's page reads the results live up to this many recipients (sent or held out); a
# larger campaign's are kept RESULTS_KEPT_SECONDS. Kept from when the holdout groups' statement
# joined every recipient to the shop's orders (0.6–1.3 s at 200,000 recipients on the 2-core test
# machine); every figure now comes from counters, so a cold cache costs the same statements.
RESULTS_LIVE_MAX_RECIPIENTS = 50_000
RESULTS_KEPT_SECONDS = 60
RESULTS_KEY = "campaign-results:{pk}"
# A settled campaign's charged parts (the campaign list), by id and creation time (ids of test
# databases repeat; a shared cache outlives them).
PARTS_KEY = "campaign-parts:{pk}:{created}"


def campaign_results_for_page(*, campaign: Campaign, recipients: int) -> tuple[CampaignResults, bool]:
    """``campaign_results`` for the campaign's page, and whether they were kept (then up to
    ``RESULTS_KEPT_SECONDS`` old): live for up to ``RESULTS_LIVE_MAX_RECIPIENTS`` recipients."""
    if recipients <= RESULTS_LIVE_MAX_RECIPIENTS:
        return campaign_results(campaign=campaign, groups=False), False
    key = RESULTS_KEY.format(pk=campaign.pk)
    results = cache.get(key)
    if results is None:
        results = campaign_results(campaign=campaign, groups=False)
        cache.set(key, results, RESULTS_KEPT_SECONDS)
    return results, True


def campaign_results_forget(*, campaign_id: int) -> None:
    """Drop the kept results (the merchant picked a winner: the page must say so at once)."""
    cache.delete(RESULTS_KEY.format(pk=campaign_id))


def campaign_results_report(*, campaign: Campaign) -> dict[str, Any]:
    """The report's keys, exactly (``manage.py campaign_report --json``): counts as integers,
    amounts as decimal strings in yuan, ``incremental_revenue`` and ``roi`` null when undefined
    (no holdout / no cost)."""
    return results_report(campaign_results(campaign=campaign))


def results_report(r: CampaignResults) -> dict[str, Any]:
    return {
        "recipients": r.recipients,
        "holdout": r.holdout,
        "sent": r.sent,
        "delivered": r.delivered,
        "failed": r.failed,
        "clicks": r.clicks,
        "unique_clicks": r.unique_clicks,
        "attributed_orders": r.attributed_orders,
        "attributed_revenue": _yuan(r.attributed_revenue),
        "sent_group_orders": r.sent_group.orders,
        "sent_group_revenue": _yuan(r.sent_group.revenue),
        "holdout_orders": r.holdout_group.orders,
        "holdout_revenue": _yuan(r.holdout_group.revenue),
        "incremental_revenue": _yuan(r.lift.incremental_revenue),
        "parts_charged": r.parts_charged,
        "cost_yuan": _yuan(r.cost_yuan),
        "roi": None if r.roi is None else str(r.roi),
        "variants": [
            {
                "name": v.name,
                "recipients": v.recipients,
                "delivered": v.delivered,
                "unique_clicks": v.unique_clicks,
                "attributed_orders": v.attributed_orders,
                "attributed_revenue": _yuan(v.attributed_revenue),
                "winner": v.winner,
            }
            for v in r.variants
        ],
    }


_RUN = CampaignRun._meta.db_table
_COUNTER, _CLICKS, _ORDERS, _HOLDOUT = (
    MessageCounter._meta.db_table,
    ClickCounter._meta.db_table,
    OrderCounter._meta.db_table,
    HoldoutCounter._meta.db_table,
)
_COUNTED_AUDIENCE = f"JOIN {_RUN} r ON r.id = k.run_id AND r.kind = '{CampaignRun.Kind.AUDIENCE}'"


def _funnel(cursor, campaign: Campaign, results: CampaignResults) -> None:
    """From the results counters (campaigns.counters), not the message rows."""
    cursor.execute(
        f"""SELECT k.status, sum(k.messages)::bigint,
                   coalesce(sum(k.parts) FILTER (WHERE k.settlement = %s), 0)::bigint
            FROM {_COUNTER} k {_COUNTED_AUDIENCE} WHERE k.campaign_id = %s GROUP BY k.status""",
        [Message.Settlement.CHARGED, campaign.pk],
    )
    for status, n, charged in cursor.fetchall():
        results.parts_charged += charged
        if status == S.SUPPRESSED:
            continue
        results.recipients += n
        results.holdout += n if status == S.HOLDOUT else 0
        results.sent += n if status in SENT else 0
        results.delivered += n if status == S.DELIVERED else 0
        results.failed += n if status in NOT_DELIVERED else 0


def _clicks(cursor, campaign: Campaign, results: CampaignResults) -> None:
    """From the click counters (kept by the click table's triggers), not the click rows."""
    cursor.execute(
        f"""SELECT coalesce(sum(k.clicks), 0)::bigint, coalesce(sum(k.unique_clicks), 0)::bigint
            FROM {_CLICKS} k {_COUNTED_AUDIENCE} WHERE k.campaign_id = %s""",
        [campaign.pk],
    )
    results.clicks, results.unique_clicks = cursor.fetchone()


def _attributed(cursor, campaign: Campaign, results: CampaignResults) -> None:
    """From the order counters (kept by the order table's triggers), not the order rows."""
    cursor.execute(
        f"""SELECT coalesce(sum(orders), 0)::bigint, coalesce(sum(revenue), 0)
            FROM {_ORDERS} WHERE campaign_id = %s""",
        [campaign.pk],
    )
    results.attributed_orders, results.attributed_revenue = cursor.fetchone()


def _groups(cursor, campaign: Campaign, results: CampaignResults) -> None:
    """From the holdout counters (kept by the order and message tables' triggers, migration
    campaigns/0032), not the message and order rows: per group, its recipients' orders placed in
    [their run's start, + COMPARISON_WINDOW) whoever they are attributed to, the recipients with
    one (buyers), the revenue and the sum of squared per-recipient revenues. The recipients are
    the funnel's (``_funnel``: sent statuses / held out). ``reconcile_stats`` recounts them from
    the rows (``campaigns.counters``)."""
    cursor.execute(
        f"""SELECT k.held, sum(k.orders)::bigint, sum(k.buyers)::bigint, sum(k.revenue),
                   sum(k.revenue_squares)
            FROM {_HOLDOUT} k {_COUNTED_AUDIENCE} WHERE k.campaign_id = %s GROUP BY k.held""",
        [campaign.pk],
    )
    figures = {held: row for held, *row in cursor.fetchall()}
    zero = (0, 0, Decimal("0.00"), Decimal("0.0000"))
    results.sent_group = Group(results.sent, *figures.get(False, zero))
    results.holdout_group = Group(results.holdout, *figures.get(True, zero))


def holdout_lift(*, sent: Group, held: Group) -> Lift:
    """incremental_revenue = (revenue_sent / n_sent − revenue_holdout / n_holdout) × n_sent, with
    Welch's confidence interval on the difference of the per-recipient means (scaled by n_sent),
    and a plain verdict: too small to conclude, the interval spans 0, or a clear lift (or loss)."""
    if not held.recipients or not sent.recipients:
        return Lift(verdict=_("本活动没有对照组，无法计算增量收入。") if not held.recipients else "")
    n = sent.recipients
    incremental = (sent.revenue - held.revenue * n / held.recipients).quantize(CENT, rounding=ROUND_HALF_UP)
    lift = Lift(incremental_revenue=incremental)
    se = math.sqrt(sent.variance / n + held.variance / held.recipients)
    if se > 0 and n > 1 and held.recipients > 1:
        a, b = sent.variance / n, held.variance / held.recipients
        df = (a + b) ** 2 / (a**2 / (n - 1) + b**2 / (held.recipients - 1))
        margin = float(scipy_stats.t.ppf((1 + CONFIDENCE) / 2, df)) * se
        difference = sent.mean - held.mean
        lift.low = Decimal(repr((difference - margin) * n)).quantize(CENT, rounding=ROUND_HALF_UP)
        lift.high = Decimal(repr((difference + margin) * n)).quantize(CENT, rounding=ROUND_HALF_UP)
    if min(n, held.recipients) < MIN_GROUP_SIZE or se == 0:
        lift.verdict = _("样本太少，无法得出结论（发送组和对照组各至少需要 {n} 人，且有人下单）。").format(
            n=MIN_GROUP_SIZE
        )
    elif lift.low is not None and lift.low <= 0 <= lift.high:
        lift.verdict = _("差异不显著：95% 置信区间包含 0，尚不能说明短信带来了增量收入。")
    else:
        lift.conclusive = True
        lift.verdict = (
            _("短信带来了显著的增量收入（95% 置信）。")
            if incremental > 0
            else _("发送组的收入显著低于对照组（95% 置信）。")
        )
    return lift


def shop_price_per_part(*, shop_id: int) -> Decimal:
    """What one part cost the shop on average, in yuan: the price of its paid recharges over
    every part credited to it by those recharges and by platform grants (granted parts cost
    nothing, so they lower the average). 0 for a shop that never paid. One statement."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT (SELECT coalesce(sum(price), 0) FROM {RechargeOrder._meta.db_table}
                        WHERE account_id = a.id AND status = %(paid)s),
                       (SELECT coalesce(sum(units), 0) FROM {RechargeOrder._meta.db_table}
                        WHERE account_id = a.id AND status = %(paid)s),
                       (SELECT coalesce(sum(parts), 0) FROM {LedgerEntry._meta.db_table}
                        WHERE account_id = a.id AND kind = %(grant)s)
                FROM {SmsAccount._meta.db_table} a WHERE a.shop_id = %(shop)s""",
            {"shop": shop_id, "paid": RechargeOrder.Status.PAID, "grant": LedgerEntry.Kind.GRANT},
        )
        row = cursor.fetchone()
    if row is None:
        return Decimal(0)
    price, units, granted = row
    credited = units + granted
    return Decimal(price) / credited if credited else Decimal(0)


def _variants(campaign: Campaign) -> list[VariantFigures]:
    """Each variant's figures over the A/B test's run (``campaigns.services.ab_testing``: the
    share that tested it); the winner's later sends to the rest are in the campaign's totals."""
    return [
        VariantFigures(
            variant_id=row["id"],
            name=row["name"],
            recipients=row["recipients"],
            delivered=row["delivered"],
            unique_clicks=row["unique_clicks"],
            attributed_orders=row["attributed_orders"],
            attributed_revenue=row["attributed_revenue"],
            winner=row["winner"],
            rate=row["rate"],
            probability_best=row["probability_best"],
            p_value=row["p_value"],
        )
        for row in ab_variant_figures(campaign=campaign)
    ]


def campaign_clicks_for_export(*, campaign: Campaign):
    """Every recorded request of the campaign's links, oldest first, with its message's run kind
    and variant (the CSV export of clicks: one row per request, people and previewers marked)."""
    return (
        Click.objects.filter(campaign_id=campaign.pk)
        .order_by("at", "id")
        .values_list(
            "at", "phone", "message_id", "message__run__kind", "message__variant__name", "human", "method",
            "user_agent",
        )
    )


def campaign_orders_for_export(*, campaign: Campaign):
    """The orders attributed to the campaign, by time placed (the CSV export of orders)."""
    return (
        Order.objects.filter(attributed_campaign_id=campaign.pk, shop_id=campaign.shop_id)
        .order_by("placed_at", "id")
        .values_list(
            "order_no", "phone", "amount", "placed_at", "coupon_code", "attributed_message_id",
            "attributed_touch", "attributed_touch_at",
        )
    )
