"""The metrics' "last minute" index (campaigns.metrics): the latest of a message's created_at,
sent_at and final_at. Built CONCURRENTLY: the message table is the largest, and a plain
CREATE INDEX would block the pipeline's writes while it is built."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models
from django.db.models.functions import Greatest


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("campaigns", "0016_resume_runs_every_minute"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="message",
            index=models.Index(Greatest("created_at", "sent_at", "final_at"), name="message_last_change"),
        ),
    ]
