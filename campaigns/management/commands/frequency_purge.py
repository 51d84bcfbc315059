"""Delete frequency counters older than any window needs (run daily)."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from campaigns.services.frequency import LOCAL_TZ, frequency_counters_purge

# Windows are at most 2 days; delivery reports may release a message up to 72 hours
# after acceptance. A week keeps every day a decision or a release can touch.
DEFAULT_KEEP_DAYS = 7


class Command(BaseCommand):
    help = "Delete frequency counter rows of days older than --keep-days (default 7) in Asia/Shanghai."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--keep-days", type=int, default=DEFAULT_KEEP_DAYS)

    def handle(self, *args, keep_days: int, **options) -> None:
        if keep_days < 3:
            raise CommandError("--keep-days must be at least 3 (two-day windows and late delivery reports).")
        today = timezone.now().astimezone(LOCAL_TZ).date()
        before = today - timedelta(days=keep_days - 1)
        deleted = frequency_counters_purge(before=before)
        self.stdout.write(f"Deleted {deleted} counter rows of days before {before.isoformat()}.")
