"""Every night at 03:30 (Asia/Shanghai), delete frequency counters older than a week
(``frequency_purge`` by hand does the same), so the counter tables stay the size of a week."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import migrations

NAME = "campaigns-purge-frequency-counters"


def next_0330(now: datetime) -> datetime:
    local = now.astimezone(ZoneInfo("Asia/Shanghai"))
    at = datetime.combine(local.date(), time(3, 30), tzinfo=local.tzinfo)
    return at if at > local else at + timedelta(days=1)


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.get_or_create(
        name=NAME,
        defaults={
            "func": "campaigns.tasks.purge_frequency_counters",
            "schedule_type": "D",
            "repeats": -1,
            "next_run": next_0330(datetime.now(tz=ZoneInfo("UTC"))),
        },
    )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0009_message_lean_constraints")]

    operations = [migrations.RunPython(create, remove)]
