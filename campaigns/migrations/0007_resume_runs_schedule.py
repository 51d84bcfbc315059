"""A safety net for killed workers: every 10 minutes, re-enqueue the runs still planning or
dispatching (running a run twice is safe: planning serialises on the run row, dispatch
claims with SKIP LOCKED)."""

from django.db import migrations
from django.utils import timezone

NAME = "campaigns-resume-unfinished-runs"


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.get_or_create(
        name=NAME,
        defaults={"func": "campaigns.tasks.resume_unfinished_runs", "schedule_type": "I", "minutes": 10,
                  "repeats": -1, "next_run": timezone.now()},
    )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0006_kannel_dlr_table")]

    operations = [migrations.RunPython(create, remove)]
