"""The open API acts as the key's creator, so the creator's shop role bounds the key at each
request: demoted to 只读, the key still reads but every write answers 403 ROLE-REQUIRED naming
the role needed (the services' own check), and nothing is written."""

from __future__ import annotations

import pytest
import time_machine

from campaigns.models import Campaign, Customer, Order, WebhookEndpoint
from smsmarketing.models import Membership
from tests.campaigns.api_helpers import api_get, api_post, make_api_key
from tests.campaigns.campaign_fixtures import MARKETING_TEXT, MORNING
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def _refused(response, needed: str) -> None:
    assert response.status_code == 403, response.content
    body = response.json()
    assert body["code"] == "ROLE-REQUIRED"
    assert f"此操作需要「{needed}」" in body["message"] and "您的角色是「只读」" in body["message"]


def _counts() -> list[int]:
    return [model.objects.count() for model in (Campaign, Customer, Order, WebhookEndpoint)]


def _demote(shop, user, role) -> None:
    Membership.objects.filter(shop=shop, user=user).update(role=role)


@time_machine.travel(MORNING, tick=False)
def test_it_lets_a_demoted_creators_key_read_but_not_write(client, ready_shop, alice):
    # A second owner keeps the shop owned; alice's key was made while she was an owner too.
    Membership.objects.create(shop=ready_shop, user=make_user("olivia"), role=Membership.Role.OWNER)
    _key, token = make_api_key(ready_shop, user=alice)
    draft = api_post(
        client, "/campaigns", token, {"kind": "marketing", "name": "草稿", "text": MARKETING_TEXT}
    )
    assert draft.status_code == 201, draft.content
    draft_id = draft.json()["id"]

    _demote(ready_shop, alice, Membership.Role.ANALYST)
    before = _counts()

    # Reads still answer.
    assert api_get(client, "/account", token).status_code == 200
    assert api_get(client, "/campaigns", token).status_code == 200
    assert api_get(client, f"/campaigns/{draft_id}", token).status_code == 200

    # Writes are refused, naming the role needed.
    body = {"kind": "marketing", "name": "只读建的", "text": MARKETING_TEXT}
    _refused(api_post(client, "/campaigns", token, body), "运营")
    _refused(api_post(client, f"/campaigns/{draft_id}/dry-run", token, {}), "运营")
    _refused(api_post(client, f"/campaigns/{draft_id}/schedule", token, {}), "运营")
    _refused(api_post(client, f"/campaigns/{draft_id}/cancel", token, {}), "运营")
    _refused(api_post(client, "/customers", token, {"items": [{"phone": "13900139000"}]}), "运营")
    order = {
        "order_no": "R1",
        "phone": "13900139000",
        "amount": "9.90",
        "placed_at": "2026-06-01T09:00:00+08:00",
    }
    _refused(api_post(client, "/orders", token, {"items": [order]}), "运营")
    hook = {"url": "https://93.184.215.14/hooks", "events": ["optout.created"]}
    _refused(api_post(client, "/webhooks", token, hook), "店主")

    after = _counts()
    assert after == before
    assert Campaign.objects.get(pk=draft_id).status == Campaign.Status.DRAFT


@time_machine.travel(MORNING, tick=False)
def test_it_lets_an_operators_key_run_campaigns_but_not_webhooks(client, ready_shop, alice):
    Membership.objects.create(shop=ready_shop, user=make_user("olivia"), role=Membership.Role.OWNER)
    _key, token = make_api_key(ready_shop, user=alice)
    _demote(ready_shop, alice, Membership.Role.OPERATOR)

    created = api_post(
        client, "/campaigns", token, {"kind": "marketing", "name": "运营建的", "text": MARKETING_TEXT}
    )
    assert created.status_code == 201, created.content
    dry = api_post(client, f"/campaigns/{created.json()['id']}/dry-run", token, {})
    assert dry.status_code == 200, dry.content
    scheduled = api_post(
        client, f"/campaigns/{created.json()['id']}/schedule", token, {"quote": dry.json()["quote"]}
    )
    assert (scheduled.status_code, scheduled.json()["status"]) == (200, "scheduled")

    refused = api_post(
        client, "/webhooks", token, {"url": "https://93.184.215.14/hooks", "events": ["optout.created"]}
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "ROLE-REQUIRED" and "此操作需要「店主」角色" in refused.json()["message"]
    assert not WebhookEndpoint.objects.exists()
