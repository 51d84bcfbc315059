"""Test-phone verification codes are free platform SMS to any number a merchant types: they
are limited per shop and phone per minute, per phone per day (all shops) and per shop per
day, so no shop can flood a stranger's phone or draw codes until one is guessed."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from campaigns.models import VerifiedPhone
from campaigns.services.campaigns import (
    VERIFY_PER_PHONE_DAY,
    VERIFY_PER_SHOP_DAY,
    CampaignInvalid,
    campaign_create,
    verified_phone_confirm,
    verified_phone_request,
)
from tests.campaigns.campaign_fixtures import MARKETING_TEXT, MORNING
from tests.factories import make_active_account, make_shop, make_user

pytestmark = pytest.mark.django_db

VICTIM = "13912345678"


def request_at(shop, user, phone, at):
    with time_machine.travel(at, tick=False):
        return verified_phone_request(shop=shop, user=user, phone=phone)


def test_it_sends_one_code_per_phone_per_minute(ready_shop, alice):
    request_at(ready_shop, alice, VICTIM, MORNING)
    with pytest.raises(CampaignInvalid) as refused:
        request_at(ready_shop, alice, VICTIM, MORNING + timedelta(seconds=30))
    assert "1 分钟后" in refused.value.message
    request_at(ready_shop, alice, VICTIM, MORNING + timedelta(seconds=61))


def test_it_limits_codes_to_one_phone_per_day_across_shops(ready_shop, alice, bob, bob_shop):
    make_active_account(bob_shop, balance=10, user=bob)
    for i in range(VERIFY_PER_PHONE_DAY):
        shop, user = (ready_shop, alice) if i % 2 else (bob_shop, bob)
        request_at(shop, user, VICTIM, MORNING + timedelta(minutes=2 * i))
    for shop, user in ((ready_shop, alice), (bob_shop, bob)):
        with pytest.raises(CampaignInvalid) as refused:
            request_at(shop, user, VICTIM, MORNING + timedelta(hours=1))
        assert "该手机号今日" in refused.value.message
    request_at(ready_shop, alice, VICTIM, MORNING + timedelta(days=1))  # a new day


def test_it_limits_the_codes_one_shop_requests_per_day(ready_shop, alice):
    for i in range(VERIFY_PER_SHOP_DAY):
        request_at(ready_shop, alice, f"1391234{i:04d}", MORNING + timedelta(seconds=i))
    with pytest.raises(CampaignInvalid) as refused:
        request_at(ready_shop, alice, "13912349999", MORNING + timedelta(minutes=5))
    assert "本店今日" in refused.value.message


def test_a_code_cannot_be_guessed_by_drawing_new_ones(ready_shop, alice):
    """5 wrong tries per code, at most 5 codes a day: at most 25 guesses of a million a day."""
    guesses = 0
    for i in range(VERIFY_PER_PHONE_DAY + 3):
        at = MORNING + timedelta(minutes=2 * i)
        try:
            code = request_at(ready_shop, alice, VICTIM, at)
        except CampaignInvalid:
            continue
        wrong = "000000" if code != "000000" else "111111"
        for _ in range(6):
            with time_machine.travel(at, tick=False), pytest.raises(CampaignInvalid):
                verified_phone_confirm(shop=ready_shop, user=alice, phone=VICTIM, code=wrong)
            guesses += 1
    assert VerifiedPhone.objects.get(shop=ready_shop, phone=VICTIM).verified_at is None
    assert VerifiedPhone.objects.get(shop=ready_shop, phone=VICTIM).attempts == 5


def test_the_portal_shows_the_limit_in_chinese(client, alice, ready_shop):
    with time_machine.travel(MORNING, tick=False):
        campaign = campaign_create(
            shop=ready_shop, user=alice, kind="marketing", name="测试", text=MARKETING_TEXT
        )
        client.force_login(alice)
        url = reverse("campaigns:test_phone_request", args=[ready_shop.pk, campaign.pk])
        client.post(url, {"phone": VICTIM})
        response = client.post(url, {"phone": VICTIM}, follow=True)
    assert "验证码已发送，请 1 分钟后再获取" in response.content.decode()


def test_other_users_are_not_affected_by_a_shops_limit(ready_shop, alice):
    dora = make_user("dora")
    other = make_shop("别家", owner=dora)
    make_active_account(other, balance=10)
    for i in range(VERIFY_PER_SHOP_DAY):
        request_at(ready_shop, alice, f"1391234{i:04d}", MORNING + timedelta(seconds=i))
    later = MORNING + timedelta(minutes=5)
    with pytest.raises(CampaignInvalid):  # the first shop is at its limit...
        request_at(ready_shop, alice, "13912349999", later)

    code = request_at(other, dora, "13800000000", later)  # ...the other shop is not

    assert len(code) == 6 and code.isdigit()
    with time_machine.travel(later + timedelta(minutes=1), tick=False):
        verified_phone_confirm(shop=other, user=dora, phone="13800000000", code=code)
    assert VerifiedPhone.objects.get(shop=other, phone="13800000000").verified_at is not None
    assert not VerifiedPhone.objects.filter(shop=ready_shop, phone="13912349999").exists()
