"""Opt-outs: keyword replies, idempotent recording, re-subscribing only with recorded consent."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.urls import reverse

from campaigns.models import OptOut, OptOutEvent, OptOutKeyword
from campaigns.services.optouts import optout_is_keyword, optout_record, optout_resubscribe
from smsmarketing.errors import SmsError
from tests.factories import make_shop

pytestmark = pytest.mark.django_db

PHONE = "13800138000"


@pytest.mark.parametrize(
    "reply",
    [
        "R",
        "r",
        " T ",
        "td",
        "TD",
        "Td",
        "N",
        "退订",
        "拒收",
        "ＴＤ",
        "ｒ",
        "退订。",
        "R!",
        "\u3000退订\u3000",
        "TD\n",
    ],
)
def test_it_recognises_unsubscribe_replies(reply):
    assert optout_is_keyword(reply) is True


@pytest.mark.parametrize(
    "reply", ["", "  ", "RR", "TDD", "hello R", "不退订", "请问退订怎么操作", "好的", "Y", "0", "R T"]
)
def test_it_ignores_other_replies(reply):
    assert optout_is_keyword(reply) is False


def test_it_uses_the_keyword_list_the_admin_edits():
    OptOutKeyword.objects.filter(keyword="N").update(active=False)
    OptOutKeyword.objects.create(keyword="ＢＫ")  # full-width as typed by an operator
    assert optout_is_keyword("N") is False
    assert optout_is_keyword("bk") is True


def test_it_records_an_opt_out_once(alice_shop):
    assert optout_record(shop_id=alice_shop.pk, phone="+86 138 0013 8000", keyword="TD", source="sms_reply")
    assert not optout_record(shop_id=alice_shop.pk, phone=PHONE, keyword="R", source="sms_reply")
    optout = OptOut.objects.get()
    assert (optout.shop_id, optout.phone, optout.keyword, optout.source) == (
        alice_shop.pk,
        PHONE,
        "TD",
        "sms_reply",
    )
    assert OptOutEvent.objects.filter(kind="opt_out").count() == 1


def test_it_keeps_opt_outs_per_shop(alice_shop, bob_shop):
    assert optout_record(shop_id=alice_shop.pk, phone=PHONE, keyword="R", source="sms_reply")
    assert optout_record(shop_id=bob_shop.pk, phone=PHONE, keyword="R", source="sms_reply")
    assert OptOut.objects.count() == 2


def test_it_refuses_to_record_an_invalid_phone(alice_shop):
    with pytest.raises(SmsError) as error:
        optout_record(shop_id=alice_shop.pk, phone="12345", keyword="R", source="sms_reply")
    assert error.value.rule == "INVALID-PHONE"
    assert not OptOut.objects.exists()


def test_it_resubscribes_only_with_a_recorded_consent(alice, alice_shop):
    optout_record(shop_id=alice_shop.pk, phone=PHONE, keyword="R", source="sms_reply")
    for note in ["", "   ", "同意"]:
        with pytest.raises(SmsError) as error:
            optout_resubscribe(shop_id=alice_shop.pk, phone=PHONE, consent_note=note, actor=alice)
        assert error.value.rule == "CONSENT-REQUIRED"
    assert OptOut.objects.filter(shop=alice_shop, phone=PHONE).exists()

    optout_resubscribe(
        shop_id=alice_shop.pk, phone=PHONE, consent_note="2026-03-01 客服电话录音，客户同意接收", actor=alice
    )
    assert not OptOut.objects.filter(shop=alice_shop, phone=PHONE).exists()
    event = OptOutEvent.objects.get(kind="resubscribe")
    assert (event.actor, event.consent_note) == (alice, "2026-03-01 客服电话录音，客户同意接收")


def test_it_refuses_to_resubscribe_a_phone_that_is_not_opted_out(alice, alice_shop):
    with pytest.raises(SmsError) as error:
        optout_resubscribe(
            shop_id=alice_shop.pk, phone=PHONE, consent_note="客户来电要求恢复接收", actor=alice
        )
    assert error.value.rule == "NOT-OPTED-OUT"
    assert not OptOutEvent.objects.exists()


def test_it_refuses_to_resubscribe_for_a_restricted_shop(charlie, charlie_shop):
    optout_record(shop_id=charlie_shop.pk, phone=PHONE, keyword="R", source="sms_reply")
    with pytest.raises(SmsError) as error:
        optout_resubscribe(
            shop_id=charlie_shop.pk, phone=PHONE, consent_note="客户来电要求恢复接收", actor=charlie
        )
    assert error.value.rule == "CATEGORY-RESTRICTED"
    assert OptOut.objects.filter(shop=charlie_shop).exists()


@pytest.mark.django_db(transaction=True)
def test_it_records_one_opt_out_when_the_same_reply_is_handled_twice_at_once():
    shop = make_shop("并发退订")
    results: list[bool] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def handle_reply() -> None:
        try:
            barrier.wait()
            results.append(optout_record(shop_id=shop.pk, phone=PHONE, keyword="TD", source="sms_reply"))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=handle_reply) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == [False] * 7 + [True]
    assert OptOut.objects.filter(shop=shop).count() == 1
    assert OptOutEvent.objects.filter(shop=shop).count() == 1


# --- merchant pages -------------------------------------------------------------------------------


def test_it_lists_only_the_shops_own_opt_outs(client, alice, alice_shop, bob_shop):
    optout_record(shop_id=alice_shop.pk, phone=PHONE, keyword="退订", source="sms_reply")
    optout_record(shop_id=bob_shop.pk, phone="13900139000", keyword="R", source="sms_reply")
    client.force_login(alice)
    body = client.get(reverse("campaigns:optouts", args=[alice_shop.pk])).content.decode()
    assert PHONE in body and "13900139000" not in body
    assert client.get(reverse("campaigns:optouts", args=[bob_shop.pk])).status_code == 404
    assert client.get(reverse("campaigns:optouts_export", args=[bob_shop.pk])).status_code == 404


def test_it_searches_the_list_by_phone_digits(client, alice, alice_shop):
    optout_record(shop_id=alice_shop.pk, phone=PHONE, keyword="R", source="sms_reply")
    optout_record(shop_id=alice_shop.pk, phone="13900139000", keyword="R", source="sms_reply")
    client.force_login(alice)
    body = client.get(reverse("campaigns:optouts", args=[alice_shop.pk]), {"q": "0139"}).content.decode()
    table = body.split('id="optouts"')[1].split("</table>")[0]
    assert "13900139000" in table and PHONE not in table


def test_it_exports_the_opt_out_list_as_csv(client, alice, alice_shop):
    optout_record(shop_id=alice_shop.pk, phone=PHONE, keyword="=TD", source="sms_reply")
    client.force_login(alice)
    response = client.get(reverse("campaigns:optouts_export", args=[alice_shop.pk]))
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff手机号,回复内容,来源,退订时间")
    assert f"{PHONE},'=TD,短信回复," in text  # a formula-looking reply is neutralised


def test_it_resubscribes_from_the_page_with_consent(client, alice, alice_shop):
    optout_record(shop_id=alice_shop.pk, phone=PHONE, keyword="R", source="sms_reply")
    client.force_login(alice)
    url = reverse("campaigns:optouts_resubscribe", args=[alice_shop.pk])
    missing = client.post(url, {"phone": PHONE, "consent_note": "客户来电同意再次接收短信"})
    assert missing.status_code == 400
    assert "请确认已取得客户同意" in missing.content.decode()
    assert OptOut.objects.filter(shop=alice_shop).exists()

    response = client.post(url, {"phone": PHONE, "consent_note": "客户来电同意再次接收短信", "confirm": "on"})
    assert response.status_code == 302
    assert not OptOut.objects.filter(shop=alice_shop).exists()
    assert OptOutEvent.objects.get(kind="resubscribe").actor == alice


def test_it_shows_the_services_error_when_the_phone_is_not_opted_out(client, alice, alice_shop):
    client.force_login(alice)
    url = reverse("campaigns:optouts_resubscribe", args=[alice_shop.pk])
    response = client.post(url, {"phone": PHONE, "consent_note": "客户来电同意再次接收短信", "confirm": "on"})
    assert response.status_code == 400
    assert "未退订本店短信" in response.content.decode()
