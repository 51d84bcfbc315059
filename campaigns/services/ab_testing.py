"""A/B tests: each variant's figures, the probability that it is best, and the test's end.

**Figures** (``ab_variant_figures``) are read over the test run only (phase ``ab_test``: the
share of the audience that tested the variants, split evenly by the draw); the winner's later
sends to the rest are in the campaign's totals, not here, so the variants are compared on equal
terms. Per variant: ``recipients`` (messages planned for it: not suppressed, not held out),
``delivered``, ``unique_clicks`` (recipients with at least one human click), ``attributed_orders``
and ``attributed_revenue`` (orders attributed to its messages), ``converted`` (recipients with
at least one attributed order).

**The metric** (``Campaign.ab_metric``): the unique-click rate (``unique_clicks / delivered``)
or the attributed-order rate (``converted / delivered``); delivered, because a message that never
arrived could not be clicked. **Probability best**: each variant's rate has a Beta(1 + s,
1 + n − s) posterior (a uniform prior; s successes of n delivered); ``AB_DRAWS`` draws of every
posterior, seeded by the campaign's seed (the same figures always give the same answer), count
how often each is the highest. **p-value**: a two-sided two-proportion z-test of each variant
against the leading one (pooled variance, scipy's normal distribution); None for the leader,
and when either side has nothing delivered or the pooled rate is 0 or 1.

**The end.** The test ends ``ab_test_hours`` after the campaign started (its test run's
start), and never before the test run has finished sending (a test deferred by the quiet hours
is not judged on half its messages). ``ab_tests_end_due`` (every minute, schedule
``campaigns-end-ab-tests``) ends each due test: the winner is the variant with the highest rate;
a tie goes to the lowest position (A before B): with no clicks at all, A wins. The winner is
marked ``won_by="metric"`` and its run sends it to the rest (``variants.ab_winner_mark``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
from django.db import connection
from django.utils import timezone
from scipy.stats import norm

from campaigns.models.counters import ClickCounter, MessageCounter, OrderCounter
from campaigns.models.sending import AbMetric, Campaign, CampaignRun, CampaignVariant, Message
from campaigns.services.variants import WON_BY_METRIC, AbTestDecided, ab_winner_mark

logger = logging.getLogger(__name__)

AB_DRAWS = 20_000  # Monte Carlo draws of each posterior for the probability best


@dataclass
class _Figures:
    variant: CampaignVariant
    recipients: int = 0
    delivered: int = 0
    unique_clicks: int = 0
    attributed_orders: int = 0
    attributed_revenue: Decimal = Decimal(0)
    converted: int = 0

    def successes(self, metric: str) -> int:
        return self.converted if metric == AbMetric.ORDERS else self.unique_clicks

    def rate(self, metric: str) -> float:
        return self.successes(metric) / self.delivered if self.delivered else 0.0


def _read(*, campaign: Campaign) -> list[_Figures]:
    """The variants' counts over the test run: three grouped statements."""
    variants = CampaignVariant.objects.filter(campaign=campaign).order_by("position")
    figures = {v.pk: _Figures(v) for v in variants}
    if not figures:
        return []
    with connection.cursor() as cursor:
        # Recipients and deliveries from the results counters (campaigns.models.counters: per
        # run, status and variant), not a count of the test run's message rows.
        cursor.execute(
            f"""SELECT k.variant_id, sum(k.messages)::bigint,
                       coalesce(sum(k.messages) FILTER (WHERE k.status = %s), 0)::bigint
                FROM {MessageCounter._meta.db_table} k
                JOIN {CampaignRun._meta.db_table} r ON r.id = k.run_id AND r.phase = %s
                WHERE k.campaign_id = %s AND k.variant_id <> 0 AND k.status NOT IN (%s, %s)
                GROUP BY k.variant_id""",
            [Message.Status.DELIVERED, CampaignRun.Phase.AB_TEST, campaign.pk, Message.Status.SUPPRESSED,
             Message.Status.HOLDOUT],
        )  # fmt: skip
        for variant_id, recipients, delivered in cursor.fetchall():
            if variant_id in figures:
                figures[variant_id].recipients, figures[variant_id].delivered = recipients, delivered
        # Unique clicks and attributed orders from their counters (kept by the click and order
        # tables' triggers), not the click or order rows.
        cursor.execute(
            f"""SELECT k.variant_id, sum(k.unique_clicks)::bigint
                FROM {ClickCounter._meta.db_table} k
                JOIN {CampaignRun._meta.db_table} r ON r.id = k.run_id AND r.phase = %s
                WHERE k.campaign_id = %s AND k.variant_id <> 0
                GROUP BY k.variant_id""",
            [CampaignRun.Phase.AB_TEST, campaign.pk],
        )
        for variant_id, clicks in cursor.fetchall():
            if variant_id in figures:
                figures[variant_id].unique_clicks = clicks
        cursor.execute(
            f"""SELECT k.variant_id, sum(k.orders)::bigint, coalesce(sum(k.revenue), 0),
                       sum(k.converted)::bigint
                FROM {OrderCounter._meta.db_table} k
                JOIN {CampaignRun._meta.db_table} r ON r.id = k.run_id AND r.phase = %s
                WHERE k.campaign_id = %s AND k.variant_id <> 0
                GROUP BY k.variant_id""",
            [CampaignRun.Phase.AB_TEST, campaign.pk],
        )
        for variant_id, orders, revenue, converted in cursor.fetchall():
            if variant_id in figures:
                f = figures[variant_id]
                f.attributed_orders, f.attributed_revenue, f.converted = orders, Decimal(revenue), converted
    return list(figures.values())


