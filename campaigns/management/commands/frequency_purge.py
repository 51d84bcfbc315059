"""Delete frequency counters older than any window needs (django-q2 also runs it daily)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from campaigns.services.frequency import PURGE_KEEP_DAYS, frequency_counters_purge, frequency_purge_cutoff


class Command(BaseCommand):
    help = (
        f"Delete frequency counter rows of days older than --keep-days (default {PURGE_KEEP_DAYS}) "
        "in Asia/Shanghai. The schedule campaigns-purge-frequency-counters runs this daily at 03:30."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--keep-days", type=int, default=PURGE_KEEP_DAYS)

    def handle(self, *args, keep_days: int, **options) -> None:
        try:
            before = frequency_purge_cutoff(keep_days=keep_days)
        except ValueError as exc:
            raise CommandError(f"--keep-days: {exc}.") from None
        deleted = frequency_counters_purge(before=before)
        self.stdout.write(f"Deleted {deleted} counter rows of days before {before.isoformat()}.")
