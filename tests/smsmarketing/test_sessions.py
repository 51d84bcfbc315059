"""Sessions in the shared cache (``cached_db``, chosen with CACHE_URL=redis://...): login and
logout work as with database sessions, and a logged-out session id is refused at once."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.contrib.sessions.backends.cached_db import KEY_PREFIX
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.test import Client, override_settings
from django.urls import reverse

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

CACHED_DB = override_settings(
    SESSION_ENGINE="django.contrib.sessions.backends.cached_db",
    CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "sessions"}},
)


def _engine(cache_url: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "CACHE_URL"}
    if cache_url is not None:
        env["CACHE_URL"] = cache_url
    code = "from django.conf import settings; print(settings.SESSION_ENGINE)"
    return subprocess.run(
        [sys.executable, "-c", f"import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
                               f"'smsmarketing.settings'); django.setup(); {code}"],
        env=env, capture_output=True, text=True, check=True, cwd=settings.BASE_DIR,
    ).stdout.strip()


def test_it_keeps_sessions_in_the_cache_only_when_the_cache_is_shared():
    assert _engine("redis://127.0.0.1:6379/0") == "django.contrib.sessions.backends.cached_db"
    # Per-process caches: a logout in one worker would leave the session cached in the others.
    assert _engine(None) == "django.contrib.sessions.backends.db"
    assert _engine("") == "django.contrib.sessions.backends.db"


@CACHED_DB
def test_it_logs_in_and_out_with_cached_sessions(client, alice, alice_shop):
    cache.clear()
    client.get(reverse("login"))
    client.session.save()
    anonymous_key = client.session.session_key
    client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert key != anonymous_key  # no session fixation
    assert Session.objects.filter(session_key=key).exists()  # written to the database too
    assert cache.get(KEY_PREFIX + key) is not None
    dashboard = reverse("portal:dashboard", args=[alice_shop.pk])
    assert client.get(dashboard).status_code == 200

    client.post(reverse("logout"))
    assert cache.get(KEY_PREFIX + key) is None
    assert not Session.objects.filter(session_key=key).exists()
    stale = Client()
    stale.cookies[settings.SESSION_COOKIE_NAME] = key
    assert stale.get(dashboard).status_code == 302  # the old session id no longer works


@CACHED_DB
def test_it_reads_a_session_from_the_database_when_the_cache_lost_it(client, alice, alice_shop):
    client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    cache.clear()  # Redis restarted
    assert client.get(reverse("portal:dashboard", args=[alice_shop.pk])).status_code == 200
