"""The campaign's page shows what fits each state: a cancelled campaign no progress bar and no
dry run or test SMS; a repurchase reminder its daily time, next run and last runs; a finished
campaign the signature and text it was sent with, even after a new signature is approved; the
CSV export marks the test SMS. Query counts of the page are bounded."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_q.models import Schedule

from campaigns.models import Campaign, CampaignRun, Message, VerifiedPhone
from campaigns.services.campaigns import campaign_create, campaign_send_test
from campaigns.services.scheduling import campaign_schedule_check, campaign_schedule_confirmed
from tests.campaigns.campaign_fixtures import MARKETING_TEXT, MORNING, SH, live_signature_for, phones

pytestmark = pytest.mark.django_db


def page(client, campaign) -> str:
    response = client.get(reverse("campaigns:detail", args=[campaign.shop_id, campaign.pk]))
    assert response.status_code == 200
    return response.content.decode()


def marketing(shop, user, name: str) -> Campaign:
    return campaign_create(shop=shop, user=user, kind="marketing", name=name, text=MARKETING_TEXT)


def sent_campaign(shop, user, django_capture_on_commit_callbacks) -> Campaign:
    """A marketing campaign confirmed and sent now (the pipeline runs synchronously)."""
    campaign = marketing(shop, user, "上新")
    check = campaign_schedule_check(campaign=campaign, at=None)
    with django_capture_on_commit_callbacks(execute=True):
        campaign_schedule_confirmed(campaign=campaign, user=user, at=None, figures=check.token)
    campaign.refresh_from_db()
    return campaign


def test_a_cancelled_campaign_shows_no_bar_no_dry_run_and_no_test_sms(client, alice, ready_shop):
    campaign = marketing(ready_shop, alice, "取消")
    Campaign.objects.filter(pk=campaign.pk).update(status="cancelled")
    client.force_login(alice)
    html = page(client, campaign)
    assert "任务已取消，没有向客户发送短信" in html
    for absent in ("<progress", "开始试算", 'id="test-sms"', "取消任务", 'id="statistics"', "100%"):
        assert absent not in html, absent
    progress = client.get(reverse("campaigns:progress", args=[ready_shop.pk, campaign.pk])).content.decode()
    assert "<progress" not in progress and "hx-trigger" not in progress and "任务已取消" in progress


def test_a_draft_offers_the_dry_run_the_schedule_and_the_test_sms(client, alice, ready_shop):
    campaign = marketing(ready_shop, alice, "草稿")
    client.force_login(alice)
    html = page(client, campaign)
    for present in ("开始试算", "试算并确认", 'id="test-sms"', 'id="cancel-campaign"'):
        assert present in html, present
    assert 'id="statistics"' not in html and "<progress" not in html


def test_a_running_repurchase_reminder_shows_its_daily_time_next_run_and_last_runs(client, alice, ready_shop):
    campaign = campaign_create(
        shop=ready_shop, user=alice, kind="repurchase", name="复购", text=MARKETING_TEXT,
        products=["T恤"], days_since_purchase=30,
    )  # fmt: skip
    chosen = datetime(2026, 6, 1, 22, 30, tzinfo=SH)
    schedule = Schedule.objects.create(
        name="x", func="campaigns.tasks.repurchase_daily", args=repr(campaign.pk),
        schedule_type=Schedule.DAILY, next_run=chosen + timedelta(days=1), repeats=-1,
    )  # fmt: skip
    Campaign.objects.filter(pk=campaign.pk).update(
        status="running", scheduled_at=chosen, started_at=chosen, q_schedule_id=schedule.pk
    )
    run = CampaignRun.objects.create(
        campaign=campaign, run_date=chosen.date(), status="finished", signature="爱丽丝服饰"
    )
    Message.objects.bulk_create(
        Message(campaign=campaign, run=run, shop=ready_shop, phone=p, status=s, parts=1)
        for p, s in zip(phones(4), ["delivered", "delivered", "failed", "suppressed"], strict=True)
    )
    client.force_login(alice)
    html = page(client, campaign)
    assert '每天 <strong id="daily-time">08:00</strong> 发送' in html  # 22:30 is in the quiet hours
    assert '下次执行：<strong id="next-run">2026-06-03 08:00</strong>' in html
    runs = html.split('id="daily-runs"')[1].split("</section>")[0]
    assert "2026-06-01" in runs and "【爱丽丝服饰】" in runs
    assert '<td class="num">3</td><td class="num">2</td><td class="num">1</td><td class="num">1</td>' in runs
    assert "<progress" not in html and "发送中 · " not in html
    assert 'id="stop-campaign"' in html and "开始试算" not in html


def test_a_finished_campaign_keeps_the_signature_it_was_sent_with(
    client, alice, ready_shop, reviewer, django_capture_on_commit_callbacks
):
    with time_machine.travel(MORNING, tick=False):
        campaign = sent_campaign(ready_shop, alice, django_capture_on_commit_callbacks)
    assert campaign.status == "completed"
    run = CampaignRun.objects.get(campaign=campaign, kind="audience")
    assert run.signature == "爱丽丝服饰"
    sent = Message.objects.filter(campaign=campaign).exclude(text="").values_list("text", flat=True)
    assert set(sent) == {f"【爱丽丝服饰】{MARKETING_TEXT}拒收请回复R"}
    live_signature_for(ready_shop, alice, reviewer, text="爱丽丝女装")  # a new one is approved
    client.force_login(alice)
    html = page(client, campaign)
    sent_text = f"【爱丽丝服饰】{MARKETING_TEXT}拒收请回复R</p>"
    assert f'<p class="sms-preview" id="sent-text" translate="no">{sent_text}' in html
    assert '发送签名<span translate="no">【爱丽丝服饰】</span>' in html and "爱丽丝女装" not in html


def test_the_export_marks_the_test_sms_so_it_agrees_with_the_statistics(
    client, alice, ready_shop, django_capture_on_commit_callbacks
):
    with time_machine.travel(MORNING, tick=False):
        VerifiedPhone.objects.create(shop=ready_shop, phone="13911112222", verified_at=MORNING)
        draft = marketing(ready_shop, alice, "上新")
        with django_capture_on_commit_callbacks(execute=True):
            campaign_send_test(campaign=draft, user=alice, phone="13911112222")
        check = campaign_schedule_check(campaign=draft, at=None)
        with django_capture_on_commit_callbacks(execute=True):
            campaign_schedule_confirmed(campaign=draft, user=alice, at=None, figures=check.token)
    client.force_login(alice)
    response = client.get(reverse("campaigns:export", args=[ready_shop.pk, draft.pk]))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0][:4] == ["短信ID", "类型", "手机号", "状态"]
    kinds = [row[1] for row in rows[1:]]
    assert kinds.count("测试短信") == 1 and kinds.count("正式发送") == 20
    test_row = next(row for row in rows[1:] if row[1] == "测试短信")
    assert test_row[2] == "13911112222"
    stats = client.get(reverse("campaigns:progress", args=[ready_shop.pk, draft.pk])).context["stats"]
    assert stats.total == kinds.count("正式发送")
    html = page(client, draft)
    assert "测试短信记录" in html and "测试短信不计入发送统计" in html


SIGNED = "爱丽丝服饰"
SENT = f"【{SIGNED}】你好拒收请回复R"


def completed_repurchase(shop, user, runs: int, per_run: int) -> Campaign:
    campaign = campaign_create(
        shop=shop, user=user, kind="repurchase", name="复购", text=MARKETING_TEXT,
        products=["T恤"], days_since_purchase=30,
    )  # fmt: skip
    Campaign.objects.filter(pk=campaign.pk).update(
        status="stopped", scheduled_at=MORNING, started_at=MORNING, finished_at=MORNING
    )
    for n in range(runs):
        day = MORNING.date() - timedelta(days=n)
        run = CampaignRun.objects.create(campaign=campaign, run_date=day, status="finished", signature=SIGNED)
        Message.objects.bulk_create(
            Message(campaign=campaign, run=run, shop=shop, phone=p, status="delivered", parts=1,
                    settlement="charged", sent_at=MORNING, final_at=MORNING, text=SENT)
            for p in phones(per_run)
        )  # fmt: skip
    VerifiedPhone.objects.get_or_create(shop=shop, phone="13999990000", defaults={"verified_at": MORNING})
    return Campaign.objects.get(pk=campaign.pk)


@pytest.mark.parametrize("kind", ["repurchase", "draft", "cancelled"])
def test_the_page_reads_the_same_number_of_queries_for_few_and_many_rows(client, alice, ready_shop, kind):
    client.force_login(alice)

    def count(campaign) -> int:
        page(client, campaign)  # warms what is kept
        with CaptureQueriesContext(connection) as captured:
            page(client, campaign)
        return len(captured)

    def make(n: int) -> Campaign:
        if kind == "repurchase":
            return completed_repurchase(ready_shop, alice, runs=n, per_run=n * 3)
        campaign = marketing(ready_shop, alice, "任务")
        for i in range(n):  # test SMS of the campaign
            run = CampaignRun.objects.create(campaign=campaign, kind="test", test_phone=phones(1, start=i)[0])
            Message.objects.create(campaign=campaign, run=run, shop=ready_shop, phone=run.test_phone, parts=1)
            VerifiedPhone.objects.get_or_create(
                shop=ready_shop, phone=run.test_phone, defaults={"verified_at": MORNING}
            )
        if kind == "cancelled":
            Campaign.objects.filter(pk=campaign.pk).update(status="cancelled")
        return Campaign.objects.get(pk=campaign.pk)

    few, many = count(make(1)), count(make(12))
    assert few == many
