"""The pipeline's periodic django-q2 schedules: settle delivery reports every
minute, release messages without a final report after 72 hours (hourly)."""

from django.db import migrations
from django.utils import timezone

SCHEDULES = [
    # name, func, schedule type, minutes
    ("campaigns-settle-deliveries", "campaigns.tasks.settle_deliveries", "I", 1),
    ("campaigns-expire-stale-messages", "campaigns.tasks.expire_stale_messages", "H", None),
]


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for name, func, schedule_type, minutes in SCHEDULES:
        Schedule.objects.get_or_create(
            name=name,
            defaults={
                "func": func,
                "schedule_type": schedule_type,
                "minutes": minutes,
                "repeats": -1,
                "next_run": timezone.now(),
            },
        )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0004_audience_and_sending"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create, remove)]
