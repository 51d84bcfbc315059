"""The open API's customers, orders, campaigns and messages endpoints (issue 22): thin adapters
over the portal's services, answering the documented shapes and errors."""

from __future__ import annotations

import io
import json

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.models import Campaign, CampaignRun, Customer, Message, Order
from campaigns.services.sending import run_execute
from tests.campaigns.api_helpers import api_get, api_post, make_api_key
from tests.campaigns.campaign_fixtures import MARKETING_TEXT, MORNING, phones

pytestmark = pytest.mark.django_db

OTHER_TEXT = "秋季新品上架，全场满299元减30元，欢迎进店选购。"


def send(campaign_id: int, capture) -> None:
    """Run the campaign's runs through the pipeline (the simulated gateway), as its task would."""
    with capture(execute=True):
        for run in CampaignRun.objects.filter(campaign_id=campaign_id):
            run_execute(run_id=run.pk)


# --- customers ---------------------------------------------------------------------------------


def test_it_upserts_a_batch_of_customers_and_reports_bad_rows_by_index(client, alice_shop):
    _key, token = make_api_key(alice_shop, scopes=["customers"])
    body = {
        "items": [
            {"phone": "+86 138 0013 8000", "name": "王芳", "tags": ["会员"]},
            {"phone": "12345"},
            {"phone": "13800138001", "name": "李" * 65},
            {"phone": "13800138000", "tags": ["老客"]},
        ]
    }
    response = api_post(client, "/customers", token, body)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert (answer["created"], answer["updated"]) == (1, 1)
    assert [(r["index"], r["code"]) for r in answer["rejected"]] == [(1, "BAD-PHONE"), (2, "TOO-LONG")]
    assert "手机号" in answer["rejected"][0]["message"]
    customer = Customer.objects.get(shop=alice_shop)
    assert (customer.phone, customer.name, customer.tags) == ("13800138000", "王芳", ["会员", "老客"])


def test_it_refuses_a_batch_of_more_than_1000_items_and_writes_nothing(client, alice_shop):
    _key, token = make_api_key(alice_shop, scopes=["customers", "orders"])
    customers = {"items": [{"phone": p} for p in phones(1001)]}
    response = api_post(client, "/customers", token, customers)
    assert response.status_code == 422
    assert response.json()["code"] == "VALIDATION"
    orders = {
        "items": [
            {"order_no": f"N{i}", "phone": p, "amount": "1", "placed_at": "2026-06-01T10:00:00+08:00"}
            for i, p in enumerate(phones(1001))
        ]
    }
    assert api_post(client, "/orders", token, orders).status_code == 422
    assert not Customer.objects.filter(shop=alice_shop).exists()
    assert not Order.objects.filter(shop=alice_shop).exists()


def test_it_needs_the_scope_of_each_resource(client, alice_shop):
    _key, token = make_api_key(alice_shop, scopes=["orders"])
    response = api_post(client, "/customers", token, {"items": [{"phone": "13800138000"}]})
    assert response.status_code == 403
    assert response.json()["code"] == "SCOPE-MISSING"
    assert not Customer.objects.filter(shop=alice_shop).exists()
    assert api_get(client, "/campaigns", token).status_code == 403
    assert api_get(client, "/messages", token, campaign=1).status_code == 403


# --- orders ------------------------------------------------------------------------------------


@time_machine.travel(MORNING, tick=False)
def test_it_upserts_orders_by_order_no(client, alice_shop):
    _key, token = make_api_key(alice_shop, scopes=["orders"])
    first = {
        "items": [
            {
                "order_no": "A1",
                "phone": "13800138000",
                "amount": "12.50",
                "placed_at": "2026-06-01T09:00:00+08:00",
            },
            {"order_no": "A2", "phone": "13800138001", "amount": 20, "placed_at": "2026-05-31 20:00:00"},
            {
                "order_no": "A3",
                "phone": "13800138002",
                "amount": "-1",
                "placed_at": "2026-06-01T09:00:00+08:00",
            },
            {
                "order_no": "A4",
                "phone": "13800138002",
                "amount": "1",
                "placed_at": "2027-01-01T00:00:00+08:00",
            },
        ]
    }
    answer = api_post(client, "/orders", token, first).json()
    assert (answer["created"], answer["updated"]) == (2, 0)
    assert [(r["index"], r["code"]) for r in answer["rejected"]] == [(2, "BAD-AMOUNT"), (3, "BAD-TIME")]
    again = {"items": [{**first["items"][0], "amount": "15.00", "coupon_code": "SUMMER"}]}
    answer = api_post(client, "/orders", token, again).json()
    assert (answer["created"], answer["updated"], answer["rejected"]) == (0, 1, [])
    order = Order.objects.get(shop=alice_shop, order_no="A1")
    assert (str(order.amount), order.coupon_code) == ("15.00", "SUMMER")
    assert Order.objects.filter(shop=alice_shop).count() == 2
    assert Customer.objects.get(shop=alice_shop, phone="13800138000").purchase_count == 1


# --- campaigns ---------------------------------------------------------------------------------


