"""The merchant's signature page: live, pending with due date, history, submit, check, withdraw."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from reviews.models import ReviewState, Signature
from reviews.services.signatures import signature_approve, signature_reject, signature_submit

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")


def page(shop):
    return reverse("reviews:signature", args=[shop.pk])


def test_it_shows_that_no_signature_is_set(client, alice, alice_shop):
    client.force_login(alice)
    body = client.get(page(alice_shop)).content.decode()
    assert "未设置" in body and "设置签名" in body


def test_it_submits_a_signature_and_shows_it_pending_with_its_due_date(client, alice, alice_shop):
    client.force_login(alice)
    with time_machine.travel(dt.datetime(2025, 9, 30, 10, 0, tzinfo=SH), tick=False):
        response = client.post(page(alice_shop), {"text": " 爱丽丝 "})
        assert response.status_code == 302
        body = client.get(page(alice_shop)).content.decode()
    signature = Signature.objects.get(shop=alice_shop)
    assert (signature.text, signature.state, signature.submitted_by) == ("爱丽丝", ReviewState.PENDING, alice)
    assert "2025-09-30 10:00" in body  # submitted
    assert "2025-10-11 10:00" in body  # expected decision, after 国庆
    assert "撤回申请" in body


def test_it_shows_every_finding_and_writes_nothing(client, alice, alice_shop):
    client.force_login(alice)
    response = client.post(page(alice_shop), {"text": "京东·旗舰店"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "SIG-PLATFORM" in body and "SIG-CHARSET" in body
    assert '<mark class="finding">京东·</mark>旗舰店' in body
    assert not Signature.objects.exists()


def test_the_check_endpoint_reports_findings_as_you_type(client, alice, alice_shop):
    client.force_login(alice)
    url = reverse("reviews:signature_check", args=[alice_shop.pk])
    body = client.get(url, {"text": "ｊＤ优选"}, HTTP_HX_REQUEST="true").content.decode()
    assert "SIG-PLATFORM" in body and "<html" not in body
    body = client.post(url, {"text": "爱丽丝"}, HTTP_HX_REQUEST="true").content.decode()
    assert "未发现问题" in body
    response = client.get(url, {"text": "爱\x00丽"})  # odd input is a finding, never a server error
    assert response.status_code == 200 and "SIG-CHARSET" in response.content.decode()
    assert not Signature.objects.exists()


def test_the_merchant_withdraws_the_pending_signature_after_confirming(client, alice, alice_shop, reviewer):
    signature_approve(signature=signature_submit(shop=alice_shop, text="爱丽丝", by=alice), reviewer=reviewer)
    signature = signature_submit(shop=alice_shop, text="爱丽丝服饰", by=alice)
    client.force_login(alice)
    url = reverse("reviews:signature_withdraw", args=[alice_shop.pk])
    assert f'href="{url}"' in client.get(page(alice_shop)).content.decode()
    confirm = client.get(url)
    body = confirm.content.decode()
    assert "【爱丽丝服饰】" in body and "【爱丽丝】" in body and "继续使用" in body and "确认撤回" in body
    signature.refresh_from_db()
    assert signature.state == ReviewState.PENDING  # the GET only explains
    response = client.post(url, {"token": confirm.context["token"]}, follow=True)
    assert "已撤回" in response.content.decode()
    signature.refresh_from_db()
    assert signature.state == ReviewState.WITHDRAWN
    assert Signature.objects.get(shop=alice_shop, state=ReviewState.APPROVED).text == "爱丽丝"


def test_a_withdrawal_confirmed_for_another_pending_signature_is_refused(client, alice, alice_shop, reviewer):
    first = signature_submit(shop=alice_shop, text="爱丽丝", by=alice)
    client.force_login(alice)
    url = reverse("reviews:signature_withdraw", args=[alice_shop.pk])
    token = client.get(url).context["token"]
    # Meanwhile the confirmed one is approved and a new one submitted (another tab).
    signature_approve(signature=first, reviewer=reviewer)
    second = signature_submit(shop=alice_shop, text="爱丽丝服饰", by=alice)
    response = client.post(url, {"token": token}, follow=True)
    assert "请重新确认" in response.content.decode()
    second.refresh_from_db()
    assert second.state == ReviewState.PENDING


def test_an_overdue_signature_review_says_it_is_delayed(client, alice, alice_shop):
    with time_machine.travel(dt.datetime(2025, 9, 30, 10, 0, tzinfo=SH), tick=False):
        signature_submit(shop=alice_shop, text="爱丽丝", by=alice)
    client.force_login(alice)
    with time_machine.travel(dt.datetime(2025, 10, 13, 10, 0, tzinfo=SH), tick=False):
        body = client.get(page(alice_shop)).content.decode()
    assert "审核已延迟" in body and "预计审核完成" not in body


def test_it_shows_the_live_signature_and_the_history_with_reject_reasons(client, alice, alice_shop, reviewer):
    signature_approve(signature=signature_submit(shop=alice_shop, text="爱丽丝", by=alice), reviewer=reviewer)
    rejected = signature_submit(shop=alice_shop, text="爱丽丝旗舰", by=alice)
    signature_reject(
        signature=rejected, reviewer=reviewer, reason_code="shop_mismatch", reason_text="请与店铺名一致"
    )
    client.force_login(alice)
    body = client.get(page(alice_shop)).content.decode()
    assert "【爱丽丝】" in body and "修改签名" in body
    assert "签名与店铺名称不符" in body and "请与店铺名一致" in body


def test_another_merchant_cannot_see_or_change_the_shop_signature(client, bob, alice, alice_shop):
    signature_submit(shop=alice_shop, text="爱丽丝", by=alice)
    client.force_login(bob)
    assert client.get(page(alice_shop)).status_code == 404
    assert client.post(reverse("reviews:signature_withdraw", args=[alice_shop.pk])).status_code == 404
    assert client.get(reverse("reviews:signature_withdraw", args=[alice_shop.pk])).status_code == 404
    assert Signature.objects.get(shop=alice_shop).state == ReviewState.PENDING


def test_a_restricted_shop_gets_no_form_and_no_signature(client, charlie, charlie_shop):
    client.force_login(charlie)
    body = client.get(page(charlie_shop)).content.decode()
    assert "敏感类目" in body and "提交审核" not in body
    response = client.post(page(charlie_shop), {"text": "查理药房"})
    assert response.status_code == 400
    assert "敏感类目" in response.content.decode()
    assert not Signature.objects.exists()


def test_the_withdraw_confirmation_reads_a_fixed_number_of_queries(client, alice, alice_shop, reviewer):
    client.force_login(alice)
    url = reverse("reviews:signature_withdraw", args=[alice_shop.pk])
    first = signature_submit(shop=alice_shop, text="爱丽丝", by=alice)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    signature_approve(signature=first, reviewer=reviewer)
    rejected = signature_submit(shop=alice_shop, text="爱丽丝服饰", by=alice)
    signature_reject(signature=rejected, reviewer=reviewer, reason_code="other", reason_text="请修改")
    second = signature_submit(shop=alice_shop, text="爱丽丝女装", by=alice)
    signature_approve(signature=second, reviewer=reviewer)
    signature_submit(shop=alice_shop, text="爱丽丝小店", by=alice)
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).status_code == 200
    assert Signature.objects.filter(shop=alice_shop).count() == 4
    assert len(many) == len(few)
