"""The gateway times out or answers 5xx mid-campaign: afterwards the ledger reconciles, no
message is lost or handed over twice, and the campaign finishes with every message accounted
for (or clearly marked failed with its reason).

A small HTTP server stands in for Kannel's sendsms interface (the real Kannel is exercised in
tests/gateway); it records every message it *took* (answered, or would have answered, "0:
Accepted"), so a message taken twice is a message the handset would receive twice.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
import time_machine
from django.utils import timezone

from campaigns.models import Campaign, CampaignRun, Message
from campaigns.services.campaigns import campaign_create, campaign_schedule
from campaigns.services.delivery import delivery_report_apply, delivery_settle
from campaigns.services.sending import run_execute
from smsmarketing.models import SmsAccount
from tests.campaigns.campaign_fixtures import MARKETING_TEXT, MORNING, assert_ledger_clean

pytestmark = pytest.mark.django_db

TIMEOUT = 0.4


class FakeSendsms(ThreadingHTTPServer):
    """Kannel's sendsms: ``behave(n, message_id)`` says what the n-th request gets."""

    daemon_threads = True

    def __init__(self, behave) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.behave = behave
        self.requests = 0
        self.taken: list[int] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/cgi-bin/sendsms"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        server: FakeSendsms = self.server  # type: ignore[assignment]
        query = parse_qs(urlparse(self.path).query)
        dlr = parse_qs(urlparse(query["dlr-url"][0]).query)
        message_id = int(dlr["id"][0])
        with server.lock:
            server.requests += 1
            n = server.requests
        action = server.behave(n, message_id)
        if action == "503":
            return self._answer(503, "Queue full, try again later")
        if action == "500":
            return self._answer(500, "Internal error")
        if action != "hang":
            with server.lock:
                server.taken.append(message_id)  # Kannel queued it: it will reach the phone
        if action == "hang":
            time.sleep(TIMEOUT * 3)  # read, never queued, no answer: Kannel died mid-request
            return None
        if action == "slow":
            time.sleep(TIMEOUT * 3)  # the answer comes after the client gave up
        try:
            self._answer(202, "0: Accepted for delivery")
        except OSError:
            pass

    def _answer(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def fake_kannel(pipeline_settings):
    servers = []

    def start(behave) -> FakeSendsms:
        server = FakeSendsms(behave)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        pipeline_settings.SMS_GATEWAY = {
            "BACKEND": "campaigns.gateways.kannel.KannelBackend",
            "OPTIONS": {
                "url": server.url,
                "timeout": TIMEOUT,
                "rate": 0,
                "concurrency": 4,
                "callback_base_url": "http://127.0.0.1:1",
            },
        }
        pipeline_settings.SMS_PIPELINE = {
            **pipeline_settings.SMS_PIPELINE,
            "RETRY_BACKOFF": 60,
            "MAX_ATTEMPTS": 3,
        }
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def run_to_the_end(shop, alice) -> Campaign:
    """Schedule now and run the task as django-q2 would, following its deferrals (back-offs)."""
    with time_machine.travel(MORNING, tick=True):
        campaign = campaign_create(
            shop=shop, user=alice, kind="marketing", name="网关故障", text=MARKETING_TEXT
        )
    run_id = None
    for step in range(12):
        with time_machine.travel(MORNING + timedelta(minutes=10 * step), tick=True):
            if step == 0:
                campaign_schedule(campaign=campaign, user=alice)
                run_id = CampaignRun.objects.get(campaign=campaign).pk
            if run_execute(run_id=run_id) in ("finished", "skipped"):
                break
    campaign.refresh_from_db()
    return campaign


def deliver_what_was_taken(server: FakeSendsms) -> None:
    """Kannel reports DELIVRD for every message it took (once per take)."""
    with time_machine.travel(MORNING + timedelta(hours=3), tick=True):
        for message_id in server.taken:
            delivery_report_apply(message_id=message_id, status="delivered", at=timezone.now())
        delivery_settle()


def test_it_hands_no_message_over_twice_when_the_gateway_times_out_or_answers_5xx(
    ready_shop, alice, fake_kannel
):
    # Requests 1-6 get 503 (an overloaded smsbox), every 5th message is slow past the client's timeout.
    server = fake_kannel(lambda n, mid: "503" if n <= 6 else ("slow" if mid % 5 == 0 else "ok"))
    campaign = run_to_the_end(ready_shop, alice)
    assert campaign.status == Campaign.Status.COMPLETED
    taken = Counter(server.taken)
    assert taken and max(taken.values()) == 1, f"handed over twice: {[m for m, n in taken.items() if n > 1]}"
    messages = Message.objects.filter(campaign=campaign)
    assert set(taken) == set(messages.values_list("pk", flat=True))  # none lost
    assert any(mid % 5 == 0 for mid in taken)  # the slow ones were among them
    deliver_what_was_taken(server)
    assert set(messages.values_list("status", flat=True)) == {"delivered"}
    account = SmsAccount.objects.get(shop=ready_shop)
    assert account.reserved == 0 and account.balance == 1000 - messages.count()
    assert_ledger_clean()


def test_it_marks_every_message_failed_with_the_reason_when_the_gateway_never_recovers(
    ready_shop, alice, fake_kannel
):
    server = fake_kannel(lambda n, mid: "500")
    campaign = run_to_the_end(ready_shop, alice)
    assert campaign.status == Campaign.Status.COMPLETED
    assert server.taken == []
    messages = Message.objects.filter(campaign=campaign)
    assert set(messages.values_list("status", "reason", "attempts")) == {("failed", "GATEWAY-ERROR", 3)}
    assert set(messages.values_list("settlement", flat=True)) == {"released"}
    account = SmsAccount.objects.get(shop=ready_shop)
    assert account.reserved == 0 and account.balance == 1000  # nothing charged for what never left
    assert_ledger_clean()


def test_a_message_without_an_answer_is_never_resent_and_is_refunded_after_72_hours(
    ready_shop, alice, fake_kannel
):
    from campaigns.services.delivery import delivery_expire_stale

    server = fake_kannel(lambda n, mid: "hang" if mid % 4 == 0 else "ok")
    campaign = run_to_the_end(ready_shop, alice)
    messages = Message.objects.filter(campaign=campaign)
    hung = [m for m in messages.values_list("pk", flat=True) if m % 4 == 0]
    assert hung and server.requests == messages.count()  # each message requested exactly once
    deliver_what_was_taken(server)
    with time_machine.travel(MORNING + timedelta(hours=80), tick=True):
        delivery_expire_stale()
        delivery_settle()
    assert set(messages.filter(pk__in=hung).values_list("status", "reason", "settlement")) == {
        ("expired", "NO-REPORT", "released")
    }
    assert set(messages.exclude(pk__in=hung).values_list("status", flat=True)) == {"delivered"}
    account = SmsAccount.objects.get(shop=ready_shop)
    assert account.reserved == 0 and account.balance == 1000 - (messages.count() - len(hung))
    assert_ledger_clean()
