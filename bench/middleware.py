"""Benchmark-only middleware (installed by smsmarketing.settings_bench_cold, which
``COLD=1 bench/web.sh`` serves): the cache is flushed before every request, as after a deploy
or a Redis restart, so a page's cost is measured with nothing kept. Never part of the
production settings."""

from __future__ import annotations

from django.core.cache import cache


class ColdCacheMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        cache.clear()
        return self.get_response(request)
