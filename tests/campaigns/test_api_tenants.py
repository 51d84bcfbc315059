"""The open API's tenant matrix (issue 22): for EVERY operation of the OpenAPI schema, a key of
shop A never reads or changes shop B's objects. An operation naming one of B's objects answers
404 (the same as an unknown id: never 403 with data); a list or a batch answers only A's own
rows; and every row of shop B is unchanged afterwards. An operation added to the schema without
a case here fails ``test_it_covers_every_operation_of_the_schema``."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import time_machine
from django.apps import apps
from django.db import models

from campaigns.api.app import api
from campaigns.models import Campaign, CampaignRun, Customer, Message, Order
from campaigns.models.webhooks import WebhookEndpoint
from campaigns.services.audience import segment_save
from campaigns.services.campaign_setup import campaign_create_with_tests
from campaigns.services.customers import customers_upsert
from campaigns.services.orders import orders_upsert
from campaigns.services.sending import run_execute
from campaigns.services.variants import VariantInput
from campaigns.services.webhooks import webhook_endpoint_create
from tests.campaigns.api_helpers import api_get, api_post, bearer, make_api_key
from tests.campaigns.campaign_fixtures import (
    MARKETING_TEXT,
    MORNING,
    import_customers,
    live_signature_for,
    phones,
)
from tests.factories import make_active_account, make_approved_template, make_coupon

pytestmark = pytest.mark.django_db

OTHER_TEXT = "秋季新品上架，全场满299元减30元，欢迎进店选购。"


@dataclass
class World:
    """Shop B's objects (each kind the API can name), and A's key and token."""

    a_shop: Any
    b_shop: Any
    token: str
    ids: dict[str, int]


@pytest.fixture
def world(alice, alice_shop, bob, bob_shop, reviewer, pipeline_settings, django_capture_on_commit_callbacks):  # noqa: E501
    with time_machine.travel(MORNING, tick=False):
        for shop, user, signature in ((alice_shop, alice, "爱丽丝服饰"), (bob_shop, bob, "鲍勃数码")):
            make_active_account(shop, balance=1000, user=user)
            live_signature_for(shop, user, reviewer, text=signature)
        import_customers(bob_shop, [f"{p},客户,VIP,T恤,2026-05-01 12:00,99" for p in phones(5)])
        customers_upsert(shop=bob_shop, rows=[{"phone": "13900139000", "name": "鲍勃的客户"}])
        orders_upsert(
            shop=bob_shop,
            rows=[{"order_no": "B-1", "phone": phones(1)[0], "amount": "50", "placed_at": MORNING}],
        )
        segment = segment_save(shop=bob_shop, user=bob, name="VIP", tags_any=["VIP"])
        coupon = make_coupon(bob_shop, user=bob)
        template = make_approved_template(bob_shop)
        draft = campaign_create_with_tests(
            shop=bob_shop, user=bob, kind="marketing", name="草稿", text=MARKETING_TEXT, segment=segment,
            holdout_percent=10, variants=[VariantInput(text=OTHER_TEXT)],
        )  # fmt: skip
        scheduled = campaign_create_with_tests(
            shop=bob_shop, user=bob, kind="coupon", name="券", template=template, coupon=coupon,
            schedule=True, send_at=MORNING.replace(hour=15),
        )  # fmt: skip
        with django_capture_on_commit_callbacks(execute=True):
            sent = campaign_create_with_tests(
                shop=bob_shop, user=bob, kind="marketing", name="已发送", text=MARKETING_TEXT, schedule=True
            )
        with django_capture_on_commit_callbacks(execute=True):
            for run in CampaignRun.objects.filter(campaign=sent):
                run_execute(run_id=run.pk)
        own = campaign_create_with_tests(
            shop=alice_shop, user=alice, kind="marketing", name="自己的", text=MARKETING_TEXT
        )
    assert Message.objects.filter(campaign=sent).count() == 6
    _key, token = make_api_key(alice_shop)
    ids = {
        "own": own.pk,
        "draft": draft.pk,
        "scheduled": scheduled.pk,
        "sent": sent.pk,
        "segment": segment.pk,
        "coupon": coupon.pk,
        "template": template.pk,
    }
    ids.update(_webhook_ids(bob_shop, bob))
    ids["own_endpoint"] = _webhook_ids(alice_shop, alice)["endpoint"]
    return World(a_shop=alice_shop, b_shop=bob_shop, token=token, ids=ids)


def _webhook_ids(shop, user) -> dict[str, int]:
    """Shop B's webhook endpoint."""
    endpoint, _secret = webhook_endpoint_create(
        shop=shop, user=user, url="http://127.0.0.1:9/hooks", events=["message.delivered"]
    )
    return {"endpoint": endpoint.pk}


