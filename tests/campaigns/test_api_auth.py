"""The open API's checks around every endpoint: scopes, the per-key rate limit, error bodies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import time_machine
from django.core.cache import cache
from django.db import connections
from django.test import Client
from django.utils import timezone

from campaigns.models.api import IdempotencyRecord
from smsmarketing.models import RateLimitCounter
from tests.campaigns.api_helpers import api_get, api_post, bearer, make_api_key
from tests.dburl import test_database_url as database_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_it_refuses_a_key_without_the_scope_with_403_and_says_which(client, alice_shop):
    _key, token = make_api_key(alice_shop, scopes=["orders"])
    response = api_get(client, "/campaigns", token)
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "SCOPE-MISSING"
    assert "campaigns" in body["message"] and "营销任务" in body["message"]
    # The same key reaches what its scopes allow.
    assert api_get(client, "/account", token).status_code == 200


@pytest.mark.django_db
def test_it_converts_validation_errors_into_a_chinese_422_with_locations(client, alice_shop):
    _key, token = make_api_key(alice_shop)
    response = api_post(client, "/campaigns", token, {"kind": "spam", "text": 5})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "VALIDATION"
    assert body["message"].startswith("请求参数不合法")
    by_field = {tuple(error["loc"][-1:]): error["message"] for error in body["errors"]}
    assert by_field[("kind",)].startswith("须为以下之一")
    assert by_field[("name",)] == "缺少必填字段"
    assert all(error["loc"][0] == "body" for error in body["errors"])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "where"),
    [({"limit": 0}, "limit"), ({"limit": "many"}, "limit"), ({"cursor": "not-a-cursor"}, None)],
)
def test_it_refuses_bad_paging_with_422(client, alice_shop, query, where):
    _key, token = make_api_key(alice_shop)
    response = api_get(client, "/campaigns", token, **query)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "VALIDATION"
    if where:
        assert body["errors"][0]["loc"][-1] == where


@pytest.mark.django_db
@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe", b"[1, 2"])
def test_it_answers_400_for_a_body_that_is_not_json(client, alice_shop, raw):
    _key, token = make_api_key(alice_shop)
    response = client.post("/api/v1/campaigns", raw, content_type="application/json", headers=bearer(token))
    assert response.status_code == 400
    assert response.json()["code"] == "BAD-REQUEST"


@pytest.mark.django_db(transaction=True)
def test_the_rate_limit_holds_across_concurrent_clients_with_retry_after(alice_shop, settings):
    """Four threads (own connections, as web processes) share one key's limit: exactly the
    limit is answered, the rest get 429 with Retry-After up to the window's end; the count is
    the PostgreSQL row every process sees; another key is not affected."""
    settings.API_RATE_LIMIT = {"requests": 10, "seconds": 60}
    key, token = make_api_key(alice_shop)
    _other, other_token = make_api_key(alice_shop, name="CRM")
    statuses: list[int] = []
    retry_after: set[str] = set()
    codes: set[str] = set()
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def burst() -> None:
        client = Client()
        barrier.wait()
        try:
            answers = [api_get(client, "/account", token) for _ in range(5)]
            with lock:
                statuses.extend(a.status_code for a in answers)
                retry_after.update(a["Retry-After"] for a in answers if a.status_code == 429)
                codes.update(a.json()["code"] for a in answers if a.status_code == 429)
        finally:
            connections.close_all()

    with time_machine.travel(timezone.now().replace(second=5), tick=False):
        threads = [threading.Thread(target=burst) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert api_get(Client(), "/account", other_token).status_code == 200

    assert sorted(statuses) == [200] * 10 + [429] * 10
    assert retry_after == {"55"}
    assert codes == {"RATE-LIMITED"}
    assert RateLimitCounter.objects.get(key=f"api:{key.pk}").hits == 20


@pytest.mark.django_db
def test_the_rate_limit_counts_in_the_shared_cache_when_there_is_one(client, alice_shop, settings):
    settings.API_RATE_LIMIT = {"requests": 3, "seconds": 60}
    settings.CACHE_SHARED = True  # the Redis branch, through the configured cache
    cache.clear()
    _key, token = make_api_key(alice_shop)
    with time_machine.travel(timezone.now().replace(second=50), tick=False):
        statuses = [api_get(client, "/account", token).status_code for _ in range(5)]
        assert api_get(client, "/account", token)["Retry-After"] == "10"
    assert statuses == [200, 200, 200, 429, 429]
    assert not RateLimitCounter.objects.exists()


@pytest.mark.django_db
def test_a_limited_post_is_not_stored_as_its_idempotent_answer(client, alice_shop, settings):
    settings.API_RATE_LIMIT = {"requests": 1, "seconds": 60}
    _key, token = make_api_key(alice_shop)
    with time_machine.travel(timezone.now().replace(second=5), tick=False):
        assert api_get(client, "/account", token).status_code == 200
        limited = api_post(client, "/campaigns", token, {"kind": "marketing"}, idempotency_key="k1")
    assert limited.status_code == 429
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_rate_limit_holds_across_processes(alice_shop):
    """Three processes (as three web nodes) share one key's limit through PostgreSQL only."""
    key, token = make_api_key(alice_shop)
    window, limit, per_process, processes = 3600, 25, 15, 3
    # The count is per fixed window: start well inside one (wait out the last minute of an hour,
    # so the requests of all processes fall in the same window; a state, not a timed assertion).
    while window - time.time() % window < 60:
        threading.Event().wait(1)
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "smsmarketing.settings_test",
    }
    config = {"token": token, "n": per_process, "limit": limit, "window": window, "start_at": time.time() + 5}
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.campaigns.api_rate_worker", json.dumps(config)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))

    statuses = sorted(status for result in results for status in result["statuses"])
    assert statuses == [200] * limit + [429] * (per_process * processes - limit)
    assert all(int(value) >= 1 for result in results for value in result["retry_after"])
    assert RateLimitCounter.objects.get(key=f"api:{key.pk}").hits == per_process * processes
