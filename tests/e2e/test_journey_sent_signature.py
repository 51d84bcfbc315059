"""Journey: a finished campaign keeps showing the signature it was sent with after the shop's new
signature is approved. Every page at 1440x900 and 390x844.

The merchant sends a campaign now through its confirmation (the pipeline runs synchronously in
the tests); its page shows the text as received, with 【朵朵花艺】. She submits a new signature,
the reviewer approves it in the admin; the campaign's page still shows what was sent, with
【朵朵花艺】, and the new signature nowhere; a new draft previews with the new one.
"""

from __future__ import annotations

from datetime import datetime, time

import pytest
import time_machine
from django.utils import timezone

from campaigns.models import Campaign, CampaignRun
from campaigns.services.campaigns import campaign_create
from reviews.services.signatures import signature_approve, signature_submit
from tests.campaigns.campaign_fixtures import MARKETING_TEXT, import_customers, live_signature_for
from tests.factories import PASSWORD, make_active_account, make_reviewer, make_shop, make_user

JOURNEY = "sent-signature"

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def morning():
    at = timezone.make_aware(datetime.combine(timezone.localdate(), time(10, 0)))
    with time_machine.travel(at, tick=True) as traveller:
        yield traveller


@pytest.fixture
def quick_gateway(settings):
    settings.SMS_GATEWAY = {"BACKEND": "campaigns.gateways.simulated.SimulatedGateway", "OPTIONS": {}}
    settings.SMS_PIPELINE = {**settings.SMS_PIPELINE, "DISPATCH_RATE": 0}


def test_a_finished_campaign_keeps_its_sent_signature(journey, morning, quick_gateway):
    gina = make_user("gina")
    shop = make_shop("朵朵花艺", owner=gina)
    rita = make_reviewer("rita")
    make_active_account(shop, balance=100, user=gina)
    live_signature_for(shop, gina, rita, text="朵朵花艺")
    import_customers(shop, [f"1391234{i:04d},顾客{i}" for i in range(5)], header="手机号,姓名")
    campaign = campaign_create(shop=shop, user=gina, kind="marketing", name="周末花束", text=MARKETING_TEXT)

    merchant = journey.open()
    journey.login(merchant, "gina", PASSWORD)
    merchant.goto(f"/shop/{shop.pk}/campaigns/{campaign.pk}/")
    merchant.click("#schedule-check")  # 立即发送 is the default
    merchant.locator("#schedule-confirm").wait_for()
    assert merchant.inner_text("#confirm-schedule") == "确认，立即发送 5 人"
    merchant.click("#confirm-schedule")
    merchant.locator(".notice-success", has_text="已开始发送").wait_for()
    campaign.refresh_from_db()
    assert campaign.status == "completed"
    assert CampaignRun.objects.get(campaign=campaign, kind="audience").signature == "朵朵花艺"
    merchant.reload()
    sent = f"【朵朵花艺】{MARKETING_TEXT}拒收请回复R"
    assert merchant.inner_text("#sent-text") == sent
    journey.check_both(merchant, "sent")

    # A new signature is submitted and approved.
    signature_approve(signature=signature_submit(shop=shop, text="朵朵花坊", by=gina), reviewer=rita)
    merchant.reload()
    assert merchant.inner_text("#sent-text") == sent
    assert "朵朵花坊" not in merchant.inner_text("main")
    assert "发送签名【朵朵花艺】" in merchant.inner_text("#campaign-state")
    journey.check_both(merchant, "sent-after-new-signature")

    # A new draft previews with the signature live now.
    draft = campaign_create(shop=shop, user=gina, kind="marketing", name="下周花束", text=MARKETING_TEXT)
    journey.visit_both(merchant, f"/shop/{shop.pk}/campaigns/{draft.pk}/", "new-draft")
    assert "【朵朵花坊】" in merchant.inner_text("#preview")
    assert Campaign.objects.filter(shop=shop).count() == 2
    journey.assert_console_clean()
