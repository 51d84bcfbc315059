"""With CACHE_URL=redis://..., every web process shares Django's own Redis cache."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from django.conf import settings

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def in_a_web_process(code: str) -> str:
    """Run ``code`` in a fresh process with the production settings and CACHE_URL set."""
    env = {**os.environ, "CACHE_URL": REDIS_URL, "DJANGO_SETTINGS_MODULE": "smsmarketing.settings"}
    setup = (
        "import django; django.setup(); "
        "from django.conf import settings; from django.core.cache import cache; "
    )
    return subprocess.run(
        [sys.executable, "-c", setup + code], env=env, capture_output=True, text=True, check=True,
        cwd=settings.BASE_DIR,
    ).stdout.strip()


def test_it_shares_one_redis_cache_between_processes():
    # A key of its own: the machine's Redis is shared (never clear() it).
    key = f"test-shared-cache-{uuid.uuid4().hex}"
    backend = in_a_web_process(
        f"print(settings.CACHES['default']['BACKEND']); cache.set({key!r}, '计数', 60)"
    )
    assert backend == "django.core.cache.backends.redis.RedisCache"
    assert in_a_web_process(f"print(cache.get({key!r})); cache.delete({key!r})") == "计数"
    assert in_a_web_process(f"print(cache.get({key!r}, 'gone'))") == "gone"
