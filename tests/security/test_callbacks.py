"""The gateway's callbacks (delivery reports, replies) are authenticated, validated and
rate-limited: forged, replayed and malformed calls change nothing and are logged."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from urllib.parse import quote

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from campaigns.gateways.kannel import dlr_token, mo_token
from campaigns.models import DeliveryReport, InboundMessage, Message, OptOut
from smsmarketing.models import LedgerEntry, RateLimitCounter, SmsAccount
from smsmarketing.security import rate_limit_hit
from tests.campaigns.campaign_fixtures import assert_ledger_clean
from tests.gateway.test_callbacks import _message

pytestmark = pytest.mark.django_db

DLR = "/hooks/kannel/dlr/"
MO = "/hooks/kannel/mo/"


def dlr(client, message_id, kannel_type, *, token=None, ip="127.0.0.1", extra=""):
    token = dlr_token(int(message_id)) if token is None else token
    return client.get(
        f"{DLR}?id={message_id}&token={quote(token)}&type={kannel_type}&ts=1795531164{extra}", REMOTE_ADDR=ip
    )


def mo(client, *, sender="13800138000", text="TD", token=None, ip="127.0.0.1", extra="&kannel_id="):
    token = mo_token() if token is None else token
    return client.get(
        f"{MO}?token={quote(token)}&from={quote(sender)}&to=10690001&text={quote(text)}{extra}",
        REMOTE_ADDR=ip,
    )


def state():
    return {
        "messages": list(Message.objects.order_by("pk").values()),
        "reports": DeliveryReport.objects.count(),
        "inbound": InboundMessage.objects.count(),
        "optouts": OptOut.objects.count(),
    }


FORGED_DLR_TOKENS = [
    ("no token", ""),
    ("wrong token", "0" * 16),
    ("another message's token", None),  # filled in the test
    ("non-ASCII token", "令牌令牌"),
    ("token with a NUL", "abc\x00def"),
]


@pytest.mark.parametrize("label,token", FORGED_DLR_TOKENS, ids=[t[0] for t in FORGED_DLR_TOKENS])
def test_it_refuses_a_forged_delivery_report_logs_it_and_changes_nothing(
    client, alice_shop, caplog, label, token
):
    message, other = _message(alice_shop), _message(alice_shop, "13800138001")
    if token is None:
        token = dlr_token(other.pk)
    before = state()
    with caplog.at_level(logging.WARNING, logger="campaigns.views.gateway"):
        response = dlr(client, message.pk, 1, token=token)
    assert response.status_code == 403
    assert state() == before
    assert "refused a call without a valid token" in caplog.text


@pytest.mark.parametrize("message_id", ["²", "١٢", "-1", "1e3", "", "9" * 40, "1%00"])
def test_it_refuses_a_malformed_message_id(client, alice_shop, caplog, message_id):
    _message(alice_shop)
    before = state()
    with caplog.at_level(logging.WARNING, logger="campaigns.views.gateway"):
        response = client.get(f"{DLR}?id={quote(message_id)}&token=x&type=1")
    assert response.status_code == 403
    assert state() == before
    assert "refused" in caplog.text


@pytest.mark.parametrize("kannel_type", ["", "abc", "99", "-1", "1.5", "٣"])
def test_it_answers_400_to_an_authentic_report_of_no_known_type(client, alice_shop, caplog, kannel_type):
    message = _message(alice_shop)
    before = state()
    with caplog.at_level(logging.WARNING, logger="campaigns.views.gateway"):
        response = dlr(client, message.pk, quote(kannel_type))
    assert response.status_code == 400
    assert state() == before
    assert "unknown type" in caplog.text


def test_it_refuses_other_methods(client, alice_shop):
    message = _message(alice_shop)
    before = state()
    url = f"{DLR}?id={message.pk}&token={dlr_token(message.pk)}&type=1"
    assert client.post(url).status_code == 405
    assert client.put(url).status_code == 405
    assert state() == before


def test_a_replayed_report_charges_once_and_cannot_flip_a_final_state(client, world):
    delivered = Message.objects.filter(campaign=world.campaign, status="delivered").first()
    failed = Message.objects.filter(campaign=world.campaign, status="failed").first()
    account_before = SmsAccount.objects.values("balance", "reserved").get(shop=world.alice_shop)
    ledger_before = LedgerEntry.objects.count()
    messages_before = list(Message.objects.order_by("pk").values())
    for message, kannel_type in ((delivered, 1), (delivered, 2), (failed, 1), (failed, 2), (delivered, 8)):
        for _ in range(3):
            assert dlr(client, message.pk, kannel_type).status_code == 200
    from campaigns.services.delivery import delivery_settle

    delivery_settle()
    assert list(Message.objects.order_by("pk").values()) == messages_before
    assert SmsAccount.objects.values("balance", "reserved").get(shop=world.alice_shop) == account_before
    assert LedgerEntry.objects.count() == ledger_before
    assert not DeliveryReport.objects.filter(
        message__in=[delivered, failed], applied=True, raw__has_key="token"
    )
    assert_ledger_clean()


def test_it_refuses_an_inbound_call_with_a_forged_token_and_logs_it(client, alice_shop, caplog):
    before = state()
    with caplog.at_level(logging.WARNING, logger="campaigns.views.gateway"):
        for token in ("", "0" * 16, "令牌", dlr_token(1)):
            assert mo(client, token=token).status_code == 403
    assert state() == before
    assert caplog.text.count("kannel mo: refused") == 4


def test_a_replayed_reply_is_recorded_once(client, alice_shop):
    _message(alice_shop)
    for _ in range(3):
        assert mo(client, extra="&kannel_id=k-77").status_code == 200
    assert InboundMessage.objects.filter(kannel_id="k-77").count() == 1
    assert OptOut.objects.filter(shop=alice_shop, phone="13800138000").count() == 1


@pytest.mark.parametrize(
    "sender,text,expected",
    [
        ("", "TD", 400),  # no sender
        ("not-a-phone", "TD", 200),  # logged as invalid, nobody opted out
        ("1380013800\x00", "TD", 200),
        ("13800138000", "退订\x00", 200),  # NUL: PostgreSQL text cannot hold it
        ("13800138000", "x" * 20_000, 200),
        ("13800138000", "\u202e\u200bTD", 200),
    ],
)
def test_a_malformed_reply_is_answered_and_never_fails(client, alice_shop, sender, text, expected):
    _message(alice_shop, "13800138999")
    response = mo(client, sender=sender, text=text)
    assert response.status_code == expected
    if expected == 200:
        assert InboundMessage.objects.count() == 1
        assert not OptOut.objects.filter(shop=alice_shop, phone="13800138999").exists()


def test_an_authentic_report_with_a_nul_in_a_field_is_applied(client, alice_shop):
    message = _message(alice_shop)
    response = dlr(client, message.pk, 1, extra="&smsc_status=id%3A5%00stat%3ADELIVRD")
    assert response.status_code == 200
    assert Message.objects.get(pk=message.pk).status == "delivered"


# --- rate limits and source networks -------------------------------------------------------


def test_it_answers_429_after_too_many_refused_calls_from_one_address(client, alice_shop, settings, caplog):
    settings.SMS_CALLBACK_REFUSED_RATE = 5
    message = _message(alice_shop)
    for _ in range(5):
        assert dlr(client, message.pk, 1, token="guess", ip="198.51.100.9").status_code == 403
    before = state()
    with caplog.at_level(logging.WARNING, logger="smsmarketing.security"):
        # Even an authentic call from that address now waits (Kannel retries it later).
        response = dlr(client, message.pk, 1, ip="198.51.100.9")
        assert response.status_code == 429 and response["Retry-After"] == "60"
        assert mo(client, ip="198.51.100.9").status_code == 429
    assert state() == before
    assert "over its refused-call limit" in caplog.text
    # Other addresses are not affected, and the next minute the address is heard again.
    assert dlr(client, message.pk, 8, ip="127.0.0.1").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        assert dlr(client, message.pk, 1, ip="198.51.100.9").status_code == 200
    assert Message.objects.get(pk=message.pk).status == "delivered"


def test_it_answers_429_beyond_the_call_rate_even_with_valid_tokens(client, alice_shop, settings):
    settings.SMS_CALLBACK_RATE = 3
    message = _message(alice_shop)
    statuses = [dlr(client, message.pk, 8).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]


def test_it_refuses_calls_from_outside_the_allowed_networks(client, alice_shop, settings, caplog):
    settings.SMS_CALLBACK_ALLOWED_NETS = ["10.20.0.0/16", "::1/128"]
    message = _message(alice_shop)
    before = state()
    with caplog.at_level(logging.WARNING, logger="smsmarketing.security"):
        assert dlr(client, message.pk, 1, ip="127.0.0.1").status_code == 403
        assert mo(client, ip="203.0.113.1").status_code == 403
    assert state() == before
    assert "outside SMS_CALLBACK_ALLOWED_NETS" in caplog.text
    assert dlr(client, message.pk, 1, ip="10.20.3.4").status_code == 200


def test_it_keeps_one_counter_row_per_address_and_window(client, alice_shop):
    message = _message(alice_shop)
    for _ in range(10):
        dlr(client, message.pk, 8, ip="10.9.9.9")
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        dlr(client, message.pk, 8, ip="10.9.9.9")
    assert RateLimitCounter.objects.filter(key="callback:10.9.9.9").count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_counter_is_exact_under_concurrent_processes():
    """Threads with their own connections stand for web processes: no increment is lost."""
    results: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def hammer() -> None:
        barrier.wait()
        try:
            counts = [rate_limit_hit("race-key") for _ in range(25)]
            with lock:
                results.extend(counts)
        finally:
            connection.close()

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Unless the test straddled a minute boundary, every count from 1 to 200 was returned once.
    rows = list(RateLimitCounter.objects.filter(key="race-key").values_list("hits", flat=True))
    assert sum(rows) == 200
    if len(rows) == 1:
        assert sorted(results) == list(range(1, 201))


def test_a_call_answered_429_for_the_refused_limit_is_not_counted_as_a_call(client, alice_shop, settings):
    """The refused-call count is read in the statement that counts the call: over that limit
    nothing is counted (and nothing else is written)."""
    settings.SMS_CALLBACK_REFUSED_RATE = 2
    message = _message(alice_shop)
    with time_machine.travel(timezone.now().replace(second=5), tick=False):
        guesses = [dlr(client, message.pk, 8, token="guess", ip="198.51.100.7") for _ in range(2)]
        assert [response.status_code for response in guesses] == [403, 403]
        assert [dlr(client, message.pk, 8, ip="198.51.100.7").status_code for _ in range(3)] == [429] * 3
    hits = dict(RateLimitCounter.objects.values_list("key", "hits"))
    assert hits == {"callback:198.51.100.7": 2, "callback-refused:198.51.100.7": 2}
    assert not DeliveryReport.objects.filter(message=message).exists()


@pytest.mark.django_db(transaction=True)
def test_the_call_limit_admits_exactly_the_rate_under_a_concurrent_flood(alice_shop, settings):
    """Eight threads (own connections, as web processes) flood one address with authentic
    reports: exactly SMS_CALLBACK_RATE are applied, the rest answered 429, every call counted
    though the count is committed without waiting for the WAL flush; that setting stays local
    to the counting statement (each connection is back to durable commits)."""
    from django.test import Client

    settings.SMS_CALLBACK_RATE = 40
    message = _message(alice_shop)
    statuses: list[int] = []
    durability: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def flood() -> None:
        client = Client()
        barrier.wait()
        try:
            codes = [dlr(client, message.pk, 8, ip="203.0.113.50").status_code for _ in range(10)]
            with connection.cursor() as cursor:
                cursor.execute("SHOW synchronous_commit")
                setting = cursor.fetchone()[0]
            with lock:
                statuses.extend(codes)
                durability.append(setting)
        finally:
            connection.close()

    with time_machine.travel(timezone.now().replace(second=5), tick=False):
        threads = [threading.Thread(target=flood) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(statuses) == [200] * 40 + [429] * 40
    assert durability == ["on"] * 8
    assert RateLimitCounter.objects.get(key="callback:203.0.113.50").hits == 80
    assert DeliveryReport.objects.filter(message=message).count() == 40
    assert DeliveryReport.objects.filter(message=message, applied=True).count() == 1
    assert Message.objects.get(pk=message.pk).status == "accepted"


def test_a_count_not_flushed_inside_a_callers_transaction_leaves_it_durable(alice_shop):
    """Inside a transaction (a test runs in one) the non-durable count would turn off the flush
    for everything the caller writes: it is counted durably there instead."""
    assert rate_limit_hit("in-a-transaction", durable=False) == 1
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
