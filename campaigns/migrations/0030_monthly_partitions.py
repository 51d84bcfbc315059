"""The message history partitioned by month (issue 25; docs/RETENTION.md).

``CampaignRun.month`` (the month its messages go to) is added and filled from ``created_at``
(idempotently: an interrupted ``migrate`` is run again). The
message, delivery report and click tables become ``RANGE (month)`` partitioned tables, converted
for a live system by ``campaigns.services.message_partitions.message_tables_partition``
(``atomic = False``: each step is its own short transaction; running it again resumes): the new
tables are built beside the old ones, filled in id-ordered batches while mirror triggers copy the
concurrent writes, then swapped in by renames in one short transaction under ``lock_timeout``.
The state operations are what Django sees of it: a ``month`` column on each table, the unique
keys with ``month``, and no database foreign key from the reports to the messages.

A daily task (04:40 Asia/Shanghai) keeps partitions ahead and archives the months past the
retention (``campaigns.tasks.retain_message_history``).
"""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import django.db.models.deletion
from django.db import migrations, models

import campaigns.models.sending

NAME = "campaigns-retain-message-history"


def next_0440(now: datetime) -> datetime:
    local = now.astimezone(ZoneInfo("Asia/Shanghai"))
    at = datetime.combine(local.date(), time(4, 40), tzinfo=local.tzinfo)
    return at if at > local else at + timedelta(days=1)


# The run's month, idempotent (this migration is not atomic: a run stopped after this step runs it
# again). The database default is the insert's local month, as Django's: code of the release
# before this one, still creating runs while the migration runs, writes no month.
RUN_MONTH_SQL = [
    "ALTER TABLE campaigns_campaignrun ADD COLUMN IF NOT EXISTS month date",
    """ALTER TABLE campaigns_campaignrun
       ALTER COLUMN month SET DEFAULT date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai')::date""",
    """UPDATE campaigns_campaignrun
       SET month = date_trunc('month', created_at AT TIME ZONE 'Asia/Shanghai')::date
       WHERE month IS DISTINCT FROM date_trunc('month', created_at AT TIME ZONE 'Asia/Shanghai')::date""",
    "ALTER TABLE campaigns_campaignrun ALTER COLUMN month SET NOT NULL",
]


def fill_run_months(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for statement in RUN_MONTH_SQL:
            cursor.execute(statement)


def partition(apps, schema_editor):
    from campaigns.services.message_partitions import message_tables_partition

    message_tables_partition()


def unpartition(apps, schema_editor):
    raise RuntimeError("The message history stays partitioned: restore a backup to go back before 0030.")


def schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.get_or_create(
        name=NAME,
        defaults={
            "func": "campaigns.tasks.retain_message_history",
            "schedule_type": "D",
            "repeats": -1,
            "next_run": next_0440(datetime.now(tz=ZoneInfo("UTC"))),
        },
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


STATE = [
    migrations.RemoveConstraint(model_name="message", name="message_run_phone_unique"),
    migrations.AddField(
        model_name="click",
        name="month",
        field=models.DateField(default=campaigns.models.sending.current_month, editable=False),
    ),
    migrations.AddField(
        model_name="deliveryreport",
        name="month",
        field=models.DateField(default=campaigns.models.sending.current_month, editable=False),
    ),
    migrations.AddField(
        model_name="message",
        name="month",
        field=models.DateField(default=campaigns.models.sending.current_month, editable=False),
    ),
    migrations.AlterField(
        model_name="deliveryreport",
        name="message",
        field=models.ForeignKey(
            db_constraint=False,
            on_delete=django.db.models.deletion.CASCADE,
            related_name="reports",
            to="campaigns.message",
        ),
    ),
    migrations.AlterField(
        model_name="message", name="link_code", field=models.CharField(blank=True, max_length=16, null=True)
    ),
    migrations.AddConstraint(
        model_name="message",
        constraint=models.UniqueConstraint(fields=("run", "phone", "month"), name="message_run_phone_unique"),
    ),
    migrations.AddConstraint(
        model_name="message",
        constraint=models.UniqueConstraint(fields=("link_code", "month"), name="message_link_code_unique"),
    ),
]


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("campaigns", "0029_click_order_counters"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="campaignrun",
                    name="month",
                    field=models.DateField(
                        default=campaigns.models.sending.current_month, editable=False, verbose_name="所属月份"
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(fill_run_months, migrations.RunPython.noop, elidable=False)],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=STATE,
            database_operations=[migrations.RunPython(partition, unpartition, elidable=False)],
        ),
        migrations.RunPython(schedule, unschedule),
    ]
