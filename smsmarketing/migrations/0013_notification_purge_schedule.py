"""Every night at 04:20 (Asia/Shanghai), delete notifications older than 180 days with their mails
(``smsmarketing.tasks.purge_notifications``), so the inbox tables keep half a year."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import migrations

NAME = "smsmarketing-purge-notifications"


def next_0420(now: datetime) -> datetime:
    local = now.astimezone(ZoneInfo("Asia/Shanghai"))
    at = datetime.combine(local.date(), time(4, 20), tzinfo=local.tzinfo)
    return at if at > local else at + timedelta(days=1)


def create(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.get_or_create(
        name=NAME,
        defaults={
            "func": "smsmarketing.tasks.purge_notifications",
            "schedule_type": "D",
            "repeats": -1,
            "next_run": next_0420(datetime.now(tz=ZoneInfo("UTC"))),
        },
    )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("smsmarketing", "0012_spend_limits"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create, remove)]
