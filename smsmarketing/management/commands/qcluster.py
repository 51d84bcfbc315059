"""``manage.py qcluster``: django-q2's command, with its log lines in English.

django-q2 translates its log messages, and under ``LANGUAGE_CODE = "zh-hans"`` half of them came
out in Chinese. Operators' logs are English, so the cluster runs with translations deactivated
for the rest of the process (as Django's ``no_translations`` does for a command's duration; the
cluster logs its stop after ``handle`` has returned, so the state is not restored). Its processes
are forked from this one and keep that. Text for merchants is written in Chinese in the source,
so tasks are unaffected. This app comes before ``django_q`` in ``INSTALLED_APPS``, which is how
Django lets a project override another app's command.
"""

from __future__ import annotations

from django.utils import translation
from django_q.management.commands.qcluster import Command as QclusterCommand


class Command(QclusterCommand):
    def handle(self, *args, **options):
        translation.deactivate_all()
        return super().handle(*args, **options)
