"""gunicorn's settings for this app, read from the working directory by every ``gunicorn`` started here.

The bind address, the number of workers and the graceful timeout are given on the command line
(the ``Procfile`` for ``make run``, the systemd unit in production: docs/OPERATIONS.md). Here:
the application, and gunicorn's own lines (start-up, signals, the access log) in the one log
format of Django's ``LOGGING`` (ISO-8601 time with its zone).
"""

import os

from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smsmarketing.settings")

wsgi_app = "smsmarketing.wsgi:application"
logconfig_dict = settings.LOGGING
# The line's own time comes first (LOGGING); gunicorn's %(t)s would be a second one.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'
# gunicornc's control socket defaults to one path per user; several gunicorns on a host (the
# tests, the benchmarks, a developer's run) would take it from each other. Nothing here uses it.
control_socket_disable = True
