"""Campaign notices raised by the pipeline: a run finished (with its figures), stopped by a rule
(at planning or at dispatch), the balance exhausted while it sends; none for a test SMS. Once per
run and recipient (docs/NOTIFICATIONS.md, "Events"). The other events: tests/smsmarketing/
test_notification_events.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django_q.scheduler import scheduler

from campaigns.models import Campaign, CampaignRun, Message
from campaigns.services.campaigns import campaign_create, campaign_schedule
from campaigns.services.notices import campaign_finished_notify, campaign_finished_sweep, run_figures
from campaigns.services.planning import run_plan
from campaigns.services.sending import run_execute
from smsmarketing.models import MailDelivery, Notification, SmsAccount
from smsmarketing.services.notifications import notification_mail
from smsmarketing.services.spend_limits import account_set_spend_limits
from tests.campaigns.campaign_fixtures import (
    MARKETING_TEXT,
    MORNING,
    import_customers,
    live_signature_for,
    phones,
)
from tests.factories import make_active_account
from tests.smsmarketing.notice_helpers import make_team, notices, one_notice

pytestmark = pytest.mark.django_db

Kind = Notification.Kind


@pytest.fixture
def team(alice, alice_shop):
    return make_team(alice, alice_shop)

@pytest.fixture
def customers(alice_shop, team, reviewer, pipeline_settings):
    live_signature_for(alice_shop, team["alice"], reviewer)
    import_customers(alice_shop, [f"{p},客户{i},,T恤,2026-05-01 12:00,99" for i, p in enumerate(phones(20))])
    Notification.objects.all().delete()  # the signature's approval
    return alice_shop


def run_campaign(shop, user, capture, *, name="夏季上新") -> Campaign:
    with time_machine.travel(MORNING, tick=False):
        campaign = campaign_create(shop=shop, user=user, kind="marketing", name=name, text=MARKETING_TEXT)
        campaign_schedule(campaign=campaign, user=user, at=MORNING + timedelta(minutes=30))
    with time_machine.travel(MORNING + timedelta(minutes=31), tick=False), capture(execute=True):
        scheduler()
    campaign.refresh_from_db()
    return campaign


def test_it_tells_the_shop_a_campaign_finished_with_its_figures(
    customers, team, django_capture_on_commit_callbacks
):
    make_active_account(customers, balance=1000, user=team["alice"])
    SmsAccount.objects.filter(shop=customers).update(low_balance_threshold=0)
    campaign = run_campaign(customers, team["olga"], django_capture_on_commit_callbacks)
    assert campaign.status == Campaign.Status.COMPLETED
    run = campaign.runs.get()
    messages = Message.objects.filter(run=run)
    delivered = messages.filter(status="delivered").count()
    failed = messages.filter(status="failed").count()
    assert delivered and failed and delivered + failed == 20
    notice = one_notice(Kind.CAMPAIGN_FINISHED)
    assert notice.event_key == f"campaign_finished:{run.pk}"
    assert notice.title == f"营销任务「夏季上新」发送完成：成功 {delivered} 条"
    assert notice.body == (
        f"营销任务「夏季上新」已发送完毕：发送成功 {delivered} 条，发送失败 {failed} 条，"
        f"失败退还 {failed} 条余量（实际扣费 {delivered} 条）；归因订单 0 笔，成交金额 ¥0.00。"
    )
    assert notice.link == f"/shop/{customers.pk}/campaigns/{campaign.pk}/"
    mails = MailDelivery.objects.filter(notification__kind=Kind.CAMPAIGN_FINISHED).select_related(
        "notification"
    )
    assert sorted(m.to for m in mails) == ["alice@example.com", "olga@example.com"]
    mail = notification_mail(mails[0].notification, to=mails[0].to)
    assert mail.subject == f"【短信管理】营销任务「夏季上新」发送完成：成功 {delivered} 条"
    # Raised again for the same run (a retried finish): still one per recipient.
    assert campaign_finished_notify(campaign=campaign, run=run) == 0
    assert len(notices(Kind.CAMPAIGN_FINISHED)) == 2
    assert not notices(Kind.CAMPAIGN_STOPPED) and not notices(Kind.BALANCE_EXHAUSTED)


def test_a_test_sms_run_notifies_nobody(customers, team):
    make_active_account(customers, balance=1000, user=team["alice"])
    with time_machine.travel(MORNING, tick=False):
        campaign = campaign_create(
            shop=customers, user=team["alice"], kind="marketing", name="测试", text=MARKETING_TEXT
        )
        test = CampaignRun.Kind.TEST
        run = CampaignRun.objects.create(campaign=campaign, kind=test, test_phone=phones(1)[0])
        assert run_execute(run_id=run.pk) == "finished"
    assert Message.objects.filter(run=run).exclude(status="suppressed").count() == 1
    assert not Notification.objects.exists()


def test_it_tells_the_shop_when_the_balance_runs_out_while_a_campaign_sends(
    customers, team, django_capture_on_commit_callbacks
):
    make_active_account(customers, balance=5, user=team["alice"])
    campaign = run_campaign(customers, team["olga"], django_capture_on_commit_callbacks)
    run = campaign.runs.get()
    assert Message.objects.filter(run=run, reason="INSUFFICIENT-BALANCE").count() == 15
    notice = one_notice(Kind.BALANCE_EXHAUSTED, to=("alice",))
    assert notice.event_key == f"balance_exhausted:{run.pk}"
    assert notice.title == "短信余量不足，营销任务「夏季上新」部分客户未发送"
    assert "当前 0 条" in notice.body and "INSUFFICIENT-BALANCE" in notice.body
    # The same run's figures still come with its end; the low-balance crossing came with the reserve.
    assert len(notices(Kind.CAMPAIGN_FINISHED)) == 2
    assert not notices(Kind.BALANCE_LOW)


def test_it_tells_the_shop_a_campaign_was_stopped_when_the_shop_has_no_signature(
    alice_shop, team, pipeline_settings
):
    make_active_account(alice_shop, balance=1000, user=team["alice"])
    import_customers(alice_shop, [f"{p},客户,,T恤,2026-05-01 12:00,99" for p in phones(3)])
    with time_machine.travel(MORNING, tick=False):
        campaign = campaign_create(shop=alice_shop, user=team["alice"], kind="marketing", name="清仓",
                                   text=MARKETING_TEXT)  # fmt: skip
        # Scheduling refuses without a signature; a run whose signature went away since is the case.
        run = CampaignRun.objects.create(campaign=campaign)
        Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SCHEDULED)
        run_execute(run_id=run.pk)
    assert set(Message.objects.filter(run=run).values_list("reason", flat=True)) == {"NO-SIGNATURE"}
    notice = one_notice(Kind.CAMPAIGN_STOPPED)
    assert notice.event_key == f"campaign_stopped:{run.pk}"
    assert notice.title == "营销任务「清仓」已停止发送"
    assert notice.body == (
        "营销任务「清仓」因规则 NO-SIGNATURE 停止发送，剩余客户均未发送，未发送部分不扣费。"
        "原因：店铺当前没有审核通过的短信签名，请提交签名并等待审核通过后再发送。"
    )


def test_it_tells_the_shop_a_campaign_was_stopped_at_dispatch_when_the_shop_closed(customers, team):
    make_active_account(customers, balance=1000, user=team["alice"])
    with time_machine.travel(MORNING, tick=False):
        campaign = campaign_create(shop=customers, user=team["alice"], kind="marketing", name="清仓",
                                   text=MARKETING_TEXT)  # fmt: skip
        campaign_schedule(campaign=campaign, user=team["alice"])
        run = campaign.runs.get()
        # Planned while the shop was open; closed before dispatch.
        CampaignRun.objects.filter(pk=run.pk).update(status=CampaignRun.Status.PLANNING)
        run_plan(run_id=run.pk)
        assert Message.objects.filter(run=run, status="planned").count() == 20
        type(customers).objects.filter(pk=customers.pk).update(active=False)
        run_execute(run_id=run.pk)
    assert set(Message.objects.filter(run=run).values_list("reason", flat=True)) == {"SHOP-INACTIVE"}
    notice = one_notice(Kind.CAMPAIGN_STOPPED)
    assert notice.event_key == f"campaign_stopped:{run.pk}" and "SHOP-INACTIVE" in notice.body
    figures = run_figures(run_id=run.pk)
    assert (figures.dropped, figures.delivered) == (20, 0)


def test_the_finished_notice_waits_for_the_last_delivery_reports_and_their_settlement(
    customers, team, django_capture_on_commit_callbacks
):
    make_active_account(customers, balance=1000, user=team["alice"])
    SmsAccount.objects.filter(shop=customers).update(low_balance_threshold=0)
    with time_machine.travel(MORNING, tick=False):
        campaign = campaign_create(shop=customers, user=team["olga"], kind="marketing", name="夏季上新",
                                   text=MARKETING_TEXT)  # fmt: skip
        # The gateway's reports are queued on commit: held back here, as if they were still on the way.
        with django_capture_on_commit_callbacks() as reports:
            campaign_schedule(campaign=campaign, user=team["olga"])
            run = campaign.runs.get()
            assert run_execute(run_id=run.pk) == "finished"
        run.refresh_from_db()
        assert run.status == CampaignRun.Status.FINISHED
        assert Message.objects.filter(run=run, status="accepted").count() == 20
        assert not notices(Kind.CAMPAIGN_FINISHED)  # 20 outcomes still awaited
        assert campaign_finished_sweep() == 0
        for callback in reports:  # the reports arrive and are settled: now the figures are final
            callback()  # (the run's own task among them finds it finished and does nothing)
    notice = one_notice(Kind.CAMPAIGN_FINISHED)
    delivered = Message.objects.filter(run=run, status="delivered").count()
    assert notice.title == f"营销任务「夏季上新」发送完成：成功 {delivered} 条"
    assert "尚待运营商回执" not in notice.body
    assert campaign_finished_sweep() == 0  # the sweep finds it notified


def test_the_sweep_raises_the_notice_of_a_complete_run_that_has_none(
    customers, team, django_capture_on_commit_callbacks
):
    make_active_account(customers, balance=1000, user=team["alice"])
    campaign = run_campaign(customers, team["olga"], django_capture_on_commit_callbacks)
    run = campaign.runs.get()
    # As if the last two settlement batches had committed at once (each saw the other's pending).
    Notification.objects.filter(kind=Kind.CAMPAIGN_FINISHED).delete()
    assert campaign_finished_sweep(now=MORNING + timedelta(hours=1)) == 2
    assert one_notice(Kind.CAMPAIGN_FINISHED).event_key == f"campaign_finished:{run.pk}"
    assert campaign_finished_sweep(now=MORNING + timedelta(hours=1)) == 0
    Notification.objects.filter(kind=Kind.CAMPAIGN_FINISHED).delete()
    assert campaign_finished_sweep(now=MORNING + timedelta(days=5)) == 0  # outside its window


def test_it_tells_the_shop_a_spending_limit_paused_a_campaign(
    customers, team, django_capture_on_commit_callbacks
):
    make_active_account(customers, balance=1000, user=team["alice"])
    SmsAccount.objects.filter(shop=customers).update(low_balance_threshold=0)
    account_set_spend_limits(shop=customers, user=team["alice"], daily=10, monthly=None)
    campaign = run_campaign(customers, team["olga"], django_capture_on_commit_callbacks)
    run = campaign.runs.get()
    assert (run.status, run.spend_paused) == (CampaignRun.Status.PAUSED, "day")
    assert Message.objects.filter(run=run, reason="SPEND-LIMIT").count() == 10
    notice = one_notice(Kind.CAMPAIGN_PAUSED)
    assert notice.event_key == f"campaign_paused:{run.pk}:{run.spend_resume_at.isoformat()}"
    assert notice.title == "营销任务「夏季上新」已暂停：达到每日消费上限（10 条）"
    assert notice.body == (
        "营销任务「夏季上新」已达到店铺的每日消费上限（10 条），10 位客户暂未发送（SPEND-LIMIT），不扣费，"
        "将于 2026-06-02 00:00 自动继续发送；店主也可提高上限后在任务页点击“继续发送”。"
    )
    assert not notices(Kind.CAMPAIGN_FINISHED)  # paused is not finished
