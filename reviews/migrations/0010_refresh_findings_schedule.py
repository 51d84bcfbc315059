"""Every 15 minutes, refresh the stored findings of pending items whose inputs changed without
enqueuing a refresh themselves (a deploy that bumps RULES_VERSION, a queryset update)."""

from django.db import migrations
from django.utils import timezone

NAME = "reviews-refresh-findings"


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.get_or_create(
        name=NAME,
        defaults={"func": "reviews.tasks.refresh_findings", "schedule_type": "I", "minutes": 15,
                  "repeats": -1, "next_run": timezone.now()},
    )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0009_template_custom_queue_idx"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create, remove)]
