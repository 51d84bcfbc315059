"""Last-touch attribution: a human click within 5 days or a delivery within 24 hours before
the order, the latest wins, one message per order, late touches by re-attribution."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django_q.models import Schedule

from campaigns.models import CampaignRun, Click, Message, Order
from campaigns.services.attribution import orders_reattribute
from campaigns.services.campaigns import campaign_create
from campaigns.services.orders import orders_upsert
from campaigns.tasks import reattribute_recent_orders
from tests.campaigns.campaign_fixtures import MARKETING_TEXT
from tests.factories import make_active_account

SH = ZoneInfo("Asia/Shanghai")
ORDER_AT = datetime(2026, 6, 10, 12, 0, tzinfo=SH)
PHONE = "13800138000"


@pytest.fixture
def sent(alice, alice_shop):
    """make(phone, delivered_at=None, kind="audience", shop=alice_shop) -> a message of a new campaign."""

    def make(phone=PHONE, *, delivered_at=None, kind="audience", shop=alice_shop, user=alice):
        campaign = campaign_create(shop=shop, user=user, kind="marketing", name="活动", text=MARKETING_TEXT)
        test_phone = phone if kind == "test" else ""
        run = CampaignRun.objects.create(campaign=campaign, kind=kind, test_phone=test_phone)
        return Message.objects.create(
            campaign=campaign,
            run=run,
            shop=shop,
            phone=phone,
            status="delivered" if delivered_at else "accepted",
            final_at=delivered_at,
        )

    return make


def click(message, at, *, human=True, method="GET"):
    return Click.objects.create(
        message=message,
        campaign_id=message.campaign_id,
        shop_id=message.shop_id,
        phone=message.phone,
        at=at,
        method=method,
        human=human,
    )


def order(shop, order_no="O1", *, phone=PHONE, at=ORDER_AT):
    with time_machine.travel(at + timedelta(hours=1), tick=False):
        orders_upsert(
            shop=shop, rows=[{"order_no": order_no, "phone": phone, "amount": "10", "placed_at": at}]
        )
    return Order.objects.get(shop=shop, order_no=order_no)


def test_it_attributes_to_the_latest_touch_a_click_or_a_delivery(alice_shop, sent):
    clicked = sent()
    click(clicked, ORDER_AT - timedelta(days=4))
    delivered = sent(delivered_at=ORDER_AT - timedelta(hours=23))
    result = order(alice_shop)
    assert (result.attributed_message_id, result.attributed_touch) == (delivered.pk, "delivery")
    assert result.attributed_campaign_id == delivered.campaign_id
    assert result.attributed_touch_at == ORDER_AT - timedelta(hours=23)
    click(clicked, ORDER_AT - timedelta(hours=1))
    orders_reattribute(since=ORDER_AT - timedelta(days=1), shop_id=alice_shop.pk)
    result.refresh_from_db()
    assert (result.attributed_message_id, result.attributed_touch) == (clicked.pk, "click")


def test_it_ignores_touches_outside_their_windows_after_the_order_and_not_human(alice_shop, sent):
    click(sent(), ORDER_AT - timedelta(days=5, seconds=1))
    sent(delivered_at=ORDER_AT - timedelta(hours=24, seconds=1))
    click(sent(), ORDER_AT - timedelta(hours=1), human=False, method="HEAD")
    click(sent(), ORDER_AT + timedelta(seconds=1))
    sent(delivered_at=ORDER_AT + timedelta(minutes=1))
    result = order(alice_shop)
    assert result.attributed_message_id is None and result.attributed_touch == ""
    assert result.attributed_campaign_id is None and result.attributed_touch_at is None


def test_it_counts_a_touch_at_the_edges_of_its_window(alice_shop, sent):
    at_edge = sent()
    click(at_edge, ORDER_AT - timedelta(days=5))
    assert order(alice_shop, "E1").attributed_message_id == at_edge.pk
    delivered = sent(delivered_at=ORDER_AT)
    assert order(alice_shop, "E2").attributed_message_id == delivered.pk


def test_it_never_attributes_to_a_test_sms_another_phone_or_another_shop(alice_shop, bob, bob_shop, sent):
    sent(delivered_at=ORDER_AT - timedelta(hours=1), kind="test")
    sent("13800138001", delivered_at=ORDER_AT - timedelta(hours=1))
    make_active_account(bob_shop, balance=1, user=bob)
    sent(delivered_at=ORDER_AT - timedelta(hours=1), shop=bob_shop, user=bob)
    assert order(alice_shop).attributed_message_id is None


def test_it_prefers_the_click_when_a_click_and_a_delivery_are_at_the_same_time(alice_shop, sent):
    same = ORDER_AT - timedelta(hours=2)
    sent(delivered_at=same)
    clicked = sent()
    click(clicked, same)
    result = order(alice_shop)
    assert (result.attributed_message_id, result.attributed_touch) == (clicked.pk, "click")


def test_it_moves_an_order_updated_to_another_time_to_the_touch_of_that_time(alice_shop, sent):
    early = sent(delivered_at=ORDER_AT - timedelta(days=3, hours=1))
    late = sent(delivered_at=ORDER_AT - timedelta(hours=1))
    assert order(alice_shop).attributed_message_id == late.pk
    assert order(alice_shop, at=ORDER_AT - timedelta(days=3)).attributed_message_id == early.pk
    assert Order.objects.count() == 1


def test_it_attributes_a_late_delivery_report_only_when_re_attributed(alice_shop, sent):
    message = sent()
    result = order(alice_shop)
    assert result.attributed_message_id is None
    Message.objects.filter(pk=message.pk).update(status="delivered", final_at=ORDER_AT - timedelta(hours=2))
    assert orders_reattribute(since=ORDER_AT + timedelta(seconds=1)) == 0  # placed before: untouched
    assert orders_reattribute(since=ORDER_AT - timedelta(days=1)) == 1
    assert orders_reattribute(since=ORDER_AT - timedelta(days=1)) == 0  # nothing changes twice
    result.refresh_from_db()
    assert (result.attributed_message_id, result.attributed_touch) == (message.pk, "delivery")


def test_it_re_attributes_recent_orders_every_hour_from_its_schedule(alice_shop, sent):
    schedule = Schedule.objects.get(name="campaigns-reattribute-orders")
    assert (schedule.func, schedule.schedule_type, schedule.repeats) == (
        "campaigns.tasks.reattribute_recent_orders",
        Schedule.HOURLY,
        -1,
    )
    message = sent()
    old = order(alice_shop, "OLD", at=ORDER_AT - timedelta(days=5))
    recent = order(alice_shop, "NEW")
    Message.objects.filter(pk=message.pk).update(status="delivered", final_at=ORDER_AT - timedelta(hours=2))
    Order.objects.filter(pk=old.pk).update(attributed_touch="click")  # a stale answer it must not reach
    with time_machine.travel(ORDER_AT + timedelta(hours=3), tick=False):
        assert reattribute_recent_orders() == 1
    recent.refresh_from_db()
    old.refresh_from_db()
    assert recent.attributed_message_id == message.pk and old.attributed_touch == "click"
