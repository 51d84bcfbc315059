"""Webhooks: URL rules (SSRF), the outbox's events, signed delivery, back-off, failing endpoints."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import (
    Campaign,
    CampaignRun,
    Message,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from campaigns.services.delivery import delivery_reports_apply, delivery_settle
from campaigns.services.links import link_code_new, link_follow, link_policy_forget
from campaigns.services.optouts import optout_record
from campaigns.services.webhooks import (
    RETRY_WINDOW,
    WebhookUrlRefused,
    webhook_deliveries_run,
    webhook_delivery_resend,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_events_purge,
    webhook_signature,
    webhook_url_check,
)
from smsmarketing.errors import SmsError
from smsmarketing.models import Membership
from tests.campaigns.campaign_fixtures import MARKETING_TEXT, MORNING
from tests.campaigns.webhook_receiver import Receiver, docs_verify_signature
from tests.factories import make_user

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 MicroMessenger/8.0.40(0x1800282a) NetType/WIFI Language/zh_CN"
)
ALL_EVENTS = ["message.delivered", "message.failed", "link.clicked", "optout.created", "campaign.finished"]


@pytest.fixture
def production_urls(settings):
    """The production rules: https only, public addresses only."""
    settings.DEBUG = False
    settings.WEBHOOKS_ALLOW_HTTP = False
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    return settings


def sent_messages(shop, user, count: int, *, status: str = "sending") -> list[Message]:
    """Messages handed to the gateway (no parts: settling them moves no money, the events are
    what these tests look at; the end-to-end test runs the real pipeline)."""
    campaign = Campaign.objects.create(
        shop=shop, kind="marketing", name="营销", status="running", text=MARKETING_TEXT + "${shop_link}",
        created_by=user,
    )  # fmt: skip
    run = CampaignRun.objects.create(campaign=campaign, status="dispatching")
    return Message.objects.bulk_create(
        Message(
            campaign=campaign,
            run=run,
            shop=shop,
            phone=f"1390000{i:04d}",
            status=status,
            parts=0,
            settlement="pending",
            link_code=link_code_new(),
            sent_at=timezone.now() - timedelta(minutes=1),
        )  # fmt: skip
        for i in range(count)
    )


def endpoint_for(shop, user, receiver: Receiver, events=None) -> WebhookEndpoint:
    endpoint, secret = webhook_endpoint_create(
        shop=shop, user=user, url=receiver.url, events=events or ALL_EVENTS
    )
    receiver.secret = secret
    return endpoint


# --- URL rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.215.14/hooks",  # plain http outside DEBUG
        "ftp://93.184.215.14/hooks",
        "https://127.0.0.1/hooks",  # loopback
        "https://localhost:8443/hooks",  # a name that resolves to loopback
        "https://10.1.2.3/hooks",  # private
        "https://192.168.0.10/hooks",
        "https://169.254.169.254/latest/meta-data",  # link-local: a cloud's metadata service
        "https://[::1]/hooks",
        "https://[::ffff:127.0.0.1]/hooks",  # IPv4-mapped loopback
        "https://0.0.0.0/hooks",
        "https://user:pw@93.184.215.14/hooks",  # credentials in the URL
        "https://no-such-host.invalid/hooks",
        "https:///hooks",
        "",
    ],
)
def test_it_refuses_urls_that_are_not_public_https(production_urls, url):
    with pytest.raises(WebhookUrlRefused) as refused:
        webhook_url_check(url=url)
    assert refused.value.rule == "WEBHOOK-URL" and refused.value.message


def test_it_accepts_public_https_and_plain_http_only_in_debug(production_urls):
    assert webhook_url_check(url=" https://93.184.215.14/hooks?x=1 ") == "https://93.184.215.14/hooks?x=1"
    production_urls.DEBUG = True
    assert webhook_url_check(url="http://93.184.215.14/hooks") == "http://93.184.215.14/hooks"
    with pytest.raises(WebhookUrlRefused):
        webhook_url_check(url="http://127.0.0.1/hooks")  # DEBUG alone never opens private addresses


def test_it_checks_the_address_again_at_delivery_time(alice_shop, alice, settings):
    """Registered while allowed; the rule (or the DNS answer) changes: nothing is posted."""
    with Receiver() as receiver:
        endpoint_for(alice_shop, alice, receiver)
        settings.WEBHOOKS_ALLOW_PRIVATE = False
        optout_record(shop_id=alice_shop.pk, phone="13900000001", keyword="TD", source="sms_reply")
        assert webhook_deliveries_run() == 1
    assert receiver.requests == 0
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code is None and "内网" in attempt.error
    assert WebhookDelivery.objects.get().status == "pending"


# --- endpoints --------------------------------------------------------------------------------


def test_it_registers_an_endpoint_with_a_secret_shown_once(alice_shop, alice):
    endpoint, secret = webhook_endpoint_create(
        shop=alice_shop,
        user=alice,
        url="https://93.184.215.14/hooks",
        events=["optout.created", "link.clicked"],
    )
    assert secret.startswith("whsec_") and len(secret) == 54
    endpoint.refresh_from_db()
    assert endpoint.secret == secret and endpoint.created_by == alice
    assert endpoint.events == ["link.clicked", "optout.created"]  # the catalogue's order, no duplicates
    _other, other_secret = webhook_endpoint_create(
        shop=alice_shop, user=alice, url="https://93.184.215.14/hooks", events=["optout.created"]
    )
    assert other_secret != secret


def test_it_refuses_bad_events_non_owners_restricted_shops_and_too_many(
    alice_shop, alice, charlie_shop, charlie
):
    url = "https://93.184.215.14/hooks"
    with pytest.raises(SmsError) as refused:
        webhook_endpoint_create(shop=alice_shop, user=alice, url=url, events=[])
    assert refused.value.rule == "WEBHOOK-EVENTS"
    with pytest.raises(SmsError) as refused:
        webhook_endpoint_create(shop=alice_shop, user=alice, url=url, events=["order.created"])
    assert refused.value.rule == "WEBHOOK-EVENTS"
    staff = make_user("dora")
    Membership.objects.create(user=staff, shop=alice_shop, role=Membership.Role.OPERATOR)
    with pytest.raises(SmsError) as refused:
        webhook_endpoint_create(shop=alice_shop, user=staff, url=url, events=ALL_EVENTS)
    assert refused.value.rule == "ROLE-REQUIRED"
    with pytest.raises(SmsError) as refused:
        webhook_endpoint_create(shop=charlie_shop, user=charlie, url=url, events=ALL_EVENTS)
    assert refused.value.rule == "CATEGORY-RESTRICTED"
    for _ in range(10):
        webhook_endpoint_create(shop=alice_shop, user=alice, url=url, events=ALL_EVENTS)
    with pytest.raises(SmsError) as refused:
        webhook_endpoint_create(shop=alice_shop, user=alice, url=url, events=ALL_EVENTS)
    assert refused.value.rule == "WEBHOOK-LIMIT"
    assert WebhookEndpoint.objects.count() == 10


def test_it_deletes_an_endpoint_with_its_deliveries(alice_shop, alice):
    endpoint, _secret = webhook_endpoint_create(
        shop=alice_shop, user=alice, url="https://93.184.215.14/hooks", events=["optout.created"]
    )
    optout_record(shop_id=alice_shop.pk, phone="13900000001", keyword="TD", source="sms_reply")
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 1
    staff = make_user("dora")
    Membership.objects.create(user=staff, shop=alice_shop, role=Membership.Role.OPERATOR)
    with pytest.raises(SmsError):
        webhook_endpoint_delete(endpoint=endpoint, user=staff)
    webhook_endpoint_delete(endpoint=endpoint, user=alice)
    assert not WebhookEndpoint.objects.exists() and not WebhookDelivery.objects.exists()


# --- emission ---------------------------------------------------------------------------------


def test_it_writes_nothing_and_costs_one_query_per_batch_without_an_endpoint(alice_shop, alice):
    messages = sent_messages(alice_shop, alice, 50)
    delivery_reports_apply(reports=[(m.pk, "delivered", timezone.now(), None) for m in messages])
    with CaptureQueriesContext(connection) as queries:
        assert delivery_settle() == 50
    hook_queries = [q["sql"] for q in queries.captured_queries if "webhook" in q["sql"]]
    assert len(hook_queries) == 1  # the indexed check of the batch's shops
    assert not WebhookEvent.objects.exists()


def test_it_writes_one_event_per_final_message_with_its_settlement(alice_shop, alice, bob_shop, bob):
    endpoint, _secret = webhook_endpoint_create(
        shop=alice_shop, user=alice, url="https://93.184.215.14/hooks", events=["message.failed"]
    )
    other, _secret = webhook_endpoint_create(
        shop=alice_shop, user=alice, url="https://93.184.215.15/hooks", events=ALL_EVENTS
    )
    mine, theirs = sent_messages(alice_shop, alice, 6), sent_messages(bob_shop, bob, 3)
    reports = [
        (m.pk, "failed" if i % 3 == 0 else "delivered", timezone.now(), None) for i, m in enumerate(mine)
    ]
    delivery_reports_apply(reports=reports + [(m.pk, "delivered", timezone.now(), None) for m in theirs])
    delivery_reports_apply(
        reports=[(mine[1].pk, "failed", timezone.now(), None)]
    )  # a late duplicate: no change
    assert delivery_settle() == 9
    assert delivery_settle() == 0
    events = {e.data["message_id"]: e for e in WebhookEvent.objects.all()}
    assert set(events) == {m.pk for m in mine}  # bob's shop has no endpoint: nothing for it
    for message in mine:
        message.refresh_from_db()
        event = events[message.pk]
        assert event.shop_id == alice_shop.pk
        assert event.type == ("message.delivered" if message.status == "delivered" else "message.failed")
        assert (event.data["status"], event.data["phone"], event.data["reason"]) == (
            message.status,
            message.phone,
            message.reason,
        )
    failed = {pk for pk, e in events.items() if e.type == "message.failed"}
    assert (
        set(
            WebhookDelivery.objects.filter(endpoint=endpoint).values_list(
                "event__data__message_id", flat=True
            )
        )
        == failed
    )
    assert WebhookDelivery.objects.filter(endpoint=other).count() == 6


def test_it_emits_a_click_event_for_human_clicks_only(alice_shop, alice):
    link_policy_forget()
    webhook_endpoint_create(
        shop=alice_shop, user=alice, url="https://93.184.215.14/hooks", events=["link.clicked"]
    )
    (message,) = sent_messages(alice_shop, alice, 1, status="delivered")
    assert link_follow(code=message.link_code, method="HEAD", user_agent=IPHONE, client="10.0.0.1")
    assert link_follow(code=message.link_code, method="GET", user_agent="Googlebot/2.1", client="10.0.0.1")
    assert not WebhookEvent.objects.exists()
    followed = link_follow(code=message.link_code, method="GET", user_agent=IPHONE, client="10.0.0.1")
    event = WebhookEvent.objects.get()
    assert event.type == "link.clicked"
    assert (event.data["click_id"], event.data["message_id"], event.data["phone"]) == (
        followed.click_id,
        message.pk,
        message.phone,
    )
    assert WebhookDelivery.objects.filter(event=event, status="pending").count() == 1


def test_it_emits_one_optout_event_for_a_reply_received_twice(alice_shop, alice):
    webhook_endpoint_create(
        shop=alice_shop, user=alice, url="https://93.184.215.14/hooks", events=["optout.created"]
    )
    assert optout_record(shop_id=alice_shop.pk, phone="139 0000 0001", keyword="TD", source="sms_reply")
    assert not optout_record(shop_id=alice_shop.pk, phone="13900000001", keyword="TD", source="sms_reply")
    event = WebhookEvent.objects.get()
    assert event.type == "optout.created" and event.id.startswith("evt_")
    assert event.data["phone"] == "13900000001" and event.data["keyword"] == "TD"


# --- delivery ---------------------------------------------------------------------------------


def test_it_signs_each_delivery_as_the_documented_function_verifies(alice_shop, alice):
    verify = docs_verify_signature()
    with Receiver() as receiver:
        endpoint_for(alice_shop, alice, receiver)
        optout_record(shop_id=alice_shop.pk, phone="13900000001", keyword="TD", source="sms_reply")
        webhook_deliveries_run()
    assert receiver.requests == 1 and receiver.bad_signatures == 0
    (event,) = receiver.applied.values()
    assert event["type"] == "optout.created" and event["id"] == WebhookEvent.objects.get().id
    assert set(event) == {"id", "type", "created_at", "data"}
    assert WebhookDelivery.objects.get().status == "succeeded"
    # The documented check refuses a changed body, another secret and an old timestamp.
    body = json.dumps(event).encode()
    now = int(timezone.now().timestamp())
    signature = webhook_signature(secret=receiver.secret, timestamp=now, body=body)
    assert verify(receiver.secret, signature, body)
    assert not verify(receiver.secret, signature, body.replace(b"TD", b"TT"))
    assert not verify("whsec_other", signature, body)
    stale = webhook_signature(secret=receiver.secret, timestamp=now - 3600, body=body)
    assert not verify(receiver.secret, stale, body)
    assert not verify(receiver.secret, "v1=abc", body)


def test_it_backs_off_for_24_hours_then_marks_the_endpoint_failing_and_tells_the_owners(
    alice_shop, alice, django_capture_on_commit_callbacks
):
    alice.email = "alice@example.com"
    alice.save()
    with Receiver(always_fail=True) as receiver, time_machine.travel(MORNING, tick=False) as clock:
        endpoint = endpoint_for(alice_shop, alice, receiver, events=["optout.created"])
        optout_record(shop_id=alice_shop.pk, phone="13900000001", keyword="TD", source="sms_reply")
        delivery = WebhookDelivery.objects.get()
        assert delivery.give_up_at == MORNING + RETRY_WINDOW
        waits = []
        while True:
            with django_capture_on_commit_callbacks(execute=True):
                assert webhook_deliveries_run() == 1
            delivery.refresh_from_db()
            if delivery.status != "pending":
                break
            waits.append(delivery.next_attempt_at - timezone.now())
            clock.move_to(delivery.next_attempt_at)
    assert waits[:4] == [
        timedelta(seconds=30),
        timedelta(minutes=1),
        timedelta(minutes=2),
        timedelta(minutes=4),
    ]
    assert max(waits) == timedelta(hours=6)
    assert delivery.status == "failed" and delivery.attempts == len(waits) + 1 == receiver.requests
    assert delivery.last_status_code == 500
    assert WebhookAttempt.objects.filter(delivery=delivery, succeeded=False).count() == delivery.attempts
    assert WebhookAttempt.objects.filter(delivery=delivery).latest("at").at == MORNING + RETRY_WINDOW
    endpoint.refresh_from_db()
    assert endpoint.status == "failing" and endpoint.failing_since == MORNING + RETRY_WINDOW
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["alice@example.com"]
    assert endpoint.url in mail.outbox[0].body


def test_it_resends_a_failed_delivery_and_the_endpoint_recovers(
    alice_shop, alice, django_capture_on_commit_callbacks
):
    with Receiver(always_fail=True) as receiver:
        endpoint = endpoint_for(alice_shop, alice, receiver, events=["optout.created"])
        optout_record(shop_id=alice_shop.pk, phone="13900000001", keyword="TD", source="sms_reply")
        delivery = WebhookDelivery.objects.get()
        WebhookDelivery.objects.filter(pk=delivery.pk).update(give_up_at=timezone.now())
        webhook_deliveries_run()
        delivery.refresh_from_db()
        endpoint.refresh_from_db()
        assert delivery.status == "failed" and endpoint.status == "failing"
        receiver.always_fail = False
        with django_capture_on_commit_callbacks(execute=True):
            webhook_delivery_resend(delivery=delivery, user=alice)
    delivery.refresh_from_db()
    endpoint.refresh_from_db()
    assert delivery.status == "succeeded" and delivery.attempts == 2
    assert endpoint.status == "active" and endpoint.failing_since is None
    assert len(receiver.applied) == 1 and receiver.requests == 2


@pytest.mark.django_db(transaction=True)
def test_it_posts_each_delivery_once_with_workers_racing(alice_shop, alice):
    """Four workers sweep at once: SKIP LOCKED and the lease give each delivery to one of them."""
    with Receiver() as receiver:
        endpoint_for(alice_shop, alice, receiver, events=["optout.created"])
        for i in range(40):
            optout_record(shop_id=alice_shop.pk, phone=f"1390000{i:04d}", keyword="TD", source="sms_reply")
        # Sync tasks delivered them on commit: make them due again, as if they were never posted.
        WebhookDelivery.objects.update(status="pending", next_attempt_at=timezone.now(), attempts=0)
        WebhookAttempt.objects.all().delete()
        receiver.requests = 0
        barrier = threading.Barrier(4)
        tried: list[int] = []

        def worker() -> None:
            barrier.wait()
            try:
                tried.append(webhook_deliveries_run())
            finally:
                connection.close()

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sum(tried) == 40 == receiver.requests
    assert WebhookAttempt.objects.count() == 40
    assert set(WebhookDelivery.objects.values_list("status", "attempts")) == {("succeeded", 1)}


def test_it_purges_events_older_than_30_days_unless_a_delivery_is_pending(alice_shop, alice):
    webhook_endpoint_create(
        shop=alice_shop, user=alice, url="http://127.0.0.1:9/hooks", events=["optout.created"]
    )
    with time_machine.travel(MORNING, tick=False):
        for i in range(3):
            optout_record(shop_id=alice_shop.pk, phone=f"1390000{i:04d}", keyword="TD", source="sms_reply")
        webhook_deliveries_run()  # an attempt each (nothing listens on the discard port)
    old = list(WebhookEvent.objects.order_by("created_at"))
    WebhookDelivery.objects.filter(event__in=old[:2]).update(status="failed", next_attempt_at=None)
    optout_record(shop_id=alice_shop.pk, phone="13900000009", keyword="TD", source="sms_reply")  # today's
    assert webhook_events_purge(now=MORNING + timedelta(days=29)) == 0
    assert webhook_events_purge(now=MORNING + timedelta(days=31)) == 2
    # The old one still pending (say, resent) and today's stay, with their attempts.
    assert set(WebhookEvent.objects.values_list("pk", flat=True)) == {
        old[2].pk,
        WebhookEvent.objects.latest("created_at").pk,
    }
    assert not WebhookAttempt.objects.filter(delivery__event__in=old[:2]).exists()
    assert WebhookAttempt.objects.filter(delivery__event=old[2]).count() == 1
