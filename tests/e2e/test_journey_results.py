"""Journey: an A/B campaign with a holdout, from the editor to its results (issue 21).

The merchant writes a 短信营销 draft, sets a 20 % holdout, opens A/B 测试（可选）and writes 版本 B
(checked as she types), sends a test share of 50 %. The dry run and the confirmation say what goes
now (the test share), what goes later (the winner to the rest), at what cost, and how many are held
out. The clock is 10:00 Shanghai time (ticking), tasks run synchronously (settings_test), the
simulated gateway's reports are applied by the test. People tap links (a chat-app previewer too)
and orders arrive through the orders service (as the import and the API do); the campaign's page
shows the funnel, revenue, cost, ROI, the holdout comparison and the variants table, and she
picks the winner early through its confirmation. Every page at 1440x900 and 390x844.
"""

from __future__ import annotations

import csv
from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from campaigns.models import Campaign, CampaignRun, Customer, Message
from campaigns.results import campaign_results
from campaigns.services.links import link_follow
from campaigns.services.orders import orders_upsert
from campaigns.tasks import simulated_reports
from smsmarketing.models import RechargePackage
from smsmarketing.services.recharge import recharge_order_complete, recharge_order_create
from tests.campaigns.campaign_fixtures import live_signature_for
from tests.factories import PASSWORD, make_active_account, make_reviewer, make_shop, make_user

JOURNEY = "results"

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AUDIENCE = 120
TEXT_A = "夏季新品上架，全场满199元减20元，进店看看：${shop_link}"
TEXT_B = "夏日上新！满199元立减20元，限时三天，马上选购：${shop_link}"
PHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
PREVIEWER_UA = "WhatsApp/2.23.20.0 A"


@pytest.fixture
def morning():
    today = timezone.localdate()
    with time_machine.travel(timezone.make_aware(datetime.combine(today, time(10, 0))), tick=True) as clock:
        yield clock


@pytest.fixture
def gateway_without_reports(settings):
    settings.SMS_GATEWAY = {
        "BACKEND": "campaigns.gateways.simulated.SimulatedGateway",
        "OPTIONS": {"report": False},
    }
    settings.SMS_PIPELINE = {**settings.SMS_PIPELINE, "DISPATCH_RATE": 0}


