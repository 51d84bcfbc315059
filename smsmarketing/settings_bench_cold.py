"""The benchmark settings with the cache flushed before every request (``COLD=1 bench/web.sh``),
as after a deploy or a Redis restart: ``bench.middleware.ColdCacheMiddleware`` first. Never used
by production, which runs ``smsmarketing.settings``."""

from smsmarketing.settings import MIDDLEWARE
from smsmarketing.settings_bench import *  # noqa: F403

MIDDLEWARE = ["bench.middleware.ColdCacheMiddleware", *MIDDLEWARE]
