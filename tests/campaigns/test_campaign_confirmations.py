"""Scheduling, cancelling and stopping a campaign are confirmed first: the confirmation states the
effect (recipients after suppression per reason, parts, balance after, the real send time, when
capped recipients become sendable again, what is released), and a schedule is refused when the
figures the merchant confirmed went stale."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, CampaignRun, Customer, FrequencyRule, Message
from campaigns.services.campaigns import CampaignInvalid, CampaignStateError, campaign_create
from campaigns.services.frequency import frequency_decide, ruleset_touch
from campaigns.services.scheduling import (
    CampaignFiguresStale,
    campaign_schedule_check,
    campaign_schedule_confirmed,
)
from smsmarketing.models import SmsAccount
from smsmarketing.services import account_grant
from tests.campaigns.campaign_fixtures import (
    MARKETING_TEXT,
    MORNING,
    SH,
    assert_ledger_clean,
    import_customers,
    live_signature_for,
    phones,
)
from tests.factories import make_active_account, make_shop

pytestmark = pytest.mark.django_db


def marketing(shop, user, name: str = "上新") -> Campaign:
    return campaign_create(shop=shop, user=user, kind="marketing", name=name, text=MARKETING_TEXT)


def confirmation(client, campaign, **query):
    response = client.get(reverse("campaigns:schedule", args=[campaign.shop_id, campaign.pk]), query)
    assert response.status_code == 200, response
    return response


def confirm(client, campaign, page, **changes):
    form = page.context["confirm_form"]
    data = {name: form.initial.get(name) or "" for name in ("when", "at", "figures")}
    data.update(changes)
    return client.post(reverse("campaigns:schedule", args=[campaign.shop_id, campaign.pk]), data, follow=True)


def test_it_sends_nothing_until_the_confirmation_is_posted(
    client, alice, ready_shop, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    with time_machine.travel(MORNING, tick=False):
        campaign = marketing(ready_shop, alice)
        page = confirmation(client, campaign, when="now")
        html = page.content.decode()
        assert Campaign.objects.get(pk=campaign.pk).status == "draft" and not CampaignRun.objects.exists()
        assert '<dd class="confirm-amount" id="confirm-sendable">20 人</dd>' in html
        assert "确认，立即发送 20 人" in html and "2026-06-01 10:00" in html
        assert page.context["dry"].balance_after == 1000 - 20
        with django_capture_on_commit_callbacks(execute=True):
            done = confirm(client, campaign, page)
    assert "已开始发送" in done.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == "completed"
    assert Message.objects.filter(campaign=campaign).count() == 20
    assert_ledger_clean()


def test_it_refuses_a_schedule_posted_without_a_confirmation(client, alice, ready_shop):
    client.force_login(alice)
    with time_machine.travel(MORNING, tick=False):
        campaign = marketing(ready_shop, alice)
        response = client.post(
            reverse("campaigns:schedule", args=[ready_shop.pk, campaign.pk]), {"when": "now"}, follow=True
        )
        forged = client.post(
            reverse("campaigns:schedule", args=[ready_shop.pk, campaign.pk]),
            {"when": "now", "figures": "forged"},
            follow=True,
        )
    assert "请先试算并确认" in response.content.decode()
    assert "确认信息已过期或无效" in forged.content.decode()
    assert Campaign.objects.get(pk=campaign.pk).status == "draft" and not CampaignRun.objects.exists()


def test_it_refuses_stale_figures_when_the_balance_changed_and_shows_the_new_ones(client, alice, ready_shop):
    client.force_login(alice)
    with time_machine.travel(MORNING, tick=False):
        campaign = marketing(ready_shop, alice)
        page = confirmation(client, campaign, when="now")
        account_grant(shop_id=ready_shop.pk, units=500, reason="测试发放", actor=None)
        refused = confirm(client, campaign, page)
    html = refused.content.decode()
    assert "试算结果已变化：当前余量从 1,000 条变为 1,500 条。请核对新的试算结果后再确认。" in html
    # Back on the confirmation, with the figures as they are now.
    assert refused.context["dry"].balance == 1500 and "confirm-schedule" in html
    assert Campaign.objects.get(pk=campaign.pk).status == "draft" and not CampaignRun.objects.exists()


def test_it_refuses_stale_figures_when_the_audience_changed(client, alice, ready_shop):
    client.force_login(alice)
    with time_machine.travel(MORNING, tick=False):
        campaign = marketing(ready_shop, alice)
        page = confirmation(client, campaign, when="now")
        import_customers(ready_shop, [f"{p},新客" for p in phones(3, start=100)], header="手机号,姓名")
        refused = confirm(client, campaign, page)
    html = refused.content.decode()
    assert "目标客户从 20 人变为 23 人" in html and "可发送从 20 人变为 23 人" in html
    assert "需要条数从 20 条变为 23 条" in html
    assert Campaign.objects.get(pk=campaign.pk).status == "draft"


def test_it_refuses_stale_figures_when_the_caps_changed(client, alice, ready_shop):
    client.force_login(alice)
    with time_machine.travel(MORNING, tick=False):
        campaign = marketing(ready_shop, alice)
        page = confirmation(client, campaign, when="now")
        rule = FrequencyRule.objects.get(ruleset__is_default=True, rule_id="FREQ-SHOP-2DAY")
        rule.limit = 2
        rule.save()
        ruleset_touch(ruleset_id=rule.ruleset_id)
        refused = confirm(client, campaign, page)
    assert "频次规则已更新" in refused.content.decode()
    assert Campaign.objects.get(pk=campaign.pk).status == "draft"


def test_it_says_a_2230_schedule_goes_out_at_0800_the_next_day(client, alice, ready_shop):
    client.force_login(alice)
    with time_machine.travel(MORNING, tick=False):
        campaign = marketing(ready_shop, alice)
        page = confirmation(client, campaign, when="at", at="2026-06-01T22:30")
        check = page.context["check"]
        assert check.deferred and check.send_at == datetime(2026, 6, 2, 8, 0, tzinfo=SH)
        html = page.content.decode()
        assert "2026-06-02 08:00" in html and "所选的 2026-06-01 22:30在免打扰时段" in html
        assert "确认，06-02 08:00 发送 20 人" in html
        done = confirm(client, campaign, page)
    assert "所选时间在免打扰时段，将于 2026-06-02 08:00 发送" in done.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == "scheduled" and campaign.scheduled_at == datetime(2026, 6, 1, 22, 30, tzinfo=SH)
    detail = client.get(reverse("campaigns:detail", args=[ready_shop.pk, campaign.pk])).content.decode()
    assert '将于 <strong id="send-at">2026-06-02 08:00</strong> 发送' in detail
    listing = client.get(reverse("campaigns:list", args=[ready_shop.pk])).content.decode()
    assert "2026-06-02 08:00" in listing and "22:30" not in listing


def test_it_says_when_capped_recipients_become_sendable_again(client, alice, ready_shop):
    """FREQ-SHOP-2DAY counts today and yesterday: a phone this shop sent to today may get its next
    marketing message the day after tomorrow (08:00, the window's opening); one sent to yesterday,
    tomorrow. FREQ-PLATFORM-DAY (three today from other shops): tomorrow."""
    today, yesterday, platform = phones(3)
    with time_machine.travel(MORNING, tick=False), transaction.atomic():
        frequency_decide(shop_id=ready_shop.pk, message_class="marketing", phones=[today], at=MORNING)
        day_before = MORNING - timedelta(days=1)
        frequency_decide(shop_id=ready_shop.pk, message_class="marketing", phones=[yesterday], at=day_before)
        for n in range(3):
            other = make_shop(f"别家店铺{n}")
            frequency_decide(shop_id=other.pk, message_class="marketing", phones=[platform], at=MORNING)
    client.force_login(alice)
    with time_machine.travel(MORNING, tick=False):
        campaign = marketing(ready_shop, alice)
        dry = client.get(reverse("campaigns:dry_run", args=[ready_shop.pk, campaign.pk]))
        page = confirmation(client, campaign, when="now")
    again = [(a.reason, a.at, a.count) for a in page.context["sendable_again"]]
    assert again == [
        ("FREQ-PLATFORM-DAY", datetime(2026, 6, 2, 8, 0, tzinfo=SH), 1),
        ("FREQ-SHOP-2DAY", datetime(2026, 6, 2, 8, 0, tzinfo=SH), 1),
        ("FREQ-SHOP-2DAY", datetime(2026, 6, 3, 8, 0, tzinfo=SH), 1),
    ]
    for html in (dry.content.decode(), page.content.decode()):
        assert "<strong>2026-06-03 08:00</strong> 起可再次发送" in html
        assert "本店两日内已发过营销短信（<code>FREQ-SHOP-2DAY</code>）的 <strong>1</strong> 人" in html
    assert page.context["dry"].sendable == 17


def test_it_offers_no_confirmation_when_nobody_can_be_sent_to(client, alice, alice_shop, reviewer):
    make_active_account(alice_shop, balance=10, user=alice)
    live_signature_for(alice_shop, alice, reviewer)
    import_customers(alice_shop, ["13800138000,张三"], header="手机号,姓名")
    with time_machine.travel(MORNING, tick=False), transaction.atomic():
        frequency_decide(shop_id=alice_shop.pk, message_class="marketing", phones=["13800138000"], at=MORNING)
    client.force_login(alice)
    with time_machine.travel(MORNING, tick=False):
        campaign = marketing(alice_shop, alice)
        page = confirmation(client, campaign, when="now")
        html = page.content.decode()
        assert "confirm-schedule" not in html and "没有可发送的客户" in html
        assert "请选择 2026-06-03 08:00 之后的时间再试" in html
        with pytest.raises(CampaignInvalid) as refused:
            campaign_schedule_confirmed(
                campaign=campaign, user=alice, at=None, figures=page.context["check"].token
            )
    assert "没有可发送的客户" in refused.value.message
    assert Campaign.objects.get(pk=campaign.pk).status == "draft"


def test_the_confirmation_refuses_what_scheduling_refuses(client, alice, ready_shop):
    client.force_login(alice)
    with time_machine.travel(MORNING, tick=False):
        campaign = marketing(ready_shop, alice)
        for at in ("2026-05-31T10:00", "2999-01-01T10:00", "x"):
            page = client.get(
                reverse("campaigns:schedule", args=[ready_shop.pk, campaign.pk]), {"when": "at", "at": at},
                follow=True,
            )
            assert "notice-error" in page.content.decode()
        SmsAccount.objects.filter(shop=ready_shop).update(status=SmsAccount.Status.INACTIVE)
        page = client.get(reverse("campaigns:schedule", args=[ready_shop.pk, campaign.pk]), {"when": "now"},
                          follow=True)  # fmt: skip
    assert "短信服务尚未开通" in page.content.decode()
    assert not CampaignRun.objects.exists()


def test_the_same_confirmation_schedules_once(alice, ready_shop):
    with time_machine.travel(MORNING, tick=False):
        campaign = marketing(ready_shop, alice)
        check = campaign_schedule_check(campaign=campaign, at=MORNING + timedelta(hours=1))
        campaign_schedule_confirmed(campaign=campaign, user=alice, at=MORNING + timedelta(hours=1),
                                    figures=check.token)  # fmt: skip
        with pytest.raises(CampaignStateError) as again:
            campaign_schedule_confirmed(campaign=campaign, user=alice, at=MORNING + timedelta(hours=1),
                                        figures=check.token)  # fmt: skip
    assert "只有草稿状态的任务可以排期" in again.value.message
    assert CampaignRun.objects.filter(campaign=campaign).count() == 1


def test_a_confirmation_of_another_campaign_is_refused(alice, ready_shop):
    with time_machine.travel(MORNING, tick=False):
        first, second = marketing(ready_shop, alice, "一"), marketing(ready_shop, alice, "二")
        token = campaign_schedule_check(campaign=first, at=None).token
        with pytest.raises(CampaignFiguresStale):
            campaign_schedule_confirmed(campaign=second, user=alice, at=None, figures=token)
    assert Campaign.objects.get(pk=second.pk).status == "draft"


def test_the_confirmation_page_reads_the_same_number_of_queries_for_few_and_many_customers(
    client, alice, ready_shop
):
    client.force_login(alice)

    def queries() -> int:
        with time_machine.travel(MORNING, tick=False):
            campaign = marketing(ready_shop, alice)
            with CaptureQueriesContext(connection) as captured:
                confirmation(client, campaign, when="now")
        return len(captured)

    few = queries()
    import_customers(ready_shop, [f"{p},客户" for p in phones(300, start=1000)], header="手机号,姓名")
    assert Customer.objects.filter(shop=ready_shop).count() == 320
    assert queries() == few


# --- cancel and stop -----------------------------------------------------------------


def test_cancelling_shows_what_it_releases_then_cancels_on_the_post(client, alice, ready_shop):
    client.force_login(alice)
    with time_machine.travel(MORNING, tick=False):
        campaign = marketing(ready_shop, alice)
        page = confirmation(client, campaign, when="at", at="2026-06-01T22:30")
        confirm(client, campaign, page)
        url = reverse("campaigns:cancel", args=[ready_shop.pk, campaign.pk])
        shown = client.get(url)
        html = shown.content.decode()
        assert Campaign.objects.get(pk=campaign.pk).status == "scheduled"  # a GET changes nothing
        assert "2026-06-02 08:00" in html and "没有冻结或扣除任何条数" in html and "确认取消任务" in html
        assert shown.context["release"].reserved_parts == 0
        done = client.post(url, follow=True)
    assert "任务已取消" in done.content.decode()
    assert Campaign.objects.get(pk=campaign.pk).status == "cancelled"
    assert not CampaignRun.objects.filter(campaign=campaign, status="pending").exists()


def test_stopping_a_repurchase_reminder_says_what_is_still_sent(client, alice, ready_shop):
    client.force_login(alice)
    with time_machine.travel(MORNING, tick=False):
        campaign = campaign_create(
            shop=ready_shop, user=alice, kind="repurchase", name="复购", text=MARKETING_TEXT,
            products=["T恤"], days_since_purchase=30,
        )  # fmt: skip
        campaign.status, campaign.scheduled_at = "running", MORNING
        campaign.save()
        run = CampaignRun.objects.create(campaign=campaign, run_date=MORNING.date(), status="dispatching")
        Message.objects.bulk_create(
            Message(campaign=campaign, run=run, shop=ready_shop, phone=p, status="planned", parts=1,
                    settlement="pending")
            for p in phones(3)
        )  # fmt: skip
        url = reverse("campaigns:stop", args=[ready_shop.pk, campaign.pk])
        shown = client.get(url)
        assert "3 条待发短信会照常发完" in shown.content.decode()
        assert shown.context["release"].reserved_parts == 3
        client.post(url)
    assert Campaign.objects.get(pk=campaign.pk).status == "stopped"


def test_a_started_campaign_offers_no_cancel_page(client, alice, ready_shop):
    client.force_login(alice)
    campaign = marketing(ready_shop, alice)
    Campaign.objects.filter(pk=campaign.pk).update(status="running", started_at=timezone.now())
    response = client.get(reverse("campaigns:cancel", args=[ready_shop.pk, campaign.pk]), follow=True)
    assert "任务已开始发送，不能取消" in response.content.decode()


def test_the_cancel_confirmation_reads_the_same_number_of_queries_for_few_and_many_rows(
    client, alice, ready_shop
):
    client.force_login(alice)

    def queries(tests: int) -> int:
        campaign = marketing(ready_shop, alice)
        for i in range(tests):
            run = CampaignRun.objects.create(campaign=campaign, kind="test", test_phone=phones(1, start=i)[0])
            Message.objects.create(campaign=campaign, run=run, shop=ready_shop, phone=run.test_phone, parts=1)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(reverse("campaigns:cancel", args=[ready_shop.pk, campaign.pk]))
        assert response.status_code == 200 and response.context["release"].test_runs == tests
        return len(captured)

    assert queries(1) == queries(15)


def test_a_repurchase_reminder_is_confirmed_as_a_daily_send(client, alice, ready_shop):
    client.force_login(alice)
    with time_machine.travel(MORNING, tick=False):
        campaign = campaign_create(
            shop=ready_shop, user=alice, kind="repurchase", name="复购", text=MARKETING_TEXT,
            products=["T恤"], days_since_purchase=30,
        )  # fmt: skip
        page = confirmation(client, campaign, when="at", at="2026-06-01T22:30")
        html = page.content.decode()
        assert "请确认每日提醒" in html and "每天一次，直到您停止" in html and "确认，每天发送" in html
        done = confirm(client, campaign, page)
        assert "已排期：每天执行，首次在 2026-06-02 08:00 发送" in done.content.decode()
        detail = client.get(reverse("campaigns:detail", args=[ready_shop.pk, campaign.pk])).content.decode()
    campaign.refresh_from_db()
    assert campaign.status == "scheduled" and campaign.q_schedule_id
    assert '每天 <strong id="daily-time">08:00</strong> 发送' in detail
    assert "等待首次执行（2026-06-02 08:00）" in detail and 'id="stop-campaign"' in detail
