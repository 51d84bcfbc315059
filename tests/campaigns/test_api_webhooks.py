"""POST/GET/DELETE /api/v1/webhooks: the secret once, the scope, the URL rules, other shops' 404."""

from __future__ import annotations

import pytest

from campaigns.models import WebhookEndpoint
from tests.campaigns.api_helpers import api_get, api_post, bearer, make_api_key

URL = "https://93.184.215.14/hooks/sms"


@pytest.fixture
def alice_key(alice_shop):
    return make_api_key(alice_shop)[1]


def create(client, token: str, body: dict, **kwargs):
    return api_post(client, "/webhooks", token, body, **kwargs)


def test_it_creates_an_endpoint_and_returns_its_secret_once(client, alice_shop, alice_key):
    answer = create(client, alice_key, {"url": URL, "events": ["optout.created", "message.delivered"]})
    assert answer.status_code == 201, answer.content
    body = answer.json()
    endpoint = WebhookEndpoint.objects.get()
    assert body["secret"] == endpoint.secret and body["secret"].startswith("whsec_")
    assert (body["id"], body["url"], body["status"]) == (endpoint.pk, URL, "active")
    assert body["events"] == ["message.delivered", "optout.created"] and endpoint.shop == alice_shop
    listed = api_get(client, "/webhooks", alice_key).json()
    assert [item["id"] for item in listed["items"]] == [endpoint.pk] and listed["next"] is None
    assert "secret" not in listed["items"][0]
    detail = api_get(client, f"/webhooks/{endpoint.pk}", alice_key).json()
    assert detail["url"] == URL and "secret" not in detail


def test_it_replays_a_create_with_the_same_idempotency_key(client, alice_key):
    body = {"url": URL, "events": ["optout.created"]}
    first = create(client, alice_key, body, idempotency_key="hook-1")
    again = create(client, alice_key, body, idempotency_key="hook-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert WebhookEndpoint.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"url": "https://127.0.0.1/hooks", "events": ["optout.created"]}, "WEBHOOK-URL"),
        ({"url": "http://93.184.215.14/hooks", "events": ["optout.created"]}, "WEBHOOK-URL"),
        ({"url": URL, "events": ["order.paid"]}, "WEBHOOK-EVENTS"),
        ({"url": URL, "events": []}, "VALIDATION"),
        ({"url": URL}, "VALIDATION"),
    ],
)
def test_it_refuses_bad_urls_and_events_with_422(client, alice_key, settings, body, code):
    settings.WEBHOOKS_ALLOW_HTTP = settings.WEBHOOKS_ALLOW_PRIVATE = False
    answer = create(client, alice_key, body)
    assert answer.status_code == 422 and answer.json()["code"] == code
    assert answer.json()["message"]
    assert not WebhookEndpoint.objects.exists()


def test_it_needs_the_webhooks_scope(client, alice_shop):
    _key, token = make_api_key(alice_shop, scopes=["orders"])
    answer = create(client, token, {"url": URL, "events": ["optout.created"]})
    assert answer.status_code == 403 and answer.json()["code"] == "SCOPE-MISSING"
    assert api_get(client, "/webhooks", token).status_code == 403
    assert not WebhookEndpoint.objects.exists()


def test_it_never_shows_or_deletes_another_shops_endpoint(client, alice_key, bob_shop):
    _key, bob_token = make_api_key(bob_shop)
    endpoint_id = create(client, alice_key, {"url": URL, "events": ["optout.created"]}).json()["id"]
    assert api_get(client, f"/webhooks/{endpoint_id}", bob_token).status_code == 404
    assert api_get(client, "/webhooks", bob_token).json()["items"] == []
    refused = client.delete(f"/api/v1/webhooks/{endpoint_id}", headers=bearer(bob_token))
    assert refused.status_code == 404 and refused.json()["code"] == "NOT-FOUND"
    assert WebhookEndpoint.objects.filter(pk=endpoint_id).exists()
    deleted = client.delete(f"/api/v1/webhooks/{endpoint_id}", headers=bearer(alice_key))
    assert deleted.status_code == 204
    assert not WebhookEndpoint.objects.exists()
    assert client.delete(f"/api/v1/webhooks/{endpoint_id}", headers=bearer(alice_key)).status_code == 404
