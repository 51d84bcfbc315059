"""Recount the results counters (and the holdout groups' counters) from the message, click and order rows;
exit 1 with every difference."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from campaigns.counters import stats_reconcile


class Command(BaseCommand):
    help = (
        "Recount every campaign's results counters (per run, day, status, settlement, suppression "
        "reason and variant, and per hour) from the message rows, and the click and attributed order "
        "counters (per run and variant) from the click and order rows, and the holdout groups' counters "
        "(per run and group, and each run's start) from the message and order rows. Exits 0 when they "
        "match, 1 with one line per difference otherwise. --campaign ID checks one campaign."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--campaign", type=int, default=None, help="check only this campaign id")

    def handle(self, *args, campaign: int | None = None, **options) -> None:
        discrepancies = stats_reconcile(campaign_id=campaign)
        scope = f"campaign {campaign}" if campaign is not None else "all campaigns"
        if not discrepancies:
            self.stdout.write(f"reconcile_stats: {scope} checked, 0 discrepancies.")
            return
        for d in discrepancies:
            self.stdout.write(str(d))
        self.stderr.write(f"reconcile_stats: {scope} checked, {len(discrepancies)} discrepancies.")
        raise SystemExit(1)