# --- shop B's rows, before and after ----------------------------------------------------------


def _shop_rows(shop) -> dict[str, list[dict]]:
    """Every row of every model that belongs to ``shop`` (directly, or through its campaign or
    its webhook endpoint), field by field."""
    rows = {}
    for model in apps.get_models():
        names = {f.name for f in model._meta.get_fields() if isinstance(f, models.ForeignKey)}
        if "shop" in names:
            query = model.objects.filter(shop=shop)
        elif "campaign" in names:
            query = model.objects.filter(campaign__shop=shop)
        elif "endpoint" in names:
            query = model.objects.filter(endpoint__shop=shop)
        elif "run" in names and model._meta.app_label == "campaigns":
            query = model.objects.filter(run__campaign__shop=shop)
        else:
            continue
        rows[model._meta.label] = list(query.order_by("pk").values())
    return rows


# --- the cases ------------------------------------------------------------------------------


Check = Callable[[Any, World], None]


def _status(expected: int) -> Callable:
    def check(response, world: World) -> None:
        assert response.status_code == expected, response.content
        if expected == 404:
            assert response.json()["code"] == "NOT-FOUND"

    return check


def _own_campaigns_only(response, world: World) -> None:
    assert response.status_code == 200, response.content
    assert [item["id"] for item in response.json()["items"]] == [world.ids["own"]]


def _own_account(response, world: World) -> None:
    assert response.status_code == 200, response.content
    assert response.json()["shop_id"] == world.a_shop.pk


def _customers_batch(response, world: World) -> None:
    assert response.status_code == 200, response.content
    assert response.json()["created"] == 1  # A's own customer of the same phone
    assert Customer.objects.filter(shop=world.a_shop, phone="13900139000", name="爱丽丝的客户").exists()


def _orders_batch(response, world: World) -> None:
    assert response.status_code == 200, response.content
    assert response.json()["created"] == 1  # A's own order of the same number
    assert Order.objects.filter(shop=world.a_shop, order_no="B-1").exists()


def _own_endpoints_only(response, world: World) -> None:
    assert response.status_code == 200, response.content
    assert [item["id"] for item in response.json()["items"]] == [world.ids["own_endpoint"]]


def _endpoint_created_for_a(response, world: World) -> None:
    assert response.status_code == 201, response.content
    assert WebhookEndpoint.objects.get(pk=response.json()["id"]).shop_id == world.a_shop.pk


def _nothing_created_for_a(response, world: World) -> None:
    _status(404)(response, world)
    assert list(Campaign.objects.filter(shop=world.a_shop).values_list("pk", flat=True)) == [world.ids["own"]]


@dataclass
class Case:
    """One request of A's key naming B's objects, and what it must answer."""

    send: Callable[[Any, World], Any]
    check: Check


def _get(path: str, **params: str) -> Callable:
    def send(client, w: World):
        return api_get(
            client, path.format(**w.ids), w.token, **{k: v.format(**w.ids) for k, v in params.items()}
        )

    return send


def _post(path: str, body: Any) -> Callable:
    def send(client, w: World):
        payload = body(w) if callable(body) else body
        return api_post(client, path.format(**w.ids), w.token, payload)

    return send


def _delete(path: str) -> Callable:
    return lambda client, w: client.delete(f"/api/v1{path.format(**w.ids)}", headers=bearer(w.token))


def _campaign_referencing(**fields) -> Callable:
    def body(w: World) -> dict:
        base = {"kind": "marketing", "name": "引用", "text": MARKETING_TEXT}
        return {**base, **{k: (v(w) if callable(v) else v) for k, v in fields.items()}}

    return body


