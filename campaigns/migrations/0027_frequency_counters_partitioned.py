"""Frequency counters partitioned by day (issue 25): the nightly purge becomes a partition drop.

The models do not change (no state operation): PostgreSQL routes rows to the day partitions.
Written for a live system (``atomic = False``: each step is its own short transaction): the
partitioned tables are built beside the old ones, filled in key-ordered batches while mirror
triggers copy the concurrent writes, then swapped in by renames in one short transaction
under ``lock_timeout`` with retries; re-running resumes where an interrupted run stopped.
See ``campaigns.services.frequency_partitions.frequency_counters_partition`` and
docs/OPERATIONS.md "Frequency counter partitions".
"""

from django.db import migrations


def forward(apps, schema_editor):
    from campaigns.services.frequency import PURGE_KEEP_DAYS
    from campaigns.services.frequency_partitions import frequency_counters_partition

    frequency_counters_partition(keep_days=PURGE_KEEP_DAYS)


def backward(apps, schema_editor):
    from campaigns.services.frequency_partitions import frequency_counters_unpartition

    frequency_counters_unpartition()


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("campaigns", "0026_spend_limit_pause")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
