"""``manage.py qcluster``: django-q2's command, with its log lines in English.

django-q2 translates its log messages, and under ``LANGUAGE_CODE = "zh-hans"`` half of them came
out in Chinese. Operators' logs are English, so the cluster runs with translations deactivated
(Django's ``no_translations``, as for any command whose output is not for end users); its
processes are forked from this one and keep that. Text for merchants is written in Chinese in
the source, so tasks are unaffected. This app comes before ``django_q`` in ``INSTALLED_APPS``,
which is how Django lets a project override another app's command.
"""

from __future__ import annotations

from django.core.management.base import no_translations
from django_q.management.commands.qcluster import Command as QclusterCommand


class Command(QclusterCommand):
    @no_translations
    def handle(self, *args, **options):
        return super().handle(*args, **options)
