"""Count the messages and orders already there into the holdout counters (migration 0032), in
batches of runs, each batch its own transaction: ``campaigns_holdout_recount`` takes the runs'
shops' exclusive advisory lock (planning batches and order statements of those shops wait for the
batch's commit; other shops, dispatch and delivery reports do not), recomputes each run's start
from its rows and applies the difference between a count from the rows and the counters.

Resumable and safe with the app running: the triggers of 0032 already keep every run up to date
from their first write on (a run not yet counted gets a start from its next batch, which its
recount here replaces), and a recount applies a difference, so running it again, or after an
interruption, changes nothing. Cost measured 2026-12-07 in docs/PERFORMANCE.md ("The holdout
groups", Deploying).
"""

from django.db import migrations, transaction

# About this many messages per transaction (a larger run is one transaction on its own).
BATCH_MESSAGES = 50_000


def backfill(apps, schema_editor) -> None:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        # The audience runs with their message counts, from the message counters (no scan).
        cursor.execute(
            """SELECT r.id, coalesce(sum(k.messages), 0) FROM campaigns_campaignrun r
               LEFT JOIN campaigns_messagecounter k ON k.run_id = r.id
               WHERE r.kind = 'audience' GROUP BY r.id ORDER BY r.id"""
        )
        runs = cursor.fetchall()
    batches: list[list[int]] = [[]]
    size = 0
    for run_id, messages in runs:
        if batches[-1] and size + messages > BATCH_MESSAGES:
            batches.append([])
            size = 0
        batches[-1].append(run_id)
        size += messages
    for batch in batches:
        if batch:
            with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                cursor.execute("SELECT campaigns_holdout_recount(%s::bigint[])", [batch])


class Migration(migrations.Migration):
    atomic = False  # one transaction per batch

    dependencies = [
        ("campaigns", "0032_holdout_counters"),
    ]

    operations = [
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
