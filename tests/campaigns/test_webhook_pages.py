"""The portal's Webhook pages: endpoints, the secret shown once, deliveries and attempts, resend,
delete with confirmation, the failing notice (here and on the dashboard)."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.models import WebhookDelivery, WebhookEndpoint
from campaigns.services.optouts import optout_record
from campaigns.services.webhooks import webhook_deliveries_run, webhook_endpoint_create
from smsmarketing.models import Membership
from tests.campaigns.webhook_receiver import Receiver
from tests.factories import make_user

URL = "https://93.184.215.14/hooks/sms"


def add(client, shop, **fields):
    body = {"url": URL, "events": ["optout.created", "message.failed"], "description": "ERP"} | fields
    return client.post(reverse("campaigns:webhooks", args=[shop.pk]), body)


def test_it_adds_an_endpoint_and_shows_its_secret_only_once(client, alice, alice_shop):
    client.force_login(alice)
    page = client.get(reverse("campaigns:webhooks", args=[alice_shop.pk]))
    assert page.status_code == 200 and "还没有接收地址" in page.content.decode()
    added = add(client, alice_shop)
    assert added.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    body = added.content.decode()
    assert endpoint.secret in body and "只显示这一次" in body
    assert (endpoint.url, endpoint.events, endpoint.description) == (
        URL,
        ["message.failed", "optout.created"],
        "ERP",
    )
    again = client.get(reverse("campaigns:webhooks", args=[alice_shop.pk])).content.decode()
    assert endpoint.secret not in again and URL in again and "客户退订" in again


def test_it_refuses_a_private_url_with_a_chinese_error_and_keeps_nothing(client, alice, alice_shop, settings):
    settings.WEBHOOKS_ALLOW_HTTP = settings.WEBHOOKS_ALLOW_PRIVATE = False
    client.force_login(alice)
    refused = add(client, alice_shop, url="https://192.168.1.10/hooks")
    assert refused.status_code == 400 and "不能指向内网" in refused.content.decode()
    refused = add(client, alice_shop, events=[])
    assert refused.status_code == 400 and "请至少选择一种事件" in refused.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_it_lets_only_the_owner_add_delete_or_resend(client, alice, alice_shop):
    endpoint, _secret = webhook_endpoint_create(
        shop=alice_shop, user=alice, url=URL, events=["optout.created"]
    )
    optout_record(shop_id=alice_shop.pk, phone="13900000001", keyword="TD", source="sms_reply")
    delivery = WebhookDelivery.objects.get()
    staff = make_user("dora")
    Membership.objects.create(user=staff, shop=alice_shop, role=Membership.Role.OPERATOR)
    client.force_login(staff)
    page = client.get(reverse("campaigns:webhooks", args=[alice_shop.pk])).content.decode()
    assert "只有店主可以" in page and 'id="webhook-new"' not in page
    refused = add(client, alice_shop)
    assert refused.status_code == 403 and "此操作需要「店主」角色" in refused.content.decode()
    delete = reverse("campaigns:webhook_delete", args=[alice_shop.pk, endpoint.pk])
    assert client.post(delete).status_code == 403
    resend = reverse("campaigns:webhook_resend", args=[alice_shop.pk, endpoint.pk, delivery.pk])
    refused = client.post(resend)
    assert refused.status_code == 403 and "此操作需要「店主」角色" in refused.content.decode()
    assert WebhookEndpoint.objects.count() == 1
    assert WebhookDelivery.objects.get().attempts == 0


def test_it_lists_deliveries_with_their_attempts_and_resends_one(
    client, alice, alice_shop, django_capture_on_commit_callbacks
):
    with Receiver(fail_first=1) as receiver:
        endpoint, receiver.secret = webhook_endpoint_create(
            shop=alice_shop, user=alice, url=receiver.url, events=["optout.created"]
        )
        optout_record(shop_id=alice_shop.pk, phone="13900000001", keyword="TD", source="sms_reply")
        webhook_deliveries_run()
        delivery = WebhookDelivery.objects.get()
        client.force_login(alice)
        detail = reverse("campaigns:webhook_detail", args=[alice_shop.pk, endpoint.pk])
        page = client.get(detail).content.decode()
        assert delivery.event_id in page and "HTTP 500" in page and "待推送" in page and "重新发送" in page
        with django_capture_on_commit_callbacks(execute=True):
            answer = client.post(
                reverse("campaigns:webhook_resend", args=[alice_shop.pk, endpoint.pk, delivery.pk])
            )
        assert answer.status_code == 302 and answer["Location"] == detail
        shown = client.get(detail)
    body = shown.content.decode()
    assert "已重新发送" in body and "HTTP 200" in body and "推送成功" in body
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and delivery.attempts == 2
    assert list(receiver.applied) == [delivery.event_id]


def test_it_deletes_an_endpoint_after_showing_what_goes(client, alice, alice_shop):
    endpoint, _secret = webhook_endpoint_create(
        shop=alice_shop, user=alice, url=URL, events=["optout.created"]
    )
    optout_record(shop_id=alice_shop.pk, phone="13900000001", keyword="TD", source="sms_reply")
    client.force_login(alice)
    url = reverse("campaigns:webhook_delete", args=[alice_shop.pk, endpoint.pk])
    confirm = client.get(url).content.decode()
    assert "确认删除" in confirm and "1 个事件等待推送" in confirm and "无法恢复" in confirm
    assert WebhookEndpoint.objects.exists()
    done = client.post(url, follow=True)
    assert "已删除接收地址" in done.content.decode()
    assert not WebhookEndpoint.objects.exists() and not WebhookDelivery.objects.exists()


def test_it_tells_the_merchant_on_the_page_and_the_dashboard_when_an_endpoint_fails(
    client, alice, alice_shop
):
    endpoint, _secret = webhook_endpoint_create(
        shop=alice_shop, user=alice, url=URL, events=["optout.created"]
    )
    client.force_login(alice)
    dashboard = reverse("portal:dashboard", args=[alice_shop.pk])
    assert "Webhook 推送失败" not in client.get(dashboard).content.decode()
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(status="failing", failing_since=timezone.now())
    notice = client.get(dashboard).content.decode()
    assert "Webhook 推送失败" in notice and URL in notice
    assert reverse("campaigns:webhooks", args=[alice_shop.pk]) in notice
    page = client.get(reverse("campaigns:webhooks", args=[alice_shop.pk])).content.decode()
    assert "连续 24 小时推送失败" in page


def test_it_runs_the_same_queries_for_few_or_many_deliveries(client, alice, alice_shop):
    # Nothing listens on the discard port: each attempt fails at once, on this machine.
    endpoint, _secret = webhook_endpoint_create(
        shop=alice_shop, user=alice, url="http://127.0.0.1:9/hooks", events=["optout.created"]
    )
    client.force_login(alice)
    pages = [
        reverse("campaigns:webhooks", args=[alice_shop.pk]),
        reverse("campaigns:webhook_detail", args=[alice_shop.pk, endpoint.pk]),
    ]

    def counts() -> list[int]:
        found = []
        for url in pages:
            with CaptureQueriesContext(connection) as captured:
                assert client.get(url).status_code == 200
            found.append(len(captured))
        return found

    optout_record(shop_id=alice_shop.pk, phone="13900000001", keyword="TD", source="sms_reply")
    webhook_deliveries_run()  # one attempt (the address does not answer)
    few = counts()
    for i in range(2, 40):
        optout_record(shop_id=alice_shop.pk, phone=f"1390000{i:04d}", keyword="TD", source="sms_reply")
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    webhook_deliveries_run()  # attempts of every delivery, a second one of the first
    webhook_endpoint_create(shop=alice_shop, user=alice, url=URL, events=["link.clicked"])
    assert few == counts()
    assert max(few) <= 30
