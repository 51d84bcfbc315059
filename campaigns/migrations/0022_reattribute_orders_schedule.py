"""Every hour, attribute again the orders placed within the last days: a delivery report that
arrives after its order was ingested then counts (``campaigns.tasks.reattribute_recent_orders``;
docs/RESULTS.md, "Attribution")."""

from django.db import migrations
from django.utils import timezone

NAME = "campaigns-reattribute-orders"


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.get_or_create(
        name=NAME,
        defaults={
            "func": "campaigns.tasks.reattribute_recent_orders",
            "schedule_type": "H",
            "repeats": -1,
            "next_run": timezone.now(),
        },
    )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0021_end_ab_tests_schedule")]

    operations = [migrations.RunPython(create, remove)]
