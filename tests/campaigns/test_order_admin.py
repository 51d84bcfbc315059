"""The orders' admin: read only, phones masked, not for reviewers."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import time_machine
from django.urls import reverse

from campaigns.models import Order
from campaigns.services.orders import orders_upsert
from tests.factories import make_user

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@time_machine.travel(NOW, tick=False)
def test_it_lists_orders_with_masked_phones_and_never_adds_or_edits_them(client, alice_shop):
    orders_upsert(
        shop=alice_shop,
        rows=[{"order_no": "JD-7", "phone": "13800138000", "amount": "88", "placed_at": "2026-06-09"}],
    )
    client.force_login(make_user("root", staff=True, superuser=True))
    page = client.get(reverse("admin:campaigns_order_changelist"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "JD-7" in text and "138****8000" in text and "13800138000" not in text
    assert client.get(reverse("admin:campaigns_order_add")).status_code == 403
    order = Order.objects.get()
    detail = client.get(reverse("admin:campaigns_order_change", args=[order.pk]))
    assert detail.status_code == 200 and "13800138000" not in detail.content.decode()
    client.post(reverse("admin:campaigns_order_change", args=[order.pk]), {"amount": "1"})
    order.refresh_from_db()
    assert str(order.amount) == "88.00"


def test_it_keeps_orders_from_reviewers(client, reviewer):
    client.force_login(reviewer)
    assert client.get(reverse("admin:campaigns_order_changelist")).status_code == 403
