"""A run-task worker process for the crash tests.

Usage: ``python -m tests.campaigns.pipeline_worker RUN_ID ISO_TIME``.

It runs the campaign run task exactly as a django-q2 worker would, with the clock
travelled to ISO_TIME (ticking), so the marketing window is open whatever the
real time. The crash tests kill it: ``CAMPAIGNS_CRASH_AFTER_PLAN_BATCHES`` /
``CAMPAIGNS_CRASH_AFTER_DISPATCH_BATCHES`` make it ``os._exit`` mid-run, or the
test sends it SIGKILL.
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smsmarketing.settings_test")
    import django

    django.setup()
    from datetime import datetime

    import time_machine

    from campaigns.tasks import run_campaign

    run_id, at = int(sys.argv[1]), datetime.fromisoformat(sys.argv[2])
    with time_machine.travel(at, tick=True):
        print(run_campaign(run_id), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