def _create(client, token, **fields):
    body = {"kind": "marketing", "name": "上新", "text": MARKETING_TEXT, **fields}
    return api_post(client, "/campaigns", token, body)


@time_machine.travel(MORNING, tick=False)
def test_it_creates_a_campaign_with_holdout_and_ab_test(client, ready_shop):
    _key, token = make_api_key(ready_shop, scopes=["campaigns"])
    response = _create(
        client, token, holdout_percent=10,
        ab_test={"variants": [{"text": OTHER_TEXT}], "test_percent": 40, "test_hours": 2, "metric": "orders"},
    )  # fmt: skip
    assert response.status_code == 201, response.content
    body = response.json()
    campaign = Campaign.objects.get(pk=body["id"], shop=ready_shop)
    assert (campaign.status, campaign.holdout_percent, campaign.ab_test_percent) == ("draft", 10, 40)
    assert [v["name"] for v in body["variants"]] == ["A", "B"]
    assert body["variants"][1]["text"] == OTHER_TEXT
    assert campaign.created_by == ready_shop.memberships.get().user


@time_machine.travel(MORNING, tick=False)
def test_it_refuses_content_the_portal_refuses_with_the_rule_id_and_writes_nothing(client, ready_shop):
    _key, token = make_api_key(ready_shop, scopes=["campaigns"])
    response = _create(client, token, text="全网最低价，快来抢购！")
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "CAMPAIGN-CONTENT"
    assert any(f["rule"] == "TPL-ADLAW" for f in body["findings"])
    bad_variant = _create(client, token, ab_test={"variants": [{"text": "加微信领券，全场五折。"}]})
    assert bad_variant.status_code == 422
    assert "版本 B" in bad_variant.json()["message"]
    assert not Campaign.objects.filter(shop=ready_shop).exists()


@time_machine.travel(MORNING, tick=False)
def test_it_lists_campaigns_newest_first_by_cursor(client, ready_shop, bob_shop):
    _key, token = make_api_key(ready_shop, scopes=["campaigns"])
    ids = [_create(client, token, name=f"任务{i}").json()["id"] for i in range(5)]
    page = api_get(client, "/campaigns", token, limit=2).json()
    seen = [c["id"] for c in page["items"]]
    while page["next"]:
        page = api_get(client, "/campaigns", token, limit=2, cursor=page["next"]).json()
        seen += [c["id"] for c in page["items"]]
    assert seen == ids[::-1]
    assert api_get(client, "/campaigns", token, status="scheduled").json()["items"] == []
    assert api_get(client, "/campaigns", token, cursor="garbage").status_code == 422


@time_machine.travel(MORNING, tick=False)
def test_it_dry_runs_and_schedules_with_the_quote(client, ready_shop):
    _key, token = make_api_key(ready_shop, scopes=["campaigns"])
    campaign_id = _create(client, token).json()["id"]
    dry = api_post(client, f"/campaigns/{campaign_id}/dry-run", token, {})
    assert dry.status_code == 200, dry.content
    figures = dry.json()
    assert (figures["recipients"], figures["sendable"], figures["holdout"]) == (20, 20, 0)
    assert figures["parts"] == 20 and figures["balance"] == 1000 and figures["balance_after"] == 980
    assert figures["quote"]
    response = api_post(client, f"/campaigns/{campaign_id}/schedule", token, {"quote": figures["quote"]})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "scheduled"
    assert Campaign.objects.get(pk=campaign_id).status == Campaign.Status.SCHEDULED
    again = api_post(client, f"/campaigns/{campaign_id}/schedule", token, {})
    assert (again.status_code, again.json()["code"]) == (409, "CAMPAIGN-STATE")


@time_machine.travel(MORNING, tick=False)
def test_it_refuses_a_schedule_whose_quote_changed(client, ready_shop):
    _key, token = make_api_key(ready_shop, scopes=["campaigns", "customers"])
    campaign_id = _create(client, token).json()["id"]
    quote = api_post(client, f"/campaigns/{campaign_id}/dry-run", token, {}).json()["quote"]
    api_post(client, "/customers", token, {"items": [{"phone": "13900139000"}]})
    response = api_post(client, f"/campaigns/{campaign_id}/schedule", token, {"quote": quote})
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "QUOTE-CHANGED"
    assert "20 人变为 21 人" in body["message"]
    assert Campaign.objects.get(pk=campaign_id).status == Campaign.Status.DRAFT
    forged = api_post(client, f"/campaigns/{campaign_id}/schedule", token, {"quote": "forged"})
    assert (forged.status_code, forged.json()["code"]) == (409, "QUOTE-CHANGED")


@time_machine.travel(MORNING, tick=False)
def test_it_cancels_a_scheduled_campaign_and_refuses_a_started_one(
    client, django_capture_on_commit_callbacks, ready_shop
):
    _key, token = make_api_key(ready_shop, scopes=["campaigns"])
    later = _create(client, token, send_at="2026-06-01T15:00:00+08:00").json()
    assert later["status"] == "scheduled"
    response = api_post(client, f"/campaigns/{later['id']}/cancel", token, {})
    assert (response.status_code, response.json()["status"]) == (200, "cancelled")
    now = _create(client, token, name="现在", schedule=True).json()
    send(now["id"], django_capture_on_commit_callbacks)
    refused = api_post(client, f"/campaigns/{now['id']}/cancel", token, {})
    assert (refused.status_code, refused.json()["code"]) == (409, "CAMPAIGN-STATE")