B_CUSTOMER = {"items": [{"phone": "13900139000", "name": "爱丽丝的客户"}]}
B_ORDER_NO = {
    "items": [{"order_no": "B-1", "phone": "13700137000", "amount": "1", "placed_at": "2026-06-01 09:00"}]
}
B_SEGMENT = _campaign_referencing(segment_id=lambda w: w.ids["segment"])
B_COUPON_AND_TEMPLATE = _campaign_referencing(
    kind="coupon", text="", coupon_id=lambda w: w.ids["coupon"], template_id=lambda w: w.ids["template"]
)
B_VARIANT_TEMPLATE = _campaign_referencing(
    ab_test=lambda w: {"variants": [{"template_id": w.ids["template"]}]}
)

A_ENDPOINT = {"url": "http://127.0.0.1:9/a-hooks", "events": ["message.delivered"]}

# Each operation: one or more requests. ``{draft}`` etc. are shop B's ids.
CASES: dict[tuple[str, str], list[Case]] = {
    ("GET", "/api/v1/account"): [Case(_get("/account"), _own_account)],
    ("POST", "/api/v1/customers"): [Case(_post("/customers", B_CUSTOMER), _customers_batch)],
    ("POST", "/api/v1/orders"): [Case(_post("/orders", B_ORDER_NO), _orders_batch)],
    ("GET", "/api/v1/campaigns"): [Case(_get("/campaigns"), _own_campaigns_only)],
    ("POST", "/api/v1/campaigns"): [
        Case(_post("/campaigns", B_SEGMENT), _nothing_created_for_a),
        Case(_post("/campaigns", B_COUPON_AND_TEMPLATE), _nothing_created_for_a),
        Case(_post("/campaigns", B_VARIANT_TEMPLATE), _nothing_created_for_a),
    ],
    ("GET", "/api/v1/campaigns/{campaign_id}"): [
        Case(_get("/campaigns/{draft}"), _status(404)),
        Case(_get("/campaigns/{sent}"), _status(404)),
    ],
    ("POST", "/api/v1/campaigns/{campaign_id}/dry-run"): [
        Case(_post("/campaigns/{draft}/dry-run", {}), _status(404)),
        Case(_post("/campaigns/{scheduled}/dry-run", {}), _status(404)),
    ],
    ("POST", "/api/v1/campaigns/{campaign_id}/schedule"): [
        Case(_post("/campaigns/{draft}/schedule", {}), _status(404)),
    ],
    ("POST", "/api/v1/campaigns/{campaign_id}/cancel"): [
        Case(_post("/campaigns/{draft}/cancel", {}), _status(404)),
        Case(_post("/campaigns/{scheduled}/cancel", {}), _status(404)),
    ],
    ("GET", "/api/v1/campaigns/{campaign_id}/report"): [Case(_get("/campaigns/{sent}/report"), _status(404))],
    ("GET", "/api/v1/messages"): [
        Case(_get("/messages", campaign="{sent}"), _status(404)),
        Case(_get("/messages", campaign="{sent}", phone=phones(1)[0]), _status(404)),
    ],
    ("GET", "/api/v1/webhooks"): [Case(_get("/webhooks"), _own_endpoints_only)],
    ("POST", "/api/v1/webhooks"): [Case(_post("/webhooks", A_ENDPOINT), _endpoint_created_for_a)],
    ("GET", "/api/v1/webhooks/{webhook_id}"): [Case(_get("/webhooks/{endpoint}"), _status(404))],
    ("DELETE", "/api/v1/webhooks/{webhook_id}"): [Case(_delete("/webhooks/{endpoint}"), _status(404))],
}


def _operations() -> set[tuple[str, str]]:
    schema = api.get_openapi_schema()
    return {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    }


def test_it_covers_every_operation_of_the_schema():
    missing = sorted(_operations() - set(CASES))
    assert not missing, f"operations without a tenant case: {missing}"
    assert not set(CASES) - _operations(), "cases of operations the schema no longer has"


@pytest.mark.parametrize("operation", sorted(CASES), ids=lambda op: f"{op[0]} {op[1]}")
def test_it_never_lets_shop_as_key_read_or_change_shop_bs_objects(client, world, operation):
    before = _shop_rows(world.b_shop)
    with time_machine.travel(MORNING.replace(minute=30), tick=False):
        for case in CASES[operation]:
            response = case.send(client, world)
            case.check(response, world)
            text = json.dumps(response.json(), ensure_ascii=False) if response.content else ""
            assert world.b_shop.name not in text
    assert _shop_rows(world.b_shop) == before
