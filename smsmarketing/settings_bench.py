"""Benchmark settings: the production settings plus the development-only ``bench`` app, whose
management commands seed and run the benchmarks (docs/PERFORMANCE.md)::

    DJANGO_SETTINGS_MODULE=smsmarketing.settings_bench .venv/bin/python manage.py bench_send

Nothing else differs, so the pages and the pipeline are measured as production runs them.
"""

from smsmarketing.settings import *  # noqa: F403
from smsmarketing.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "bench"]