@time_machine.travel(MORNING, tick=False)
def test_it_reports_the_keys_of_campaign_report_json(client, django_capture_on_commit_callbacks, ready_shop):
    _key, token = make_api_key(ready_shop, scopes=["campaigns", "reports"])
    campaign_id = _create(client, token, holdout_percent=20, schedule=True).json()["id"]
    send(campaign_id, django_capture_on_commit_callbacks)
    response = api_get(client, f"/campaigns/{campaign_id}/report", token)
    assert response.status_code == 200, response.content
    out = io.StringIO()
    call_command("campaign_report", str(campaign_id), "--json", "--no-reattribute", stdout=out)
    assert response.json() == json.loads(out.getvalue())
    assert response.json()["recipients"] == 20


# --- messages ----------------------------------------------------------------------------------


@time_machine.travel(MORNING, tick=False)
def test_it_pages_a_campaigns_messages_by_id_with_filters(
    client, django_capture_on_commit_callbacks, alice, ready_shop
):
    _key, token = make_api_key(ready_shop, scopes=["campaigns", "reports"])
    campaign_id = _create(client, token, schedule=True).json()["id"]
    send(campaign_id, django_capture_on_commit_callbacks)
    expected = list(
        Message.objects.filter(campaign_id=campaign_id).order_by("id").values_list("id", flat=True)
    )
    assert len(expected) == 20
    page = api_get(client, "/messages", token, campaign=campaign_id, limit=7).json()
    seen = [m["id"] for m in page["items"]]
    while page["next"]:
        page = api_get(client, "/messages", token, campaign=campaign_id, limit=7, cursor=page["next"]).json()
        seen += [m["id"] for m in page["items"]]
    assert seen == expected
    one = api_get(client, "/messages", token, campaign=campaign_id, phone="+86 138-0013-0003").json()["items"]
    assert [m["phone"] for m in one] == ["13800130003"]
    stored = Message.objects.get(pk=one[0]["id"])
    assert one[0]["status"] == stored.status and one[0]["parts"] == stored.parts
    assert one[0]["test"] is False
    delivered = api_get(
        client, "/messages", token, campaign=campaign_id, status="delivered", limit=200
    ).json()
    assert {m["id"] for m in delivered["items"]} == set(
        Message.objects.filter(campaign_id=campaign_id, status="delivered").values_list("id", flat=True)
    )
    bad = api_get(client, "/messages", token, campaign=campaign_id, phone="12345")
    assert (bad.status_code, bad.json()["code"]) == (422, "VALIDATION")


@time_machine.travel(MORNING, tick=False)
def test_it_gives_each_message_its_own_short_url(client, ready_shop, django_capture_on_commit_callbacks):
    _key, token = make_api_key(ready_shop, scopes=["campaigns", "reports"])
    campaign_id = _create(client, token, text=MARKETING_TEXT + "${shop_link}", schedule=True).json()["id"]
    send(campaign_id, django_capture_on_commit_callbacks)
    items = api_get(client, "/messages", token, campaign=campaign_id, limit=50).json()["items"]
    codes = dict(Message.objects.filter(campaign_id=campaign_id).values_list("id", "link_code"))
    sent = [m for m in items if codes[m["id"]]]
    assert sent and all(m["short_url"].endswith("/" + codes[m["id"]]) for m in sent)
    assert all(m["short_url"] is None for m in items if not codes[m["id"]])
    assert len({m["short_url"] for m in sent}) == len(sent)


# --- statements per page -----------------------------------------------------------------------


def _statements(client, path: str, token: str, **params) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert api_get(client, path, token, **params).status_code == 200
    return len(queries)


@time_machine.travel(MORNING, tick=False)
def test_it_reads_a_page_in_the_same_statements_whatever_its_size(
    client, ready_shop, django_capture_on_commit_callbacks
):
    _key, token = make_api_key(ready_shop, scopes=["campaigns", "reports"])
    campaign_id = _create(client, token, schedule=True, ab_test={"variants": [{"text": OTHER_TEXT}]}).json()[
        "id"
    ]
    for i in range(4):
        _create(client, token, name=f"任务{i}", ab_test={"variants": [{"text": OTHER_TEXT}]})
    send(campaign_id, django_capture_on_commit_callbacks)
    _statements(client, "/campaigns", token, limit=1)  # the key's last use written once a minute
    one = _statements(client, "/campaigns", token, limit=1)
    assert _statements(client, "/campaigns", token, limit=5) == one
    few = _statements(client, "/messages", token, campaign=campaign_id, limit=1)
    assert _statements(client, "/messages", token, campaign=campaign_id, limit=20) == few
    assert few <= 6 and one <= 6
