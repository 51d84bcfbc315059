"""List, create or retire the month partitions of the message history (docs/RETENTION.md)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from campaigns.services.message_partitions import (
    MONTHS_AHEAD,
    message_partitions_drop_unpartitioned,
    message_partitions_ensure,
    message_partitions_list,
    message_tables_partition,
)
from campaigns.services.retention import message_history_retain


class Command(BaseCommand):
    help = (
        "Message history partitions: --ensure creates the coming months' partitions; --retain "
        "archives and drops the months past SMS_MESSAGE_RETENTION_MONTHS (the nightly "
        "campaigns-retain-message-history task runs both); --convert runs (or resumes) the "
        "conversion of migration 0030, --max-batches stopping it early; --drop-unpartitioned "
        "drops the tables that conversion kept; without an option, lists the partitions."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--ensure", action="store_true")
        parser.add_argument("--months-ahead", type=int, default=MONTHS_AHEAD)
        parser.add_argument("--retain", action="store_true")
        parser.add_argument("--convert", action="store_true")
        parser.add_argument("--batch-rows", type=int, default=10_000)
        parser.add_argument("--max-batches", type=int, default=None)
        parser.add_argument("--drop-unpartitioned", action="store_true")

    def handle(
        self,
        *args,
        ensure,
        months_ahead,
        retain,
        convert,
        batch_rows,
        max_batches,
        drop_unpartitioned,
        **options,
    ) -> None:
        if months_ahead < 0 or batch_rows < 1 or (max_batches is not None and max_batches < 1):
            raise CommandError("--months-ahead must be 0 or more, --batch-rows and --max-batches 1 or more.")
        if convert:
            done = message_tables_partition(
                batch_rows=batch_rows, max_batches=max_batches, log=self.stdout.write
            )
            self.stdout.write("Partitioned." if done else "Not finished: run --convert again to go on.")
        if ensure:
            created = message_partitions_ensure(months_ahead=months_ahead)
            self.stdout.write(f"Created {len(created)} partitions: {', '.join(created) or '-'}")
        if retain:
            result = message_history_retain()
            for month, tables in sorted(result.dropped.items()):
                written = result.archived.get(month, 0)
                self.stdout.write(f"{month:%Y-%m}: {written} messages archived; dropped {tables}")
            if not result.dropped:
                self.stdout.write("No month past the retention.")
        if drop_unpartitioned:
            dropped = message_partitions_drop_unpartitioned()
            self.stdout.write(f"Dropped: {', '.join(dropped) or 'nothing to drop'}")
        if not (convert or ensure or retain or drop_unpartitioned):
            for parent, partition, bound, rows in message_partitions_list():
                self.stdout.write(f"{parent}\t{partition}\t{bound}\t~{rows} rows")
