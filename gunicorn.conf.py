"""gunicorn's settings for this app, read from the working directory by every ``gunicorn`` started here.

The bind address, the number of workers and the graceful timeout are given on the command line
(the ``Procfile`` for ``make run``, the systemd unit in production: docs/OPERATIONS.md). Here:
the application, and gunicorn's own lines (start-up, signals, the access log) in the one log
format of Django's ``LOGGING`` (ISO-8601 time with its zone).
"""

import os
import shutil
import tempfile

from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smsmarketing.settings")

# /metrics with several workers (prometheus_client's multi-process mode): each worker writes its
# request metrics to files in one folder and /metrics adds them up, whichever worker answers
# (without it a scrape read one worker's own counters, and rates jumped from scrape to scrape).
# Set before any worker imports prometheus_client, which reads it at import; a new folder per
# master, removed when it exits. docs/OPERATIONS.md, "Metrics and alerts".
_metrics_dir = tempfile.mkdtemp(prefix="smsmarketing-prometheus-")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir
from prometheus_client import multiprocess  # noqa: E402  (after the folder is set: see above)

wsgi_app = "smsmarketing.wsgi:application"
logconfig_dict = settings.LOGGING
# The line's own time comes first (LOGGING); gunicorn's %(t)s would be a second one.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'
# gunicornc's control socket defaults to one path per user; several gunicorns on a host (the
# tests, the benchmarks, a developer's run) would take it from each other. Nothing here uses it.
control_socket_disable = True


def child_exit(server, worker):
    """A worker is gone: its live gauges no longer count (its counters still do)."""
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    shutil.rmtree(_metrics_dir, ignore_errors=True)
