"""List, create or clean up the day partitions of the frequency counters (docs/OPERATIONS.md)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from campaigns.services.frequency_partitions import (
    PARTITION_DAYS_AHEAD,
    frequency_partitions_drop_unpartitioned,
    frequency_partitions_ensure,
    frequency_partitions_list,
)


class Command(BaseCommand):
    help = (
        "Frequency counter partitions: --ensure creates the coming days' partitions (the nightly "
        "campaigns-purge-frequency-counters task does it too), --drop-unpartitioned drops the "
        "tables migration 0027 kept; without an option, lists the partitions."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--ensure", action="store_true")
        parser.add_argument("--days-ahead", type=int, default=PARTITION_DAYS_AHEAD)
        parser.add_argument("--drop-unpartitioned", action="store_true")

    def handle(self, *args, ensure: bool, days_ahead: int, drop_unpartitioned: bool, **options) -> None:
        if days_ahead < 0:
            raise CommandError("--days-ahead must be 0 or more.")
        if ensure:
            created = frequency_partitions_ensure(days_ahead=days_ahead)
            self.stdout.write(f"Created {len(created)} partitions: {', '.join(created) or '-'}")
        if drop_unpartitioned:
            dropped = frequency_partitions_drop_unpartitioned()
            self.stdout.write(f"Dropped: {', '.join(dropped) or 'nothing to drop'}")
        if not (ensure or drop_unpartitioned):
            for parent, partition, bound in frequency_partitions_list():
                self.stdout.write(f"{parent}\t{partition}\t{bound}")
