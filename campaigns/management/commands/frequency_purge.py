"""Delete frequency counters older than any window needs (django-q2 also runs it daily)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from campaigns.services.frequency import PURGE_KEEP_DAYS, frequency_counters_purge_old, frequency_purge_cutoff


class Command(BaseCommand):
    help = (
        "Drop the frequency counter partitions (and default-partition rows) of days older than "
        f"--keep-days (default {PURGE_KEEP_DAYS}) "
        "in Asia/Shanghai. The schedule campaigns-purge-frequency-counters runs this daily at 03:30."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--keep-days", type=int, default=PURGE_KEEP_DAYS)

    def handle(self, *args, keep_days: int, **options) -> None:
        try:
            before = frequency_purge_cutoff(keep_days=keep_days)
        except ValueError as exc:
            raise CommandError(f"--keep-days: {exc}.") from None
        # Also creates the coming days' partitions, as the nightly task does.
        deleted = frequency_counters_purge_old(keep_days=keep_days)
        self.stdout.write(f"Deleted {deleted} counter rows of days before {before.isoformat()}.")
