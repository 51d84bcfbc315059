"""Bounded message history (docs/RETENTION.md): a month past ``SMS_MESSAGE_RETENTION_MONTHS`` is
written to one compressed CSV file per shop, then its partitions of the message, delivery report
and click tables are dropped. The results counters, the ledger and the orders are other tables:
campaign pages and the statements of old months read exactly what they read before.

Order, so that a stop anywhere loses nothing and a re-run finishes the job: (1) while the month's
partitions still exist, write every shop's file (under a temporary name, then renamed) and its
``MessageArchive`` row, and mark the month ``archived_at``; (2) drop the partitions; (3) mark it
``dropped_at``. A re-run before (2) rewrites the same files from the same rows (the months
archived are long final: no report, click or planning reaches them); after (2) it only drops
what is left.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.db.models import F
from django.utils import timezone

from campaigns.models.sending import ArchivedMonth, CampaignRun, Message, MessageArchive
from campaigns.selectors import (
    MESSAGE_EXPORT_FIELDS,
    MESSAGE_EXPORT_HEADER,
    message_export_rows,
    retention_cutoff,
)
from campaigns.services.message_partitions import (
    MESSAGE,
    TABLES,
    message_months,
    message_partitions_drop,
    message_partitions_ensure,
)
from smsmarketing.csvexport import csv_rows

logger = logging.getLogger(__name__)

ARCHIVE_HEADER = ["营销任务ID", *MESSAGE_EXPORT_HEADER]
READ_CHUNK = 5000


@dataclass
class RetentionResult:
    created: list[str] = field(default_factory=list)  # partitions created ahead
    archived: dict[date, int] = field(default_factory=dict)  # month -> messages written to files
    dropped: dict[date, dict[str, int]] = field(default_factory=dict)


def archive_path(*, shop_id: int, month: date) -> str:
    """Relative to ``SMS_ARCHIVE_DIR``."""
    return f"{shop_id}/messages-{month:%Y-%m}.csv.gz"


def _write_shop_month(*, shop_id: int, month: date, campaign_ids: list[int]) -> MessageArchive:
    relative = archive_path(shop_id=shop_id, month=month)
    target = Path(settings.SMS_ARCHIVE_DIR) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".tmp")
    count = 0
    with gzip.open(temporary, "wt", encoding="utf-8", newline="") as out:
        out.write(next(csv_rows(ARCHIVE_HEADER, [])))
        for campaign_id in sorted(campaign_ids):
            # Campaign by campaign (index message_campaign_status), each in id order: a shop's
            # month is never read as one sort of the whole partition.
            messages = (
                Message.objects.filter(campaign_id=campaign_id, month=month)
                .order_by("id")
                .annotate(run_kind=F("run__kind"))
                .only("campaign_id", *MESSAGE_EXPORT_FIELDS)
                .iterator(chunk_size=READ_CHUNK)
            )
            lines = csv_rows(ARCHIVE_HEADER, message_export_rows(messages, with_campaign=True))
            next(lines)  # the header, written once above
            for line in lines:
                out.write(line)
                count += 1
    digest = hashlib.sha256(temporary.read_bytes()).hexdigest()
    size = temporary.stat().st_size
    os.replace(temporary, target)  # atomic: a reader sees the old file or the whole new one
    archive, _ = MessageArchive.objects.update_or_create(
        shop_id=shop_id,
        month=month,
        defaults={"path": relative, "messages": count, "size": size, "sha256": digest},
    )
    return archive


def message_month_archive(*, month: date) -> int:
    """Write the month's messages to one file per shop; returns the messages written."""
    campaigns: dict[int, set[int]] = {}
    for shop_id, campaign_id in (
        CampaignRun.objects.filter(month=month).values_list("campaign__shop_id", "campaign_id").distinct()
    ):
        campaigns.setdefault(shop_id, set()).add(campaign_id)
    total = 0
    for shop_id, campaign_ids in sorted(campaigns.items()):
        archive = _write_shop_month(shop_id=shop_id, month=month, campaign_ids=list(campaign_ids))
        total += archive.messages
        logger.info("archived %s of shop %s: %d messages", f"{month:%Y-%m}", shop_id, archive.messages)
    return total


def _month_rows_left(month: date) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {MESSAGE.name} WHERE month = %s)", [month])
        return cursor.fetchone()[0]


def _drop_default_rows(month: date) -> None:
    """Rows of the month in a default partition (a run of a month that had no partition)."""
    with connection.cursor() as cursor:
        for table in reversed(TABLES):
            cursor.execute(f"DELETE FROM {table.default} WHERE month = %s", [month])


def message_history_retain(*, today: date | None = None) -> RetentionResult:
    """The nightly task: the coming months' partitions, then every month before the cutoff
    archived and dropped (oldest first). Idempotent; a stopped run is finished by the next."""
    result = RetentionResult(created=message_partitions_ensure())
    cutoff = retention_cutoff(today=today)
    months = set(message_months())
    months |= set(CampaignRun.objects.filter(month__lt=cutoff).values_list("month", flat=True).distinct())
    months |= set(ArchivedMonth.objects.filter(dropped_at__isnull=True).values_list("month", flat=True))
    for month in sorted(m for m in months if m < cutoff):
        record, _ = ArchivedMonth.objects.get_or_create(month=month)
        if record.dropped_at is not None and not _month_rows_left(month):
            continue
        if _month_rows_left(month):
            record.messages = message_month_archive(month=month)
            result.archived[month] = record.messages
            record.archived_at = timezone.now()
            record.save(update_fields=["messages", "archived_at"])
        result.dropped[month] = message_partitions_drop(month=month)
        _drop_default_rows(month)
        record.dropped_at = timezone.now()
        record.save(update_fields=["dropped_at"])
        logger.info(
            "message history: %s archived (%d messages) and dropped", f"{month:%Y-%m}", record.messages
        )
    return result
