"""Two concurrent POST /api/v1/campaigns with the same Idempotency-Key create one campaign (issue
22): real threads, each its own PostgreSQL connection, the two requests proven to overlap."""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.db import connection, transaction
from django.test import Client

from campaigns.models import Campaign
from campaigns.models.api import IdempotencyRecord
from tests.campaigns.api_helpers import bearer, make_api_key
from tests.campaigns.campaign_fixtures import MARKETING_TEXT

# How long the test waits for both requests to be blocked before it gives up (a failure, not a
# measured time: the requests block within milliseconds).
WAIT_FOR_BOTH = 60


def _waiting_on_locks() -> int:
    with connection.cursor() as cursor:
        # Inside a transaction the activity view is a snapshot taken once: take a fresh one.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            """SELECT count(*) FROM pg_stat_activity
               WHERE datname = current_database() AND wait_event_type = 'Lock'"""
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_it_creates_one_campaign_for_two_concurrent_posts_with_the_same_key(ready_shop):
    _key, token = make_api_key(ready_shop, scopes=["campaigns"])
    body = json.dumps({"kind": "marketing", "name": "并发", "text": MARKETING_TEXT})
    headers = {**bearer(token), "Idempotency-Key": "erp-order-sync-7f3a"}
    responses = []

    def post() -> None:
        try:
            responses.append(
                Client().post("/api/v1/campaigns", body, content_type="application/json", headers=headers)
            )
        finally:
            connection.close()

    # The first request of a process imports half the project (scipy for the results): taken
    # here, so the two requests below are quick to reach the database.
    assert Client().get("/api/v1/campaigns", headers=bearer(token)).status_code == 200
    # Hold the campaign table so the first request stops inside its transaction, after claiming
    # the key: the second then waits on that claim. Both blocked at once proves they overlap.
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {Campaign._meta.db_table} IN EXCLUSIVE MODE")
        threads = [threading.Thread(target=post) for _ in range(2)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + WAIT_FOR_BOTH
        while _waiting_on_locks() < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        both_blocked = _waiting_on_locks() >= 2
    for thread in threads:
        thread.join()

    assert both_blocked, "the two requests never overlapped"
    assert sorted(r.status_code for r in responses) == [201, 201], [r.content for r in responses]
    assert Campaign.objects.filter(shop=ready_shop).count() == 1
    assert responses[0].json() == responses[1].json()
    assert sorted(r.headers.get("Idempotent-Replayed", "") for r in responses) == ["", "true"]
    assert IdempotencyRecord.objects.filter(key="erp-order-sync-7f3a").count() == 1


@pytest.mark.django_db(transaction=True)
def test_it_creates_two_campaigns_for_two_concurrent_posts_with_different_keys(ready_shop):
    _key, token = make_api_key(ready_shop, scopes=["campaigns"])
    body = json.dumps({"kind": "marketing", "name": "并发", "text": MARKETING_TEXT})
    barrier = threading.Barrier(2)
    statuses = []

    def post(key: str) -> None:
        try:
            barrier.wait()
            response = Client().post(
                "/api/v1/campaigns", body, content_type="application/json",
                headers={**bearer(token), "Idempotency-Key": key},
            )  # fmt: skip
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(key,)) for key in ("key-a", "key-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [201, 201]
    assert Campaign.objects.filter(shop=ready_shop).count() == 2
