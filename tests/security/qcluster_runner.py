"""``python -m tests.security.qcluster_runner ISO_TIME``: ``manage.py qcluster`` with the clock
travelled to ISO_TIME (ticking; the forked workers inherit it), so the marketing window is
open whatever the real time. The fault tests SIGKILL its whole process group."""

from __future__ import annotations

import os
import sys


def main() -> int:
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.security.qcluster_settings"
    import django

    django.setup()
    from datetime import datetime

    import time_machine
    from django.core.management import call_command

    with time_machine.travel(datetime.fromisoformat(sys.argv[1]), tick=True):
        call_command("qcluster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
