"""Recovery within a minute: the resume sweep (``campaigns.tasks.resume_unfinished_runs``) runs
every minute instead of every 10 (docs/OPERATIONS.md, recovery after a crash). It only enqueues
runs no worker holds, so running it often costs a few queries."""

from django.db import migrations
from django.utils import timezone

NAME = "campaigns-resume-unfinished-runs"


def every_minute(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).update(minutes=1, next_run=timezone.now())


def every_ten_minutes(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).update(minutes=10)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0015_purge_import_previews_schedule")]

    operations = [migrations.RunPython(every_minute, every_ten_minutes)]
