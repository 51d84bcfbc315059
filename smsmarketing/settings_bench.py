"""Benchmark settings: the production settings plus the development-only ``bench`` app, whose
management commands seed and run the benchmarks (docs/PERFORMANCE.md)::

    DJANGO_SETTINGS_MODULE=smsmarketing.settings_bench .venv/bin/python manage.py bench_send

Nothing else differs, so the pages and the pipeline are measured as production runs them.
"""

import os

from smsmarketing.settings import *  # noqa: F403
from smsmarketing.settings import INSTALLED_APPS, MIDDLEWARE

INSTALLED_APPS = [*INSTALLED_APPS, "bench"]

# ``COLD=1 bench/web.sh``: the cache flushed before every request (bench.middleware).
if os.environ.get("BENCH_COLD_CACHE") == "1":
    MIDDLEWARE = ["bench.middleware.ColdCacheMiddleware", *MIDDLEWARE]