def test_it_runs_an_ab_campaign_with_a_holdout_and_reads_its_results(
    journey, morning, gateway_without_reports
):
    fay = make_user("fay")
    shop = make_shop("菲菲美妆", owner=fay)
    make_active_account(shop, balance=2000, user=fay)
    package = RechargePackage.objects.create(name="千条", units=1000, price=Decimal("50.00"))
    paid = recharge_order_create(shop=shop, user=fay, package_id=package.pk)
    recharge_order_complete(order_no=paid.order_no, payment_reference="P1")
    live_signature_for(shop, fay, make_reviewer("rita"), text="菲菲美妆")
    numbers = [f"1390013{i:04d}" for i in range(AUDIENCE)]
    Customer.objects.bulk_create(Customer(shop=shop, phone=p, name=f"客户{i}") for i, p in enumerate(numbers))

    merchant = journey.open(accept_downloads=True)
    journey.login(merchant, "fay", PASSWORD)

    # The editor: the text, a 20 % holdout, then the A/B test (collapsed until opened).
    merchant.goto(f"/shop/{shop.pk}/campaigns/new/?kind=marketing")
    journey.ready(merchant)
    assert not merchant.locator("#field-variant_b").is_visible()
    merchant.fill("#id_name", "夏季上新 A/B")
    merchant.fill("#id_text", TEXT_A)
    merchant.locator("#id_text").press("End")  # the check beside the text runs on a key
    merchant.locator("#template-findings", has_text="未发现问题").wait_for()
    merchant.fill("#id_holdout_percent", "20")
    merchant.click("#ab-test > summary")
    merchant.check("#id_ab_enabled")
    merchant.locator("#id_variant_b").press_sequentially("全网最低价")
    merchant.locator("#check-variant_b .findings").wait_for()  # checked as typed, like the text
    journey.check_both(merchant, "editor-variant-finding")
    merchant.fill("#id_variant_b", TEXT_B)
    merchant.locator("#id_variant_b").press("End")
    merchant.locator("#check-variant_b", has_text="未发现问题").wait_for()
    merchant.fill("#id_ab_test_percent", "50")
    merchant.fill("#id_ab_test_hours", "4")
    journey.check_both(merchant, "editor-ab-test")
    merchant.click("#save-campaign")
    merchant.locator("#dry-run").wait_for()
    journey.ready(merchant)
    campaign = Campaign.objects.get(shop=shop)
    assert (campaign.holdout_percent, campaign.ab_test_percent) == (20, 50)
    assert list(campaign.variants.order_by("position").values_list("text", flat=True)) == [TEXT_A, TEXT_B]

    # The dry run: how many are held out, what goes now and what later, at what cost.
    merchant.click("#dry-run button")
    merchant.locator("#ab-plan").wait_for()
    held = int(merchant.inner_text("#dry-holdout"))
    assert 0 < held < AUDIENCE // 2
    assert "现在" in merchant.inner_text("#ab-plan-now")
    assert "4 小时后" in merchant.inner_text("#ab-plan-later")
    journey.check_both(merchant, "dry-run-ab")
    merchant.click("#schedule-check")
    merchant.locator("#schedule-confirm").wait_for()
    assert merchant.inner_text("#confirm-holdout").startswith(f"{held} 人")
    assert merchant.locator("#schedule-confirm #ab-plan").count() == 1
    journey.check_both(merchant, "schedule-confirm-ab")
    merchant.click("#confirm-schedule")
    merchant.get_by_text("已开始发送").first.wait_for()
    journey.ready(merchant)

    # The test run sent the test share; the gateway's reports arrive.
    campaign.refresh_from_db()
    assert campaign.status == "running"
    test_run = CampaignRun.objects.get(campaign=campaign, phase="ab_test")
    sent = list(
        Message.objects.filter(run=test_run, status="accepted").select_related("variant").order_by("id")
    )
    assert sent and Message.objects.filter(run=test_run, status="holdout").count() == held
    simulated_reports([[m.pk, "delivered"] for m in sent])

    # People tap the links (B more than A), a chat app previews one; orders arrive.
    by_variant = {name: [m for m in sent if m.variant.name == name] for name in "AB"}
    tapped = by_variant["A"][:2] + by_variant["B"][:6]
    for message in tapped:
        assert link_follow(code=message.link_code, method="GET", user_agent=PHONE_UA, client="10.0.0.1")
    preview = by_variant["A"][3].link_code
    assert link_follow(code=preview, method="GET", user_agent=PREVIEWER_UA, client="10.0.0.2")
    held_phone = Message.objects.filter(run=test_run, status="holdout").values_list("phone", flat=True)[0]
    placed = timezone.now() + timedelta(seconds=1)
    orders = [
        {"order_no": f"JD{n:04d}", "phone": m.phone, "amount": "199.00", "placed_at": placed}
        for n, m in enumerate(by_variant["B"][:3] + by_variant["A"][:1])
    ]
    orders.append({"order_no": "JD9999", "phone": held_phone, "amount": "99", "placed_at": placed})
    morning.shift(timedelta(seconds=2))
    report = orders_upsert(shop=shop, rows=orders)
    assert report.created == 5 and not report.rejected
    results = campaign_results(campaign=campaign)
    assert results.attributed_orders == 4 and results.unique_clicks == 8
    assert results.holdout_group.orders == 1

    # The campaign's page: the funnel, the money, the holdout comparison and the variants.
    merchant.goto(f"/shop/{shop.pk}/campaigns/{campaign.pk}/")
    journey.ready(merchant)
    merchant.locator("#results").wait_for()
    assert merchant.inner_text("#funnel-sent") == str(len(sent))
    assert merchant.inner_text("#funnel-clicked") == "8" and merchant.inner_text("#funnel-ordered") == "4"
    assert merchant.inner_text("#result-revenue") == "¥796.00"
    assert merchant.inner_text("#result-cost") == f"¥{results.cost_yuan}"
    assert merchant.inner_text("#result-roi").endswith("%")
    assert merchant.inner_text("#lift-verdict") == results.lift.verdict  # in plain Chinese
    assert "95% 置信区间" in merchant.inner_text("#lift")
    rows = merchant.locator("#ab-table tbody tr")
    assert rows.count() == 2 and "领先" in rows.nth(1).inner_text()
    assert "剩余" in merchant.inner_text("#ab-time-left")
    merchant.locator("#results").scroll_into_view_if_needed()
    journey.check_both(merchant, "results-running")

    # The exports: clicks (the previewer marked) and attributed orders, phones whole.
    with merchant.expect_download() as download:
        merchant.click("#export-clicks")
    clicks = list(csv.reader(open(download.value.path(), encoding="utf-8-sig")))
    assert len(clicks) == 1 + 9 and [r[5] for r in clicks[1:]].count("否") == 1
    with merchant.expect_download() as download:
        merchant.click("#export-orders")
    exported = list(csv.reader(open(download.value.path(), encoding="utf-8-sig")))
    assert sorted(r[0] for r in exported[1:]) == ["JD0000", "JD0001", "JD0002", "JD0003"]

    # She picks B early: the confirmation says to whom, how many and the cost; then B goes out.
    merchant.click("#pick-B")
    merchant.locator("#ab-pick-confirm").wait_for()
    assert "版本 B" in merchant.inner_text("#ab-pick-confirm h2")
    journey.check_both(merchant, "ab-pick-confirm")
    merchant.click("#confirm-ab-pick")
    merchant.get_by_text("已选择版本 B 为胜出版本").first.wait_for()
    journey.ready(merchant)
    winner_run = CampaignRun.objects.get(campaign=campaign, phase="ab_winner")
    rest = list(Message.objects.filter(run=winner_run, status="accepted"))
    assert rest and {m.variant.name for m in rest} == {"B"}
    assert not {m.phone for m in rest} & {m.phone for m in sent}  # never a second variant
    simulated_reports([[m.pk, "delivered"] for m in rest])
    merchant.reload()
    journey.ready(merchant)
    assert "胜出" in merchant.inner_text("#ab-state") and merchant.locator("#pick-A").count() == 0
    journey.check_both(merchant, "results-winner")

    # The list: revenue and ROI per campaign.
    journey.visit_both(merchant, f"/shop/{shop.pk}/campaigns/", "campaign-list")
    assert "¥796.00" in merchant.inner_text("#campaign-list")
    journey.assert_console_clean()