def probability_best(*, successes: list[int], trials: list[int], seed: int) -> list[float]:
    """P(each variant's rate is the highest) under Beta(1 + s, 1 + n − s) posteriors, by
    ``AB_DRAWS`` seeded draws; ties among draws (measure zero) go to the lowest index."""
    rng = np.random.default_rng(seed & (2**63 - 1))
    s, n = np.array(successes, dtype=float), np.array(trials, dtype=float)
    samples = rng.beta(1 + s, 1 + n - s, size=(AB_DRAWS, len(s)))
    wins = np.bincount(samples.argmax(axis=1), minlength=len(s))
    return [float(w) / AB_DRAWS for w in wins]


def two_proportion_p_value(*, s1: int, n1: int, s2: int, n2: int) -> float | None:
    """Two-sided p-value of the pooled two-proportion z-test of s1/n1 against s2/n2; None when
    it is undefined (a side with no trials, or a pooled rate of 0 or 1)."""
    if not n1 or not n2:
        return None
    pooled = (s1 + s2) / (n1 + n2)
    if pooled in (0.0, 1.0):
        return None
    z = (s1 / n1 - s2 / n2) / (pooled * (1 - pooled) * (1 / n1 + 1 / n2)) ** 0.5
    return float(2 * norm.sf(abs(z)))


def _leader(figures: list[_Figures], metric: str) -> _Figures:
    """The highest rate; a tie goes to the lowest position (``figures`` is in position order)."""
    best = figures[0]
    for f in figures[1:]:
        if f.rate(metric) > best.rate(metric):
            best = f
    return best


def ab_variant_figures(*, campaign: Campaign) -> list[dict]:
    """One dict per variant, in position order: ``name``, ``recipients``, ``delivered``,
    ``unique_clicks``, ``attributed_orders``, ``attributed_revenue`` (Decimal, yuan), ``winner``,
    and ``id``, ``converted``, ``rate`` (of the campaign's metric), ``probability_best``,
    ``p_value`` (against the leader; None for the leader or when undefined), ``leader``."""
    figures = _read(campaign=campaign)
    if not figures:
        return []
    metric = campaign.ab_metric
    best = probability_best(
        successes=[f.successes(metric) for f in figures],
        trials=[f.delivered for f in figures],
        seed=campaign.seed,
    )
    leader = _leader(figures, metric)
    rows = []
    for f, p_best in zip(figures, best, strict=True):
        p_value = None
        if f is not leader:
            p_value = two_proportion_p_value(
                s1=f.successes(metric), n1=f.delivered, s2=leader.successes(metric), n2=leader.delivered
            )
        rows.append(
            {
                "id": f.variant.pk,
                "name": f.variant.name,
                "recipients": f.recipients,
                "delivered": f.delivered,
                "unique_clicks": f.unique_clicks,
                "attributed_orders": f.attributed_orders,
                "attributed_revenue": f.attributed_revenue,
                "winner": f.variant.won_at is not None,
                "converted": f.converted,
                "rate": f.rate(metric),
                "probability_best": p_best,
                "p_value": p_value,
                "leader": f is leader,
            }
        )
    return rows


# --- the test's end -------------------------------------------------------------------------------


def ab_test_ends_at(*, campaign: Campaign) -> datetime | None:
    """When the campaign's test ends (at the earliest: its run must have finished sending too)."""
    if campaign.started_at is None:
        return None
    return campaign.started_at + timedelta(hours=campaign.ab_test_hours)


def ab_test_end(*, campaign_id: int, now: datetime | None = None) -> str:
    """End the campaign's A/B test if it is due: mark the winner by the metric and start its run.
    Returns what happened (for logs and tests); safe to run twice and against the merchant's
    pick (``variants.ab_winner_mark`` decides once)."""
    now = now or timezone.now()
    campaign = Campaign.objects.get(pk=campaign_id)
    if campaign.status != Campaign.Status.RUNNING:
        return "not running"
    if CampaignVariant.objects.filter(campaign=campaign, won_at__isnull=False).exists():
        return "decided"
    ends_at = ab_test_ends_at(campaign=campaign)
    if ends_at is None or ends_at > now:
        return "not due"
    test_runs = CampaignRun.objects.filter(campaign=campaign, phase=CampaignRun.Phase.AB_TEST)
    if test_runs.exclude(status__in=[CampaignRun.Status.FINISHED, CampaignRun.Status.CANCELLED]).exists():
        return "still sending"
    figures = ab_variant_figures(campaign=campaign)
    if not figures:
        return "no variants"
    leader = next(f for f in figures if f["leader"])
    try:
        ab_winner_mark(campaign_id=campaign.pk, variant_id=leader["id"], by=WON_BY_METRIC, now=now)
    except AbTestDecided:
        return "decided"
    logger.info("A/B test of campaign %s ended: %s won (%s)", campaign.pk, leader["name"], campaign.ab_metric)
    return f"winner {leader['name']}"


def ab_tests_end_due(*, now: datetime | None = None) -> int:
    """End every A/B test that is due (the minute schedule); returns how many ended."""
    now = now or timezone.now()
    running = (
        Campaign.objects.filter(status=Campaign.Status.RUNNING, runs__phase=CampaignRun.Phase.AB_TEST)
        .exclude(variants__won_at__isnull=False)
        .distinct()
    )
    ended = 0
    for campaign in running.only("pk", "started_at", "ab_test_hours"):
        ends_at = ab_test_ends_at(campaign=campaign)
        if ends_at is not None and ends_at <= now:
            ended += ab_test_end(campaign_id=campaign.pk, now=now).startswith("winner")
    return ended
