"""Kannel's callbacks into the app: delivery reports and replies (no Kannel needed here)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from django.utils import timezone

from campaigns.gateways.kannel import dlr_token, mo_token
from campaigns.models import Campaign, CampaignRun, DeliveryReport, InboundMessage, Message, OptOut

pytestmark = pytest.mark.django_db

TS = 1795531164  # a Kannel %T


def _message(
    shop, phone: str = "13800138000", *, status=Message.Status.SENDING, sent_ago: int = 60
) -> Message:
    campaign = Campaign.objects.create(shop=shop, kind=Campaign.Kind.MARKETING, name="双十二", text="你好")
    run = CampaignRun.objects.create(campaign=campaign)
    return Message.objects.create(
        campaign=campaign,
        run=run,
        shop=shop,
        phone=phone,
        status=status,
        parts=1,
        sent_at=timezone.now() - timedelta(seconds=sent_ago),
    )


def _dlr(client, message_id: int, kannel_type: int, *, token: str | None = None, ts: int = TS):
    token = dlr_token(message_id) if token is None else token
    return client.get(
        f"/hooks/kannel/dlr/?id={message_id}&token={token}&type={kannel_type}&ts={ts}"
        "&smsc_status=id%3A5+stat%3ADELIVRD&smsc_id=sim&foreign_id=5&phone=13800138000"
    )


def _mo(
    client,
    *,
    sender: str,
    text: str,
    to: str = "10690001",
    kannel_id: str = "",
    token: str | None = None,
    extra: str = "&coding=0&charset=UTF-8",
):
    token = mo_token() if token is None else token
    return client.get(
        f"/hooks/kannel/mo/?token={token}&from={quote(sender)}&to={quote(to)}&text={quote(text)}"
        f"&ts={TS}&smsc_id=sim&kannel_id={kannel_id}{extra}"
    )


def test_it_applies_a_delivered_report_at_the_time_kannel_gives(client, alice_shop):
    message = _message(alice_shop)
    response = _dlr(client, message.pk, 1)
    assert response.status_code == 200
    message.refresh_from_db()
    assert message.status == Message.Status.DELIVERED
    assert message.final_at == datetime.fromtimestamp(TS, tz=UTC)
    report = DeliveryReport.objects.get(message=message)
    assert report.status == "delivered" and report.applied
    assert "token" not in report.raw and report.raw["foreign_id"] == "5"


@pytest.mark.parametrize(
    ("kannel_type", "status", "reason"), [(2, "failed", "DLR-FAILED"), (16, "failed", "DLR-REJECTED")]
)
def test_it_marks_failed_and_smsc_rejected_messages_failed(client, alice_shop, kannel_type, status, reason):
    message = _message(alice_shop)
    assert _dlr(client, message.pk, kannel_type).status_code == 200
    message.refresh_from_db()
    assert (message.status, message.reason) == (status, reason)


def test_it_moves_a_message_to_accepted_on_an_intermediate_report(client, alice_shop):
    message = _message(alice_shop)
    _dlr(client, message.pk, 8)
    message.refresh_from_db()
    assert message.status == Message.Status.ACCEPTED
    _dlr(client, message.pk, 4)
    message.refresh_from_db()
    assert message.status == Message.Status.ACCEPTED


def test_it_never_overwrites_a_final_state_with_a_late_or_repeated_report(client, alice_shop):
    message = _message(alice_shop)
    _dlr(client, message.pk, 1)
    for late in (8, 4, 2, 1):
        assert _dlr(client, message.pk, late, ts=TS + 5).status_code == 200
    message.refresh_from_db()
    assert message.status == Message.Status.DELIVERED
    assert message.final_at == datetime.fromtimestamp(TS, tz=UTC)
    assert DeliveryReport.objects.filter(message=message, applied=True).count() == 1


def test_it_refuses_a_forged_or_unauthenticated_report_changes_nothing_and_logs_it(
    client, alice_shop, caplog
):
    message = _message(alice_shop)
    other = _message(alice_shop, "13800138001")
    caplog.set_level(logging.WARNING, logger="campaigns.views.gateway")
    assert _dlr(client, message.pk, 1, token="0" * 32).status_code == 403
    assert _dlr(client, message.pk, 1, token="").status_code == 403
    assert (
        _dlr(client, message.pk, 2, token=dlr_token(other.pk)).status_code == 403
    )  # another message's token
    assert client.get(f"/hooks/kannel/dlr/?id={message.pk}&type=1").status_code == 403
    message.refresh_from_db()
    assert message.status == Message.Status.SENDING
    assert not DeliveryReport.objects.exists()
    assert sum("refused a call without a valid token" in r.getMessage() for r in caplog.records) == 4


def test_it_answers_400_to_a_report_without_a_known_type(client, alice_shop):
    message = _message(alice_shop)
    assert (
        client.get(f"/hooks/kannel/dlr/?id={message.pk}&token={dlr_token(message.pk)}&type=%d").status_code
        == 400
    )
    assert _dlr(client, message.pk, 3).status_code == 400
    message.refresh_from_db()
    assert message.status == Message.Status.SENDING


def test_it_opts_a_reply_out_of_the_shop_of_the_last_message_to_that_phone(client, alice_shop, bob_shop):
    _message(bob_shop, sent_ago=3600)
    last = _message(alice_shop, sent_ago=60)
    response = _mo(client, sender="13800138000", text="R", kannel_id="k-1")
    assert response.status_code == 200 and response.content == b""
    assert list(OptOut.objects.values_list("shop_id", "phone", "source")) == [
        (alice_shop.pk, "13800138000", "sms_reply")
    ]
    inbound = InboundMessage.objects.get()
    assert (inbound.outcome, inbound.shop_id, inbound.in_reply_to, inbound.phone) == (
        "opted_out",
        alice_shop.pk,
        last.pk,
        "13800138000",
    )


def test_it_uses_the_shop_sender_code_in_the_receiver_when_there_is_one(client, alice_shop, bob_shop):
    _message(bob_shop, sent_ago=3600)
    _message(alice_shop, sent_ago=60)
    _mo(client, sender="+8613800138000", text="退订", to=f"10690001{bob_shop.pk}")
    assert list(OptOut.objects.values_list("shop_id", flat=True)) == [bob_shop.pk]


@pytest.mark.parametrize("reply", ["TD", "td", "退订", "ＴＤ", " R "])
def test_it_understands_the_unsubscribe_keywords(client, alice_shop, reply):
    _message(alice_shop)
    _mo(client, sender="13800138000", text=reply)
    assert OptOut.objects.filter(shop=alice_shop, phone="13800138000").exists()


def test_it_logs_a_reply_that_is_not_an_unsubscribe_and_opts_nobody_out(client, alice_shop):
    _message(alice_shop)
    _mo(client, sender="13800138000", text="请问优惠券怎么用")
    assert not OptOut.objects.exists()
    assert InboundMessage.objects.get().outcome == "not_keyword"


def test_it_logs_an_unsubscribe_from_a_phone_we_never_sent_to(client, alice_shop):
    _mo(client, sender="13900000000", text="R")
    assert not OptOut.objects.exists()
    assert InboundMessage.objects.get().outcome == "no_shop"


def test_it_handles_a_reply_retried_by_kannel_once(client, alice_shop):
    _message(alice_shop)
    for _ in range(3):
        assert _mo(client, sender="13800138000", text="R", kannel_id="same-id").status_code == 200
    assert InboundMessage.objects.count() == 1
    assert OptOut.objects.count() == 1
    _mo(client, sender="13800138000", text="R", kannel_id="another-id")
    assert InboundMessage.objects.filter(outcome="already_opted_out").count() == 1


def test_it_decodes_a_ucs2_reply_that_was_not_recoded(client, alice_shop):
    _message(alice_shop)
    raw = "".join(f"%{b:02X}" for b in "退订".encode("utf-16-be"))
    client.get(
        f"/hooks/kannel/mo/?token={mo_token()}&from=13800138000&to=10690001&text={raw}&coding=2&charset=UTF-16BE"
    )
    assert InboundMessage.objects.get().text == "退订"
    assert OptOut.objects.filter(shop=alice_shop).exists()


def test_it_refuses_an_inbound_call_without_the_token_and_records_nothing(client, alice_shop, caplog):
    _message(alice_shop)
    caplog.set_level(logging.WARNING, logger="campaigns.views.gateway")
    assert _mo(client, sender="13800138000", text="R", token="forged").status_code == 403
    assert not InboundMessage.objects.exists() and not OptOut.objects.exists()
    assert any("refused a call without a valid token" in r.getMessage() for r in caplog.records)


def test_it_logs_a_reply_from_an_invalid_number(client, alice_shop):
    _mo(client, sender="12345", text="R")
    assert InboundMessage.objects.get().outcome == "invalid_phone"
    assert not OptOut.objects.exists()


def test_it_lists_replies_read_only_in_the_admin(client, alice_shop):
    from tests.factories import make_user

    _message(alice_shop)
    _mo(client, sender="13800138000", text="退订")
    client.force_login(make_user("root", superuser=True))
    page = client.get("/admin/campaigns/inboundmessage/")
    assert page.status_code == 200
    assert "退订" in page.content.decode() and "已退订" in page.content.decode()
    inbound = InboundMessage.objects.get()
    assert (
        client.post(f"/admin/campaigns/inboundmessage/{inbound.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert InboundMessage.objects.filter(pk=inbound.pk).exists()
