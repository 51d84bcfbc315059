"""Every 30 minutes, tell the shops whose review is past due, with an apology and a new estimate
(``reviews.tasks.notify_overdue_reviews``)."""

from django.db import migrations
from django.utils import timezone

NAME = "reviews-notify-overdue"


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.get_or_create(
        name=NAME,
        defaults={"func": "reviews.tasks.notify_overdue_reviews", "schedule_type": "I", "minutes": 30,
                  "repeats": -1, "next_run": timezone.now()},
    )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0022_patterns_third_batch"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create, remove)]
