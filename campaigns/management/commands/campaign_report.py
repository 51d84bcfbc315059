"""A campaign's results: funnel, clicks, attributed orders, holdout comparison, cost and ROI.

    python manage.py campaign_report CAMPAIGN_ID [--json]

First re-attributes the campaign's shop's orders placed since the campaign's first run
(touches recorded after an order was ingested count then; ``--no-reattribute`` skips it), then
prints the report. ``--json``: exactly the report's keys (docs/RESULTS.md, "The campaign
report"), amounts as decimal strings in yuan. Without it: the same figures with labels, the
confidence interval, the verdict and the windows.
"""

from __future__ import annotations

import json
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Min

from campaigns.models.sending import Campaign, Message
from campaigns.results import campaign_results, results_report
from campaigns.services.attribution import orders_reattribute


class Command(BaseCommand):
    help = "Print a campaign's results (funnel, orders, holdout lift, cost, ROI): campaign_report ID [--json]"

    def add_arguments(self, parser):
        parser.add_argument("campaign", type=int, help="campaign id")
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="print the report's keys as JSON"
        )
        parser.add_argument(
            "--no-reattribute", action="store_true", help="read the stored attribution as it is"
        )

    def handle(self, *args, campaign: int, as_json: bool = False, no_reattribute: bool = False, **options):
        found = Campaign.objects.filter(pk=campaign).first()
        if found is None:
            raise CommandError(f"Campaign {campaign} does not exist")
        if not no_reattribute:
            start = Message.objects.filter(campaign=found).aggregate(start=Min("created_at"))["start"]
            if start is not None:
                orders_reattribute(since=start, shop_id=found.shop_id)
        results = campaign_results(campaign=found)
        report = results_report(results)
        if as_json:
            self.stdout.write(json.dumps(report, ensure_ascii=False, indent=2))
            return
        for key, value in report.items():
            if key != "variants":
                self.stdout.write(f"{key:<22} {'-' if value is None else value}")
        lift = results.lift
        if lift.low is not None:
            self.stdout.write(f"{'incremental_95ci':<22} [{lift.low}, {lift.high}]")
        if lift.verdict:
            self.stdout.write(f"{'verdict':<22} {lift.verdict}")
        self.stdout.write(f"{'price_per_part':<22} {results.price_per_part.quantize(_MILLI)}")
        self.stdout.write(
            f"{'windows':<22} click {_hours(results.click_window)} h, delivery "
            f"{_hours(results.delivery_window)} h, comparison {_hours(results.comparison_window)} h"
        )
        for v in results.variants:
            p_value = "-" if v.p_value is None else f"{v.p_value:.4f}"
            self.stdout.write(
                f"variant {v.name}{' (winner)' if v.winner else ''}: {v.recipients} recipients, "
                f"{v.delivered} delivered, {v.unique_clicks} unique clicks, "
                f"{v.attributed_orders} orders, {v.attributed_revenue} yuan, "
                f"P(best) {v.probability_best:.3f}, p-value vs leader {p_value}"
            )


_MILLI = Decimal("0.0001")


def _hours(window) -> int:
    return int(window.total_seconds() // 3600)
