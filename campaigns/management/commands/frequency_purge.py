"""Delete frequency counters older than any window needs (django-q2 also runs it daily)."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from campaigns.services.frequency import (
    LOCAL_TZ,
    PURGE_KEEP_DAYS,
    PURGE_MIN_KEEP_DAYS,
    frequency_counters_purge_old,
)


class Command(BaseCommand):
    help = (
        f"Delete frequency counter rows of days older than --keep-days (default {PURGE_KEEP_DAYS}) "
        "in Asia/Shanghai. The schedule campaigns-purge-frequency-counters runs this daily at 03:30."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--keep-days", type=int, default=PURGE_KEEP_DAYS)

    def handle(self, *args, keep_days: int, **options) -> None:
        if keep_days < PURGE_MIN_KEEP_DAYS:
            raise CommandError(
                f"--keep-days must be at least {PURGE_MIN_KEEP_DAYS} "
                "(two-day windows and late delivery reports)."
            )
        now = timezone.now()
        deleted = frequency_counters_purge_old(keep_days=keep_days, now=now)
        before = now.astimezone(LOCAL_TZ).date() - timedelta(days=keep_days - 1)
        self.stdout.write(f"Deleted {deleted} counter rows of days before {before.isoformat()}.")
