"""Every night at 03:40 (Asia/Shanghai), cancel customer import previews left unconfirmed for a
day and drop their checked rows, so abandoned uploads do not keep a row per line."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import migrations

NAME = "campaigns-purge-stale-customer-imports"


def next_0340(now: datetime) -> datetime:
    local = now.astimezone(ZoneInfo("Asia/Shanghai"))
    at = datetime.combine(local.date(), time(3, 40), tzinfo=local.tzinfo)
    return at if at > local else at + timedelta(days=1)


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.get_or_create(
        name=NAME,
        defaults={
            "func": "campaigns.tasks.purge_stale_customer_imports",
            "schedule_type": "D",
            "repeats": -1,
            "next_run": next_0340(datetime.now(tz=ZoneInfo("UTC"))),
        },
    )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0014_customer_imports")]

    operations = [migrations.RunPython(create, remove)]
