"""Journey: spending limits (消费上限, docs/SPEND_LIMITS.md). Every page at 1440x900 and 390x844.

The owner opens 短信账户 and sets a daily cap of 3 parts; a monthly cap below the daily one is
refused first, in Chinese, with nothing saved. A campaign to 5 customers (one part each): the
dry run and the send confirmation show the cap's share (3 / 3 条) and the 2 customers held back
as 超出消费上限. She confirms; the run sends 3 and the campaign page says 已暂停（达到每日消费上限）
with 继续发送 for her (an operator sees the notice, no button). 继续发送 opens a confirmation with
the cap's use; with the cap used up it is refused in Chinese. She raises the cap on 短信账户 and
continues through the confirmation: all 5 customers are sent exactly once.

The clock is moved (time-machine, ticking) to 10:00 Shanghai time of today; the pipeline runs
synchronously (settings_test) and the simulated gateway answers every message delivered.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
import time_machine
from django.db.models import Count
from django.utils import timezone

from campaigns.models import Campaign, CampaignRun, Message
from campaigns.services.campaigns import campaign_create
from smsmarketing.models import Membership, SmsAccount
from tests.campaigns.campaign_fixtures import MARKETING_TEXT, import_customers, live_signature_for
from tests.factories import PASSWORD, make_active_account, make_reviewer, make_shop, make_user

JOURNEY = "spend_limits"

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONES = [f"1391234{i:04d}" for i in range(5)]


@pytest.fixture
def morning():
    at = timezone.make_aware(datetime.combine(timezone.localdate(), time(10, 0)))
    with time_machine.travel(at, tick=True) as traveller:
        yield traveller


@pytest.fixture
def quick_gateway(settings):
    settings.SMS_GATEWAY = {"BACKEND": "campaigns.gateways.simulated.SimulatedGateway", "OPTIONS": {}}
    settings.SMS_PIPELINE = {**settings.SMS_PIPELINE, "DISPATCH_RATE": 0}


def test_a_daily_cap_pauses_a_campaign_and_the_owner_raises_it_and_continues(journey, morning, quick_gateway):
    lan = make_user("lan")
    shop = make_shop("兰心茶舍", owner=lan)
    make_active_account(shop, balance=100, user=lan)
    live_signature_for(shop, lan, make_reviewer("rita"), text="兰心茶舍")
    import_customers(shop, [f"{p},顾客{i}" for i, p in enumerate(PHONES)], header="手机号,姓名")
    campaign = campaign_create(shop=shop, user=lan, kind="marketing", name="春茶上新", text=MARKETING_TEXT)
    tomorrow = timezone.localdate() + timedelta(days=1)

    # The owner opens 短信账户 from the menu: no caps yet, nothing used today.
    owner = journey.open()
    journey.login(owner, "lan", PASSWORD)
    owner.goto(f"/shop/{shop.pk}/")
    owner.click("#sidenav >> text=短信账户")
    owner.locator("#spend-limits").wait_for()
    assert "每日上限 不限" in owner.inner_text("#spend-daily")
    journey.check_both(owner, "account")

    # A monthly cap below the daily one is refused in Chinese; nothing is saved.
    owner.fill("#spend-limits input[name=daily]", "3")
    owner.fill("#spend-limits input[name=monthly]", "2")
    owner.click("#spend-limits-save")
    owner.locator("#spend-limits-errors", has_text="不能小于每日消费上限").wait_for()
    assert "每月消费上限（2 条）不能小于每日消费上限（3 条）" in owner.inner_text("#spend-limits-errors")
    # What she typed is kept, next to the reasons (inside the card, scrolled into view).
    assert owner.input_value("#spend-limits input[name=daily]") == "3"
    assert owner.input_value("#spend-limits input[name=monthly]") == "2"
    assert owner.locator("#spend-limits-errors").is_visible()
    assert owner.evaluate("document.getElementById('spend-limits-errors').getBoundingClientRect().top") >= 0
    account = SmsAccount.objects.get(shop=shop)
    assert (account.daily_spend_limit, account.monthly_spend_limit) == (None, None)
    journey.check_both(owner, "limits-refused")

    # A daily cap of 3 parts, no monthly cap.
    owner.fill("#spend-limits input[name=daily]", "3")
    owner.fill("#spend-limits input[name=monthly]", "")
    owner.click("#spend-limits-save")
    owner.locator(".notice-success", has_text="消费上限已保存").wait_for()
    account.refresh_from_db()
    assert (account.daily_spend_limit, account.monthly_spend_limit) == (3, None)
    assert "今日已用 0 条 / 每日上限 3 条" in owner.inner_text("#spend-daily")
    journey.check_both(owner, "limits-saved")

    # The dry run: the campaign would take the whole cap, 2 customers wait (超出消费上限).
    owner.goto(f"/shop/{shop.pk}/campaigns/{campaign.pk}/")
    journey.ready(owner)
    owner.click("#dry-run button")
    owner.locator("#dry-run-table").wait_for()
    assert "本任务预计占用今日上限 3 / 3 条" in owner.inner_text("#dry-spend-daily")
    held = owner.inner_text("#dry-spend-held")
    assert "可发送的 5 位客户中，2 位客户将超出消费上限" in held, held
    journey.check_both(owner, "dry-run")

    # The send confirmation says the same before anything happens.
    owner.click("#schedule-check")  # 立即发送 is the default
    owner.locator("#schedule-confirm").wait_for()
    assert owner.inner_text("#confirm-sendable") == "5 人"
    assert "3 / 3 条" in owner.inner_text("#dry-spend-daily")
    assert "2 位客户将超出消费上限" in owner.inner_text("#dry-spend-held")
    journey.check_both(owner, "confirm")
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.DRAFT
    assert not CampaignRun.objects.filter(campaign=campaign).exists()

    # She confirms: 3 go out, the run pauses at the cap; the page says so, with 继续发送.
    owner.click("#confirm-schedule")
    owner.locator(".notice-success", has_text="已开始发送").wait_for()
    run = CampaignRun.objects.get(campaign=campaign, kind="audience")
    assert (run.status, run.spend_paused) == (CampaignRun.Status.PAUSED, "day")
    assert Message.objects.filter(run=run).exclude(status=Message.Status.SUPPRESSED).count() == 3
    assert Message.objects.filter(run=run, reason="SPEND-LIMIT").count() == 2
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.RUNNING
    owner.reload()
    journey.ready(owner)
    paused = owner.inner_text("#spend-paused")
    assert "已暂停（达到每日消费上限）" in paused and f"{tomorrow:%Y-%m-%d} 00:00" in paused
    assert not owner.locator("#spend-resume").is_visible()  # behind its confirmation
    journey.check_both(owner, "paused")

    # 继续发送 opens a confirmation with the cap's use: used up, so continuing is refused.
    owner.click("#spend-resume-confirm > summary")
    assert "今日已用 3 条 / 每日上限 3 条" in owner.inner_text("#spend-resume-use")
    assert owner.locator("#spend-resume-blocked").is_visible()
    journey.check_both(owner, "resume-confirm-used-up")
    owner.click("#spend-resume")
    owner.locator(".notice-error", has_text="每日消费上限已用完").wait_for()
    run.refresh_from_db()
    assert run.spend_paused == "day"
    journey.check_both(owner, "resume-refused")

    # An operator sees the pause but no button (continuing spends: the owner's).
    yun = make_user("yun")
    Membership.objects.create(user=yun, shop=shop, role=Membership.Role.OPERATOR)
    operator = journey.open()
    journey.login(operator, "yun", PASSWORD)
    journey.visit_both(operator, f"/shop/{shop.pk}/campaigns/{campaign.pk}/", "paused-operator")
    assert "已暂停（达到每日消费上限）" in operator.inner_text("#spend-paused")
    assert operator.locator("#spend-resume").count() == 0
    assert "只有店主" in operator.inner_text("#spend-paused")

    # The owner raises the cap to 10 on 短信账户 (3 used today) and continues.
    owner.goto(f"/shop/{shop.pk}/account/")
    owner.fill("#spend-limits input[name=daily]", "10")
    owner.click("#spend-limits-save")
    owner.locator(".notice-success", has_text="消费上限已保存").wait_for()
    assert "今日已用 3 条 / 每日上限 10 条" in owner.inner_text("#spend-daily")
    journey.check_both(owner, "limits-raised")
    owner.goto(f"/shop/{shop.pk}/campaigns/{campaign.pk}/")
    owner.click("#spend-resume-confirm > summary")
    assert "今日已用 3 条 / 每日上限 10 条" in owner.inner_text("#spend-resume-use")
    assert "还可发送 7 条" in owner.inner_text("#spend-resume-confirm")
    journey.check_both(owner, "resume-confirm")
    owner.click("#spend-resume")
    owner.locator(".notice-success", has_text="已继续发送").wait_for()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    assert owner.locator("#spend-paused").count() == 0
    journey.check_both(owner, "resumed")

    # Everyone sent exactly once, nobody held back, the cap's use is the 5 parts.
    run.refresh_from_db()
    assert run.status == CampaignRun.Status.FINISHED and run.spend_paused == ""
    messages = Message.objects.filter(campaign=campaign)
    assert not messages.filter(status=Message.Status.SUPPRESSED).exists()
    per_phone = dict(messages.values_list("phone").annotate(n=Count("id")))
    assert per_phone == dict.fromkeys(PHONES, 1)
    assert set(messages.values_list("status", flat=True)) == {Message.Status.DELIVERED}
    owner.goto(f"/shop/{shop.pk}/account/")
    assert "今日已用 5 条 / 每日上限 10 条" in owner.inner_text("#spend-daily")
    journey.assert_console_clean()
