"""Every minute, end the A/B tests that are due: the winner by the campaign's metric goes to the
rest of the audience (``campaigns.services.ab_testing.ab_tests_end_due``; a failed or missed
minute is taken up by the next one)."""

from django.db import migrations
from django.utils import timezone

NAME = "campaigns-end-ab-tests"


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.get_or_create(
        name=NAME,
        defaults={"func": "campaigns.tasks.end_ab_tests", "schedule_type": "I", "minutes": 1,
                  "repeats": -1, "next_run": timezone.now()},
    )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0020_link_previewers")]

    operations = [migrations.RunPython(create, remove)]
