"""Journey: verify a test phone and send a test SMS in the demo set-up (the simulated gateway,
SMS_DEMO on). Every page at 1440x900 and 390x844.

The campaign's test SMS section is one labelled form: the merchant types her phone once, asks
for a code; the section stays open, says where the code went and, in the demo, shows it
(演示环境验证码). She types it, her phone is verified and offered for the test SMS, which she
sends; the test SMS is listed with the text as received, marked apart from the statistics.
"""

from __future__ import annotations

import re
from datetime import datetime, time

import pytest
import time_machine
from django.utils import timezone

from campaigns.models import Message, VerifiedPhone
from campaigns.services.campaigns import campaign_create
from tests.campaigns.campaign_fixtures import MARKETING_TEXT, live_signature_for
from tests.factories import PASSWORD, make_active_account, make_reviewer, make_shop, make_user

JOURNEY = "test-sms"

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = "13912345678"


@pytest.fixture
def demo(settings):
    settings.SMS_DEMO = True
    settings.SMS_GATEWAY = {"BACKEND": "campaigns.gateways.simulated.SimulatedGateway", "OPTIONS": {}}
    settings.SMS_PIPELINE = {**settings.SMS_PIPELINE, "DISPATCH_RATE": 0}


@pytest.fixture
def morning():
    at = timezone.make_aware(datetime.combine(timezone.localdate(), time(10, 0)))
    with time_machine.travel(at, tick=True) as traveller:
        yield traveller


def test_it_verifies_a_test_phone_in_the_demo_and_sends_a_test_sms(journey, demo, morning):
    hana = make_user("hana")
    shop = make_shop("花田小铺", owner=hana)
    make_active_account(shop, balance=50, user=hana)
    live_signature_for(shop, hana, make_reviewer("rita"), text="花田小铺")
    campaign = campaign_create(shop=shop, user=hana, kind="marketing", name="春季上新", text=MARKETING_TEXT)

    merchant = journey.open()
    journey.login(merchant, "hana", PASSWORD)
    journey.visit_both(merchant, f"/shop/{shop.pk}/campaigns/{campaign.pk}/#test-sms", "test-sms-form")
    section = merchant.locator("#test-sms")
    section.get_by_label("手机号").fill(PHONE)
    section.get_by_role("button", name="获取验证码").click()
    merchant.locator("#verify-sent").wait_for()
    assert merchant.locator("#verify-phone[open]").count() == 1  # still open
    assert PHONE in merchant.inner_text("#verify-sent")
    code = re.search(r"演示环境验证码：(\d{6})", merchant.inner_text("#demo-code")).group(1)
    journey.check_both(merchant, "code-sent")

    merchant.locator("#test-sms").get_by_label("验证码").fill(code)
    merchant.locator("#verify-code-form button[type=submit]").click()
    merchant.locator(".notice-success", has_text="手机号已验证").wait_for()
    assert VerifiedPhone.objects.get(shop=shop, phone=PHONE).verified_at is not None
    assert merchant.locator("#test-phone-select option").all_inner_texts() == [PHONE]
    journey.check_both(merchant, "verified")

    merchant.locator("#send-test-form button[type=submit]").click()
    merchant.locator(".notice-success", has_text="测试短信已提交发送").wait_for()
    message = Message.objects.get(campaign=campaign, phone=PHONE)
    assert message.text == f"【花田小铺】{MARKETING_TEXT}拒收请回复R"
    assert message.text in merchant.inner_text("#test-messages")
    journey.check_both(merchant, "test-sent")
    journey.assert_console_clean()
