"""Journey: webhooks, at 1440x900 and at 390x844.

The owner opens 开放接口 and follows the link to Webhook 推送: no endpoint yet. She adds her
ERP's address (a receiver on 127.0.0.1 started by the test) for opt-outs; the secret is shown
once. A customer opts out: the receiver refuses the first post (500), the delivery's page shows
the attempt, 重新发送 posts it again and the receiver applies it (signature checked). When the
endpoint is marked failing, the dashboard says so. Deleting asks for a confirmation first.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from campaigns.models import WebhookDelivery, WebhookEndpoint
from campaigns.services.optouts import optout_record
from tests.campaigns.webhook_receiver import Receiver
from tests.factories import PASSWORD, make_active_account, make_shop, make_user

JOURNEY = "webhooks"

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_it_adds_an_endpoint_receives_an_event_resends_and_deletes(journey, live_server):
    lily = make_user("lily")
    shop = make_shop("莉莉茶庄", owner=lily)
    make_active_account(shop, balance=100, user=lily)

    with Receiver(fail_first=1) as receiver:
        merchant = journey.open()
        journey.login(merchant, "lily", PASSWORD)
        journey.ready(merchant)
        merchant.click("#sidenav >> text=开放接口")
        merchant.click("#webhooks-link a")
        merchant.locator("#webhook-endpoints").wait_for()
        assert "还没有接收地址" in merchant.inner_text("#webhook-endpoints")
        journey.check_both(merchant, "webhooks-empty")

        merchant.fill("#id_url", receiver.url)
        merchant.check("#webhook-new >> text=客户退订")
        merchant.fill("#id_description", "ERP 退订同步")
        merchant.click("#create-webhook")
        merchant.locator("#new-webhook-card").wait_for()
        receiver.secret = merchant.input_value("#new-webhook-secret")
        endpoint = WebhookEndpoint.objects.get(shop=shop)
        assert receiver.secret == endpoint.secret and endpoint.events == ["optout.created"]
        journey.check_both(merchant, "webhook-secret")

        # The customer's reply: the event is posted after the commit; the receiver refuses it once.
        optout_record(shop_id=shop.pk, phone="13900000001", keyword="TD", source="sms_reply")
        delivery = WebhookDelivery.objects.get()
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)

        merchant.goto(live_server.url + f"/shop/{shop.pk}/webhooks/")
        merchant.click(f"#webhook-{endpoint.pk} >> text=推送记录")
        merchant.locator("#webhook-deliveries").wait_for()
        assert "HTTP 500" in merchant.inner_text(f"#delivery-{delivery.pk}")
        journey.check_both(merchant, "webhook-deliveries")
        merchant.click(f"#delivery-{delivery.pk} >> text=重新发送")
        merchant.locator(".messages").wait_for()
        assert "推送成功" in merchant.inner_text(f"#delivery-{delivery.pk}")
        journey.check_both(merchant, "webhook-resent")
    assert list(receiver.applied) == [delivery.event_id] and receiver.bad_signatures == 0

    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(status="failing", failing_since=timezone.now())
    merchant.goto(live_server.url + f"/shop/{shop.pk}/")
    merchant.locator("#dashboard-webhooks-failing").wait_for()
    journey.check_both(merchant, "dashboard-webhook-failing")
    merchant.click("#dashboard-webhooks-failing >> text=查看并处理")
    merchant.click(f"#webhook-{endpoint.pk} >> text=删除")
    merchant.locator("#webhook-delete").wait_for()
    assert WebhookEndpoint.objects.exists()
    journey.check_both(merchant, "webhook-delete")
    merchant.click("#confirm-delete")
    merchant.locator(".messages").wait_for()
    assert "已删除接收地址" in merchant.inner_text(".messages")
    assert not WebhookEndpoint.objects.exists()
    journey.assert_console_clean()
