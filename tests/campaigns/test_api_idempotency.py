"""Idempotency-Key on every POST of the open API (campaigns.api.idempotency).

The operation used is POST /api/v1/campaigns: its effect (a campaign row) is easy to count.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection, connections, transaction
from django.test import Client
from django.utils import timezone

from campaigns.api.app import api
from campaigns.api.idempotency import HEADER
from campaigns.models import Campaign
from campaigns.models.api import IdempotencyRecord
from campaigns.tasks import purge_idempotency_records
from tests.campaigns.api_helpers import api_post, bearer, make_api_key
from tests.factories import make_active_account

BODY = {"kind": "marketing", "name": "夏季上新", "text": "夏季新品上架，全场满199元减20元，欢迎进店选购。"}


@pytest.fixture
def token(alice_shop):
    make_active_account(alice_shop, balance=100)
    return make_api_key(alice_shop, scopes=["campaigns"])[1]


def post_campaign(client, token, body=BODY, key="order-42"):
    return api_post(client, "/campaigns", token, body, idempotency_key=key)


@pytest.mark.django_db
def test_every_post_operation_documents_the_idempotency_key():
    schema = api.get_openapi_schema()
    posts = [(path, item["post"]) for path, item in schema["paths"].items() if "post" in item]
    assert posts, "no POST operation in the schema"
    for path, operation in posts:
        headers = [p for p in operation.get("parameters", []) if p["in"] == "header"]
        assert [p["name"] for p in headers].count(HEADER) == 1, f"POST {path} lacks @idempotent"


@pytest.mark.django_db
def test_it_replays_the_first_answer_and_creates_one_campaign(client, alice_shop, token):
    first = post_campaign(client, token)
    assert first.status_code == 201, first.content
    again = post_campaign(client, token)

    assert again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Campaign.objects.filter(shop=alice_shop).count() == 1
    record = IdempotencyRecord.objects.get()
    assert (record.key, record.status_code) == ("order-42", 201)


@pytest.mark.django_db
def test_it_refuses_the_same_key_with_another_body_and_creates_nothing(client, alice_shop, token):
    assert post_campaign(client, token).status_code == 201
    response = post_campaign(client, token, body={**BODY, "name": "另一个任务"})

    assert response.status_code == 422
    assert response.json()["code"] == "IDEMPOTENCY-MISMATCH"
    assert "Idempotency-Key" in response.json()["message"]
    assert list(Campaign.objects.values_list("name", flat=True)) == ["夏季上新"]


@pytest.mark.django_db
def test_keys_are_per_api_key_and_requests_without_one_run_each_time(client, alice_shop, token):
    _other, other_token = make_api_key(alice_shop, scopes=["campaigns"], name="CRM")
    assert post_campaign(client, token).status_code == 201
    # The same Idempotency-Key under another API key is another request.
    assert "Idempotent-Replayed" not in post_campaign(client, other_token)
    assert api_post(client, "/campaigns", token, BODY).status_code == 201
    assert api_post(client, "/campaigns", token, BODY).status_code == 201
    assert Campaign.objects.filter(shop=alice_shop).count() == 4


@pytest.mark.django_db
def test_a_refusal_is_replayed_and_leaves_nothing_behind(client, alice_shop, token):
    bad = {**BODY, "text": "全网最低价，仅此一天！"}
    first = post_campaign(client, token, body=bad, key="bad-1")
    assert first.status_code == 422, first.content
    again = post_campaign(client, token, body=bad, key="bad-1")
    assert (again.status_code, again.json()) == (422, first.json())
    assert again["Idempotent-Replayed"] == "true"
    assert not Campaign.objects.exists()


@pytest.mark.django_db
def test_it_stores_nothing_for_an_unauthenticated_or_malformed_request(client, alice_shop, token):
    assert post_campaign(client, "sk_live_" + "x" * 48).status_code == 401
    long_key = post_campaign(client, token, key="k" * 256)
    assert long_key.status_code == 422
    assert long_key.json()["code"] == "VALIDATION"
    assert long_key.json()["errors"][0]["loc"] == ["header", HEADER]
    control = post_campaign(client, token, key="含中文")
    assert control.status_code == 422
    assert not IdempotencyRecord.objects.exists() and not Campaign.objects.exists()


@pytest.mark.django_db
def test_records_older_than_a_day_are_purged_and_the_key_runs_again(client, alice_shop, token):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert post_campaign(client, token).status_code == 201
    with time_machine.travel(start + timedelta(hours=23), tick=False):
        assert purge_idempotency_records() == 0
        assert post_campaign(client, token)["Idempotent-Replayed"] == "true"
    with time_machine.travel(start + timedelta(hours=24, minutes=1), tick=False):
        # Not purged yet: a record past its 24 h is taken over, as if gone.
        again = post_campaign(client, token)
        assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert Campaign.objects.count() == 2
    with time_machine.travel(start + timedelta(hours=49), tick=False):
        assert purge_idempotency_records() == 1
    assert not IdempotencyRecord.objects.exists()


def _waiting_on_locks() -> int:
    with connection.cursor() as cursor:
        # Inside a transaction pg_stat_activity is a snapshot taken once: take a fresh one.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def _wait_until(condition, *, seconds: float = 60.0) -> None:
    """Poll ``condition`` (a state, not a duration: the test never asserts on time)."""
    event = threading.Event()
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        event.wait(0.05)
    raise AssertionError("condition not reached")


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_posts_with_the_same_key_create_one_campaign(alice_shop):
    """Request A holds its transaction open (the campaigns table is locked against inserts by the
    test); request B with the same key arrives meanwhile and must wait on A's idempotency row,
    then replay A's answer once A commits."""
    make_active_account(alice_shop, balance=100)
    _key, token = make_api_key(alice_shop, scopes=["campaigns"])
    answers: dict[str, object] = {}

    def post(name: str) -> None:
        try:
            response = Client().post(
                "/api/v1/campaigns",
                json.dumps(BODY),
                content_type="application/json",
                headers={**bearer(token), HEADER: "same-key"},
            )
            answers[name] = response
        finally:
            connections.close_all()

    with transaction.atomic(), connection.cursor() as cursor:
        # Inserts into campaigns_campaign wait until this transaction ends; reads do not.
        cursor.execute("LOCK TABLE campaigns_campaign IN SHARE MODE")
        first = threading.Thread(target=post, args=("a",))
        first.start()
        _wait_until(lambda: _waiting_on_locks() >= 1 or not first.is_alive())
        assert "a" not in answers, answers["a"].content  # A: in its transaction, blocked on the insert
        second = threading.Thread(target=post, args=("b",))
        second.start()
        _wait_until(lambda: _waiting_on_locks() >= 2)  # B: blocked on A's idempotency row
        assert not IdempotencyRecord.objects.exists()  # A's row is not committed yet
    first.join()
    second.join()

    a, b = answers["a"], answers["b"]
    assert (a.status_code, b.status_code) == (201, 201), (a.content, b.content)
    assert a.json() == b.json()
    assert "Idempotent-Replayed" not in a and b["Idempotent-Replayed"] == "true"
    assert Campaign.objects.filter(shop=alice_shop).count() == 1
    assert IdempotencyRecord.objects.get().status_code == 201


@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_posts_with_the_same_key_run_once(alice_shop):
    make_active_account(alice_shop, balance=100)
    _key, token = make_api_key(alice_shop, scopes=["campaigns"])
    barrier = threading.Barrier(8)
    answers: list = []
    lock = threading.Lock()

    def post() -> None:
        try:
            client = Client()
            barrier.wait()
            response = client.post(
                "/api/v1/campaigns",
                json.dumps(BODY),
                content_type="application/json",
                headers={**bearer(token), HEADER: "burst"},
            )
            with lock:
                answers.append(response)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status_code for r in answers] == [201] * 8
    assert len({r.content for r in answers}) == 1
    assert sum("Idempotent-Replayed" not in r for r in answers) == 1
    assert Campaign.objects.filter(shop=alice_shop).count() == 1
