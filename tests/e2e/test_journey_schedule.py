"""Journey: schedule a campaign through its confirmation, refused once on stale figures, then
cancel it through its own confirmation. Every page at 1440x900 and 390x844.

The merchant runs the dry run, chooses 22:30: the confirmation says it really goes out at 08:00
the next day (quiet hours), with the recipients after suppression per reason, the parts and the
balance after, and when the capped customer may be sent to again. While she reads it, the shop's
balance changes (a grant); her confirmation is refused in Chinese, naming what changed, and the
new figures are shown. She confirms those: the campaign is scheduled for 08:00. Then she cancels
it: the cancellation says nothing was reserved or charged; the cancelled campaign shows no
progress bar, no dry run and no test SMS.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign, CampaignRun
from campaigns.services.campaigns import campaign_create
from campaigns.services.frequency import frequency_decide
from smsmarketing.services import account_grant
from tests.campaigns.campaign_fixtures import MARKETING_TEXT, import_customers, live_signature_for
from tests.factories import PASSWORD, make_active_account, make_reviewer, make_shop, make_user

JOURNEY = "schedule"

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONES = [f"1391234{i:04d}" for i in range(8)]


@pytest.fixture
def morning():
    """Today 10:00 in Asia/Shanghai, the clock ticking from there."""
    at = timezone.make_aware(datetime.combine(timezone.localdate(), time(10, 0)))
    with time_machine.travel(at, tick=True) as traveller:
        yield traveller


def test_it_schedules_through_the_confirmation_and_refuses_stale_figures(journey, morning):
    fay = make_user("fay")
    shop = make_shop("菲菲鲜花", owner=fay)
    make_active_account(shop, balance=300, user=fay)
    live_signature_for(shop, fay, make_reviewer("rita"), text="菲菲鲜花")
    import_customers(shop, [f"{p},顾客{i}" for i, p in enumerate(PHONES)], header="手机号,姓名")
    with transaction.atomic():  # this shop sent to the first customer today: FREQ-SHOP-2DAY
        frequency_decide(shop_id=shop.pk, message_class="marketing", phones=PHONES[:1], at=timezone.now())
    campaign = campaign_create(shop=shop, user=fay, kind="marketing", name="母亲节预售", text=MARKETING_TEXT)
    today = timezone.localdate()
    tomorrow, after = today + timedelta(days=1), today + timedelta(days=2)

    merchant = journey.open()
    journey.login(merchant, "fay", PASSWORD)
    journey.visit_both(merchant, f"/shop/{shop.pk}/campaigns/{campaign.pk}/", "draft")
    merchant.click("#dry-run button")
    merchant.locator("#dry-run-table").wait_for()
    assert merchant.inner_text("#dry-sendable") == "7"
    again = merchant.inner_text("#sendable-again")
    assert f"{after:%Y-%m-%d} 08:00" in again and "FREQ-SHOP-2DAY" in again
    journey.check_both(merchant, "dry-run")

    # 22:30 today: the confirmation says 08:00 tomorrow.
    merchant.check("#schedule input[value=at]")
    merchant.fill("#schedule input[name=at]", f"{today:%Y-%m-%d}T22:30")
    merchant.click("#schedule-check")
    merchant.locator("#schedule-confirm").wait_for()
    assert f"{tomorrow:%Y-%m-%d} 08:00" in merchant.inner_text("#confirm-send-at")
    assert "顺延" in merchant.inner_text("#confirm-send-at")
    assert merchant.inner_text("#confirm-sendable") == "7 人"
    assert merchant.inner_text("#confirm-balance-after") == "293 条"
    journey.check_both(merchant, "confirm")
    assert Campaign.objects.get(pk=campaign.pk).status == "draft"  # nothing happened yet

    # The figures go stale while she reads them: the confirmation is refused, the new ones shown.
    account_grant(shop_id=shop.pk, units=200, reason="活动赠送", actor=None)
    merchant.click("#confirm-schedule")
    merchant.locator(".notice-error", has_text="试算结果已变化").wait_for()
    assert "当前余量从 300 条变为 500 条" in merchant.inner_text(".notice-error")
    assert merchant.inner_text("#confirm-balance-after") == "493 条"
    assert Campaign.objects.get(pk=campaign.pk).status == "draft"
    assert not CampaignRun.objects.filter(campaign=campaign).exists()
    journey.check_both(merchant, "confirm-stale")

    merchant.click("#confirm-schedule")
    merchant.locator(".notice-success", has_text="将于").wait_for()
    campaign.refresh_from_db()
    assert campaign.status == "scheduled"
    assert f"将于 {tomorrow:%Y-%m-%d} 08:00 发送" in merchant.inner_text("#campaign-state")
    journey.check_both(merchant, "scheduled")
    journey.visit_both(merchant, f"/shop/{shop.pk}/campaigns/", "list")
    assert f"{tomorrow:%Y-%m-%d} 08:00" in merchant.inner_text("#campaign-list")

    # Cancelling says what it releases first.
    merchant.goto(f"/shop/{shop.pk}/campaigns/{campaign.pk}/")
    merchant.click("#cancel-campaign")
    merchant.locator("#release-confirm").wait_for()
    assert "没有冻结或扣除任何条数" in merchant.inner_text("#release-confirm")
    journey.check_both(merchant, "cancel-confirm")
    assert Campaign.objects.get(pk=campaign.pk).status == "scheduled"
    merchant.click("#confirm-release")
    merchant.locator(".notice-success", has_text="任务已取消").wait_for()
    assert Campaign.objects.get(pk=campaign.pk).status == "cancelled"
    assert merchant.locator("progress").count() == 0
    assert merchant.locator("#dry-run, #test-sms, #statistics, #cancel-campaign").count() == 0
    journey.check_both(merchant, "cancelled")
    journey.assert_console_clean()
