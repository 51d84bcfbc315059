"""Journey 3: import customers, build a segment, run a targeted-coupon campaign and read its statistics.

The clock is moved (time-machine, ticking) to 10:00 Shanghai time of the current day, inside
the marketing window, for the whole process: the live server's threads see it too. The
django-q2 cluster is played by the test: tasks run synchronously (settings_test), the
scheduler is called once the scheduled time has passed, and the simulated gateway's delivery
reports are applied in two batches, so the merchant's progress bar moves 0% → 50% → 100%
in front of the browser.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, time, timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.scheduler import scheduler

from campaigns.models import Campaign, Customer, Message, Segment
from campaigns.services.frequency import frequency_decide
from campaigns.services.optouts import optout_record
from campaigns.tasks import simulated_reports
from tests.campaigns.campaign_fixtures import live_signature_for
from tests.e2e.conftest import LAPTOP, SMALL_LAPTOP
from tests.factories import PASSWORD, make_active_account, make_reviewer, make_shop, make_user

JOURNEY = "campaign"

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

VIP = [f"1391234{i:04d}" for i in range(6)]
OTHERS = ["13912340100", "13912340101"]
OPTED_OUT, CAPPED = VIP[0], VIP[1]


@pytest.fixture
def morning():
    """Today 10:00 in Asia/Shanghai, the clock ticking from there."""
    today = timezone.localdate()
    at = timezone.make_aware(datetime.combine(today, time(10, 0)))
    with time_machine.travel(at, tick=True) as traveller:
        yield traveller


@pytest.fixture
def gateway_without_reports(settings):
    """The simulated gateway accepts every message and leaves the reports to the test."""
    settings.SMS_GATEWAY = {
        "BACKEND": "campaigns.gateways.simulated.SimulatedGateway",
        "OPTIONS": {"report": False},
    }
    settings.SMS_PIPELINE = {**settings.SMS_PIPELINE, "DISPATCH_RATE": 0}


def customers_csv(now: datetime) -> bytes:
    day = (now - timedelta(days=3)).strftime("%Y-%m-%d %H:%M")
    rows = [["手机号", "姓名", "标签", "商品", "购买时间", "金额"]]
    rows += [[p, f"会员{i}", "VIP", "香薰蜡烛", day, "129.00"] for i, p in enumerate(VIP)]
    rows += [[p, f"顾客{i}", "", "抱枕", day, "59"] for i, p in enumerate(OTHERS)]
    rows += [
        ["12345", "坏号码", "", "", "", ""],  # BAD-PHONE
        ["13912349999", "坏日期", "VIP", "香薰蜡烛", "2024-13-45", "10"],  # BAD-DATE
        ["13912349998", "坏金额", "VIP", "香薰蜡烛", day, "十元"],  # BAD-AMOUNT
    ]
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode("utf-8")


def test_it_runs_a_targeted_coupon_campaign_from_import_to_export(
    journey, morning, gateway_without_reports, tmp_path
):
    dora = make_user("dora")
    shop = make_shop("朵拉家居", owner=dora)
    rita = make_reviewer("rita")
    make_active_account(shop, balance=1000, user=dora)
    live_signature_for(shop, dora, rita, text="朵拉家居")
    # One VIP replied 退订 earlier; another already got today's three marketing messages
    # from three other shops (the platform-wide daily cap).
    optout_record(shop_id=shop.pk, phone=OPTED_OUT, keyword="TD", source="sms_reply")
    for n in range(3):
        other = make_shop(f"别家店铺{n}")
        with transaction.atomic():
            decision = frequency_decide(
                shop_id=other.pk, message_class="marketing", phones=[CAPPED], at=timezone.now()
            )
        assert decision[0].allowed

    merchant = journey.open(accept_downloads=True)
    journey.login(merchant, "dora", PASSWORD)

    # Import: preview marks the bad rows, the report lists why each was refused.
    journey.visit_both(merchant, f"/shop/{shop.pk}/customers/", "customers-empty")
    upload = tmp_path / "会员名单.csv"
    upload.write_bytes(customers_csv(timezone.localtime()))
    merchant.set_input_files("#import input[type=file]", str(upload))
    merchant.click("#import button[type=submit]")
    merchant.locator("#preview").wait_for()
    assert merchant.locator("#preview tr.row-error").count() == 3
    journey.check_both(merchant, "import-preview")
    merchant.click("#import-confirm button[type=submit]")
    merchant.locator("#import-report").wait_for()
    report = merchant.inner_text("#import-report")
    assert "成功导入 8 行" in report.replace(" ", "") or "成功导入 8 行" in report
    for reason in ("BAD-PHONE", "BAD-DATE", "BAD-AMOUNT"):
        assert reason in report
    assert Customer.objects.filter(shop=shop).count() == 8
    journey.check_both(merchant, "import-report")

    # A segment of the VIPs, with its live count.
    merchant.goto(f"/shop/{shop.pk}/segments/")
    merchant.fill("#id_name", "VIP 会员")
    merchant.fill("#id_tags_any", "VIP")
    merchant.locator("#live-count", has_text="6 位").wait_for()
    journey.check_both(merchant, "segment-count")
    merchant.click("#segment-form button[type=submit]")
    merchant.get_by_text("人群已保存").wait_for()
    segment = Segment.objects.get(shop=shop)
    assert segment.tags_any == ["VIP"]

    # A coupon, then the campaign with an official template.
    now = timezone.localtime()
    merchant.goto(f"/shop/{shop.pk}/coupons/")
    merchant.fill("#id_name", "会员专享券")
    merchant.fill("#id_amount", "20")
    merchant.fill("#id_threshold", "199")
    merchant.fill("#id_valid_from", now.strftime("%Y-%m-%dT%H:%M"))
    merchant.fill("#id_valid_until", (now + timedelta(days=14)).strftime("%Y-%m-%dT%H:%M"))
    # Forgetting the quantity: the error sits under that field, everything typed is kept.
    merchant.click("main form button[type=submit]")
    merchant.locator("#field-total_count .errorlist").wait_for()
    assert merchant.input_value("#id_name") == "会员专享券" and merchant.input_value("#id_amount") == "20"
    journey.check_both(merchant, "coupon-form-error")
    merchant.fill("#id_total_count", "100")
    merchant.click("main form button[type=submit]")
    merchant.get_by_text("优惠券已创建").wait_for()
    assert "¥20.00" in merchant.inner_text("#coupon-list")
    journey.check_both(merchant, "coupons")

    merchant.goto(f"/shop/{shop.pk}/campaigns/new/?kind=coupon")
    merchant.fill("#id_name", "会员日领券")
    merchant.select_option("#id_segment", label="VIP 会员")
    merchant.select_option("#id_template", label=merchant.locator("#id_template option").nth(1).inner_text())
    merchant.select_option("#id_coupon", index=1)
    journey.check_both(merchant, "campaign-new")
    merchant.click("main form button[type=submit]")
    merchant.locator("#dry-run").wait_for()
    journey.ready(merchant)
    campaign = Campaign.objects.get(shop=shop)
    assert campaign.kind == "coupon" and campaign.segment == segment
    assert "【朵拉家居】" in merchant.inner_text("#preview")
    journey.check_both(merchant, "campaign-draft")

    # The dry run: 6 VIPs, one opted out, one over the platform's daily cap.
    merchant.click("#dry-run button")
    merchant.locator("#dry-run-table").wait_for()
    assert merchant.inner_text("#dry-sendable") == "4"
    for reason in ("OPTED-OUT", "FREQ-PLATFORM-DAY"):
        assert merchant.locator(f"#dry-run-table tr[data-reason={reason}] td.num").inner_text() == "1"
    journey.check_both(merchant, "dry-run")

    # Schedule it ten minutes from now: the confirmation first (the dry run at that time).
    at = timezone.localtime() + timedelta(minutes=10)
    merchant.check("#schedule input[value=at]")
    merchant.fill("#schedule input[name=at]", at.strftime("%Y-%m-%dT%H:%M"))
    merchant.click("#schedule button[type=submit]")
    merchant.locator("#schedule-confirm").wait_for()
    assert merchant.inner_text("#confirm-sendable") == "4 人"
    assert at.strftime("%Y-%m-%d %H:%M") in merchant.inner_text("#confirm-send-at")
    assert Campaign.objects.get(pk=campaign.pk).status == "draft"
    journey.check_both(merchant, "schedule-confirm")
    merchant.click("#confirm-schedule")
    merchant.get_by_text("已排期").first.wait_for()
    journey.ready(merchant)
    campaign.refresh_from_db()
    assert campaign.status == "scheduled"
    merchant.locator("#progress-box[data-status=scheduled]").wait_for()
    journey.check_both(merchant, "scheduled")

    # The scheduled time passes; the cluster's scheduler starts the run, which hands the
    # messages to the gateway. The page (polling) shows them sent, waiting for reports.
    morning.shift(timedelta(minutes=11))
    scheduler(broker=get_broker())
    sent = list(Message.objects.filter(campaign=campaign, status="accepted").order_by("id"))
    assert len(sent) == 4
    merchant.locator("#progress-box[data-status=completed]").wait_for()
    assert merchant.inner_text("#progress-percent") == "0%"
    assert "等待运营商回执" in merchant.inner_text("#progress-text")
    # The header's status and the actions follow without a reload (htmx out-of-band).
    assert merchant.inner_text("#campaign-status") == "已完成"
    assert merchant.locator("#campaign-actions a, #campaign-actions button").count() == 0
    journey.shot(merchant, "progress-sent")

    simulated_reports([[m.pk, "delivered"] for m in sent[:2]])
    merchant.locator("#progress-percent", has_text="50%").wait_for()
    journey.shot(merchant, "progress-half")
    simulated_reports([[sent[2].pk, "delivered"], [sent[3].pk, "failed"]])
    merchant.locator("#progress-percent", has_text="100%").wait_for()
    assert merchant.locator("#progress-box[hx-trigger]").count() == 0  # polling stopped

    # Statistics and the chart (after a reload the hourly chart has data).
    merchant.reload()
    assert merchant.inner_text("#stat-delivered") == "3" and merchant.inner_text("#stat-failed") == "1"
    merchant.locator("#timeline[data-drawn=true]").wait_for()
    merchant.locator("canvas.outcome-chart[data-drawn=true]").wait_for()
    reasons = merchant.inner_text("#suppressed-reasons")
    assert "客户已退订" in reasons and "超过全平台每日营销短信上限" in reasons
    journey.check_both(merchant, "statistics")
    merchant.set_viewport_size(SMALL_LAPTOP)  # the smaller laptop screen
    merchant.wait_for_timeout(500)  # Chart.js resizes its canvases on the next frames
    journey.shot(merchant, "statistics-1280x800")
    merchant.set_viewport_size(LAPTOP)

    # The export: one row per recipient, suppressed ones with their reason, each marked 正式发送.
    with merchant.expect_download() as download:
        merchant.click("#export-csv")
    path = download.value.path()
    rows = list(csv.reader(open(path, encoding="utf-8-sig")))
    assert rows[0][:4] == ["短信ID", "类型", "手机号", "状态"] and len(rows) == 1 + 6
    assert {r[1] for r in rows[1:]} == {"正式发送"}
    assert {r[4] for r in rows[1:] if r[4]} == {"OPTED-OUT", "FREQ-PLATFORM-DAY", "DLR-FAILED"}

    journey.visit_both(merchant, f"/shop/{shop.pk}/campaigns/", "campaign-list")
    merchant.goto(f"/shop/{shop.pk}/account/")
    merchant.locator("#balance-chart[data-drawn=true]").wait_for()
    journey.check_both(merchant, "account-after-campaign")
    journey.assert_console_clean()
