"""The merchant's pages of issue 21: the editor's 对照组 and A/B test, the dry run and the
confirmation saying what is sent now and later, the results on the campaign's page (funnel,
revenue, cost, ROI, the holdout comparison, the A/B table and the early pick), revenue and ROI
on the campaign list, and the CSV exports of clicks and attributed orders."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns import results as results_module
from campaigns.models import Campaign, CampaignRun, CampaignVariant, Message
from campaigns.models.links import Click
from campaigns.models.orders import Order
from campaigns.services.campaigns import campaign_create, campaign_dry_run
from campaigns.services.variants import VariantInput, campaign_holdout_set, campaign_variants_set
from smsmarketing.models import RechargePackage
from smsmarketing.services.recharge import recharge_order_complete, recharge_order_create
from tests.campaigns.campaign_fixtures import MARKETING_TEXT, phones
from tests.factories import PASSWORD, make_approved_template, make_coupon, official_template

pytestmark = pytest.mark.django_db

TEXT_B = "夏日上新！满199元立减20元，限时三天，欢迎选购。"
LIST_QUERY_BOUND = 12  # the campaign list: session, user, shop, the page, its count, progress, money, price
QUERY_BOUND = 26  # the campaign's page with its results (22 measured): bounded, whatever the audience size


def login(client, user):
    assert client.login(request=HttpRequest(), username=user.username, password=PASSWORD)


def new_marketing(client, shop, **fields):
    data = {"name": "夏季上新", "text": MARKETING_TEXT, "holdout_percent": "10", **fields}
    return client.post(reverse("campaigns:new", args=[shop.pk]) + "?kind=marketing", data)


def test_it_shows_the_holdout_and_a_collapsed_ab_test_on_a_new_marketing_campaign(client, alice, ready_shop):
    login(client, alice)
    html = client.get(reverse("campaigns:new", args=[ready_shop.pk]) + "?kind=marketing").content.decode()
    assert "对照组比例(%)" in html and 'name="holdout_percent"' in html and 'value="0"' in html
    assert "对照组客户收不到短信，也不扣费" in html
    assert '<details class="ab-test" id="ab-test">' in html  # collapsed by default
    assert "A/B 测试（可选）" in html and 'name="variant_b"' in html and 'name="ab_test_percent"' in html
    assert "独立点击率" in html and "归因下单率" in html


def test_it_saves_the_holdout_and_the_variants_with_the_campaign(client, alice, ready_shop):
    login(client, alice)
    response = new_marketing(
        client, ready_shop, ab_enabled="on", variant_b=TEXT_B, ab_test_percent="30", ab_test_hours="6",
        ab_metric="orders",
    )  # fmt: skip
    assert response.status_code == 302
    campaign = Campaign.objects.get(shop=ready_shop)
    assert (campaign.holdout_percent, campaign.ab_test_percent) == (10, 30)
    assert (campaign.ab_test_hours, campaign.ab_metric) == (6, "orders")
    variants = list(campaign.variants.order_by("position").values_list("name", "text"))
    assert variants == [("A", MARKETING_TEXT), ("B", TEXT_B)]

    # Editing the draft shows them again; unticking the test removes the variants.
    url = reverse("campaigns:edit", args=[ready_shop.pk, campaign.pk])
    html = client.get(url).content.decode()
    assert '<details class="ab-test" id="ab-test" open>' in html and TEXT_B in html
    response = client.post(url, {"name": "夏季上新", "text": MARKETING_TEXT, "holdout_percent": "0"})
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.holdout_percent == 0 and not campaign.variants.exists()


def test_it_shows_the_settings_on_the_draft_and_copies_them(client, alice, ready_shop):
    login(client, alice)
    new_marketing(client, ready_shop, ab_enabled="on", variant_b=TEXT_B, ab_test_hours="6")
    campaign = Campaign.objects.get(shop=ready_shop)
    html = detail(client, campaign)
    assert "随机留出 10% 的客户不发送" in text_of(html, "holdout-setting")
    assert "版本 A、B" in text_of(html, "ab-setting") and "6 小时后" in text_of(html, "ab-setting")
    texts = html.split('id="variant-texts"')[1].split("</ul>")[0]
    assert MARKETING_TEXT in texts and TEXT_B in texts
    html = client.get(reverse("campaigns:copy", args=[ready_shop.pk, campaign.pk])).content.decode()
    assert '<details class="ab-test" id="ab-test" open>' in html and TEXT_B in html
    assert 'name="holdout_percent" value="10"' in html


def test_it_refuses_bad_settings_in_chinese_and_writes_nothing(client, alice, ready_shop):
    login(client, alice)
    response = new_marketing(client, ready_shop, holdout_percent="60")
    assert response.status_code == 400
    assert "对照组比例应为 0–50 之间的整数。" in response.content.decode()
    response = new_marketing(client, ready_shop, ab_enabled="on")
    assert "请至少填写版本 B" in response.content.decode()
    response = new_marketing(client, ready_shop, ab_enabled="on", variant_b=TEXT_B, ab_test_hours="500")
    assert "测试时长应为 1–168 之间的整数（小时）。" in response.content.decode()
    assert not Campaign.objects.filter(shop=ready_shop).exists()


def test_it_shows_a_refused_variants_findings_under_it_and_writes_nothing(client, alice, ready_shop):
    login(client, alice)
    response = new_marketing(
        client, ready_shop, ab_enabled="on", variant_b="全网最低价，加微信 abc123 领券", variant_c=TEXT_B
    )
    html = response.content.decode()
    assert response.status_code == 400
    field = html.split('id="field-variant_b"')[1].split('id="field-variant_c"')[0]
    assert "此版本未通过内容检查" in field and 'class="findings"' in field and "不能提交" in field
    assert '<details class="ab-test" id="ab-test" open>' in html
    assert '<details class="more-variants" id="more-variants" open>' in html  # C was filled
    assert not Campaign.objects.filter(shop=ready_shop).exists()
    assert not CampaignVariant.objects.exists()


def test_it_checks_a_variant_as_it_is_typed(client, alice, ready_shop):
    login(client, alice)
    url = reverse("campaigns:variant_check", args=[ready_shop.pk])
    html = client.post(url, {"variant_b": "全网最低价，加微信 abc123 领券"}).content.decode()
    assert 'id="check-variant_b"' in html and "不能提交" in html and "计费" in html
    html = client.post(url, {"variant_c": TEXT_B}).content.decode()
    assert 'id="check-variant_c"' in html and "未发现问题" in html
    assert client.post(url, {"text": TEXT_B}).status_code == 400


def test_it_offers_template_variants_on_a_coupon_campaign_and_none_on_a_reminder(client, alice, ready_shop):
    login(client, alice)
    base = reverse("campaigns:new", args=[ready_shop.pk])
    html = client.get(base + "?kind=coupon").content.decode()
    assert 'name="variant_b"' in html and "版本 B 模板" in html and 'name="holdout_percent"' in html
    html = client.get(base + "?kind=repurchase").content.decode()
    assert 'name="holdout_percent"' in html and 'name="variant_b"' not in html and "A/B 测试" not in html


def test_it_saves_template_variants_of_a_coupon_campaign(client, alice, ready_shop):
    own = make_approved_template(ready_shop, name="店铺券")
    official = official_template()
    coupon = make_coupon(ready_shop, user=alice)
    login(client, alice)
    url = reverse("campaigns:new", args=[ready_shop.pk]) + "?kind=coupon"
    data = {"name": "领券", "template": official.pk, "coupon": coupon.pk, "holdout_percent": "5"}
    response = client.post(url, {**data, "ab_enabled": "on", "variant_b": own.pk, "ab_metric": "orders"})
    assert response.status_code == 302
    campaign = Campaign.objects.get(shop=ready_shop)
    assert list(campaign.variants.order_by("position").values_list("name", "template_id")) == [
        ("A", official.pk), ("B", own.pk),
    ]  # fmt: skip
    assert (campaign.holdout_percent, campaign.ab_metric) == (5, "orders")


# --- the campaign's results ---------------------------------------------------------------------

TEST_HOURS = 4


@pytest.fixture
def ab_campaign(alice, ready_shop):
    """A running A/B campaign (holdout 20 %) an hour into its test: 8 customers got A, 8 got B
    (all delivered, 1 part each), 4 held out; people tapped A twice (and a previewer once), B four
    times; orders: ¥80 on A, ¥100 and ¥50 on B, and ¥30 from a held-out customer (not attributed).
    The shop paid ¥50 for 1,000 parts and was granted 1,000: ¥0.025 a part."""
    package = RechargePackage.objects.create(name="千条", units=1000, price=Decimal("50.00"))
    paid = recharge_order_create(shop=ready_shop, user=alice, package_id=package.pk)
    recharge_order_complete(order_no=paid.order_no, payment_reference="P1")
    campaign = campaign_create(
        shop=ready_shop, user=alice, kind="marketing", name="夏季上新", text=MARKETING_TEXT
    )
    campaign_holdout_set(campaign=campaign, user=alice, percent=20)
    campaign_variants_set(
        campaign=campaign, user=alice, test_hours=TEST_HOURS,
        variants=[VariantInput(text=MARKETING_TEXT), VariantInput(text=TEXT_B)],
    )  # fmt: skip
    now = timezone.now()
    Campaign.objects.filter(pk=campaign.pk).update(status="running", started_at=now - timedelta(hours=1))
    campaign.refresh_from_db()
    a, b = campaign.variants.order_by("position")
    run = CampaignRun.objects.create(campaign=campaign, phase="ab_test", status="finished")
    run.created_at = now - timedelta(hours=1)
    numbers = phones(20)
    rows = []
    sent_at, final_at = now - timedelta(minutes=50), now - timedelta(minutes=49)
    for i, phone in enumerate(numbers):
        message = Message(campaign=campaign, run=run, shop=ready_shop, phone=phone)
        if i >= 16:
            message.status, message.parts, message.settlement = "holdout", 0, "none"
        else:
            message.variant = a if i < 8 else b
            message.status, message.parts, message.settlement = "delivered", 1, "charged"
            message.text, message.sent_at, message.final_at = MARKETING_TEXT, sent_at, final_at
        rows.append(message)
    Message.objects.bulk_create(rows)
    # The run started (its first row written) an hour ago: the comparison window starts there.
    Message.objects.filter(campaign=campaign).update(created_at=now - timedelta(hours=1))
    sent = {m.phone: m for m in Message.objects.filter(campaign=campaign)}
    tap = now - timedelta(minutes=30)
    clicks = [(numbers[0], True), (numbers[1], True), (numbers[1], True), (numbers[2], False)]
    clicks += [(numbers[8 + i], True) for i in range(4)]
    Click.objects.bulk_create(
        Click(message=sent[p], campaign_id=campaign.pk, shop_id=ready_shop.pk, phone=p, at=tap, human=human,
              method="GET" if human else "HEAD", user_agent="Mozilla/5.0 (iPhone)")
        for p, human in clicks
    )  # fmt: skip
    placed = now - timedelta(minutes=20)
    for no, phone, amount, message in (
        ("NO-1", numbers[0], "80.00", sent[numbers[0]]),
        ("NO-2", numbers[8], "100.00", sent[numbers[8]]),
        ("NO-3", numbers[9], "50.00", sent[numbers[9]]),
        ("=HOLD-1", numbers[17], "30.00", None),
    ):
        Order.objects.create(
            shop=ready_shop, order_no=no, phone=phone, amount=Decimal(amount), placed_at=placed,
            attributed_message=message, attributed_campaign=campaign if message else None,
            attributed_touch="click" if message else "", attributed_touch_at=tap if message else None,
        )  # fmt: skip
    return campaign


def detail(client, campaign) -> str:
    response = client.get(reverse("campaigns:detail", args=[campaign.shop_id, campaign.pk]))
    assert response.status_code == 200
    return response.content.decode()


def text_of(html: str, element_id: str) -> str:
    return html.split(f'id="{element_id}"')[1].split(">", 1)[1].split("<")[0]


def test_it_shows_the_funnel_money_holdout_and_variants(
    client, alice, ab_campaign, django_assert_max_num_queries
):
    login(client, alice)
    with django_assert_max_num_queries(QUERY_BOUND):
        html = detail(client, ab_campaign)
    assert [text_of(html, f"funnel-{step}") for step in ("sent", "delivered", "clicked", "ordered")] == [
        "16", "16", "6", "3",
    ]  # fmt: skip
    assert "点击率 37.5%" in html and "共 7 次" in html  # 6 people of 16, 7 human taps (HEAD not counted)
    assert text_of(html, "result-revenue") == "¥230.00"
    assert text_of(html, "result-cost") == "¥0.40"  # 16 parts × ¥0.025
    assert text_of(html, "result-roi") == "57,400%"  # (230 − 0.40) / 0.40
    assert "¥0.025/条" in html
    holdout = html.split('id="holdout-table"')[1].split("</table>")[0]
    assert "16 人" in holdout and "4 人" in holdout and "¥30.00" in holdout and "¥7.50" in holdout  # 30 / 4
    assert "样本太少" in text_of(html, "lift-verdict")
    assert "5 天" in html and "24 小时" in html  # the attribution windows shown
    table = html.split('id="ab-table"')[1].split("</table>")[0]
    row_a = table.split('data-variant="A"')[1].split("</tr>")[0]
    row_b = table.split('data-variant="B"')[1].split("</tr>")[0]
    assert ">8<" in row_a and "25.0%" in row_a and "¥80.00" in row_a and "p = " in row_a
    assert "50.0%" in row_b and "¥150.00" in row_b and "领先" in row_b
    assert "选为胜出版本" in table and "剩余 2 小时" in text_of(html, "ab-time-left") + html
    assert 'id="export-clicks"' in html and 'id="export-orders"' in html


def test_it_keeps_a_large_campaigns_results_a_minute_and_forgets_them_on_a_pick(
    client, alice, ab_campaign, monkeypatch, settings
):
    # A cache of its own (clear() on a shared Redis would flush it); "large" made small.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.clear()
    monkeypatch.setattr(results_module, "RESULTS_LIVE_MAX_RECIPIENTS", 10)
    login(client, alice)
    html = detail(client, ab_campaign)
    assert 'id="results-kept"' in html and text_of(html, "funnel-ordered") == "3"
    message = Message.objects.filter(campaign=ab_campaign, variant__name="B", status="delivered").last()
    Order.objects.create(
        shop=ab_campaign.shop, order_no="NO-4", phone=message.phone, amount=Decimal("10.00"),
        placed_at=timezone.now(), attributed_message=message, attributed_campaign=ab_campaign,
        attributed_touch="delivery", attributed_touch_at=message.final_at,
    )  # fmt: skip
    assert text_of(detail(client, ab_campaign), "funnel-ordered") == "3"  # kept (up to a minute)
    b = ab_campaign.variants.get(name="B")
    client.post(reverse("campaigns:ab_pick", args=[ab_campaign.shop_id, ab_campaign.pk, b.pk]))
    html = detail(client, ab_campaign)  # the pick forgets the kept results: the winner shows at once
    assert text_of(html, "funnel-ordered") == "4" and "您手动选择" in html
    cache.clear()

def test_it_confirms_the_early_pick_with_what_it_sends_then_picks(client, alice, ab_campaign):
    login(client, alice)
    b = ab_campaign.variants.get(name="B")
    url = reverse("campaigns:ab_pick", args=[ab_campaign.shop_id, ab_campaign.pk, b.pk])
    html = client.get(url).content.decode()
    assert "确认把版本 B 发给其余客户？" in html and "夏日上新" in html
    dry = campaign_dry_run(campaign=ab_campaign)
    assert f"约 {dry.ab_rest_sendable} 人" in text_of(html, "ab-pick-rest") + html
    assert not CampaignVariant.objects.filter(won_at__isnull=False).exists()  # a GET changes nothing

    response = client.post(url)
    assert response.status_code == 302
    b.refresh_from_db()
    assert b.won_at is not None and b.won_by == "merchant"
    assert CampaignRun.objects.filter(campaign=ab_campaign, phase="ab_winner").count() == 1
    html = detail(client, ab_campaign)
    assert "版本 <strong>B</strong> 胜出（您手动选择）" in html and "选为胜出版本" not in html
    # A second pick (another tab) is refused in Chinese; nothing more is written.
    a = ab_campaign.variants.get(name="A")
    url = reverse("campaigns:ab_pick", args=[ab_campaign.shop_id, ab_campaign.pk, a.pk])
    response = client.post(url, follow=True)
    assert "A/B 测试已结束，胜出版本已确定。" in response.content.decode()
    assert CampaignRun.objects.filter(campaign=ab_campaign, phase="ab_winner").count() == 1


def test_it_keeps_other_shops_out_of_the_results(client, bob, ab_campaign):
    login(client, bob)
    b = ab_campaign.variants.get(name="B")
    for name, args in (
        ("campaigns:detail", [ab_campaign.shop_id, ab_campaign.pk]),
        ("campaigns:ab_pick", [ab_campaign.shop_id, ab_campaign.pk, b.pk]),
        ("campaigns:export_clicks", [ab_campaign.shop_id, ab_campaign.pk]),
        ("campaigns:export_orders", [ab_campaign.shop_id, ab_campaign.pk]),
    ):
        assert client.get(reverse(name, args=args)).status_code == 404


def csv_rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body)))


def test_it_exports_clicks_and_attributed_orders(client, alice, ab_campaign):
    login(client, alice)
    args = [ab_campaign.shop_id, ab_campaign.pk]
    rows = csv_rows(client.get(reverse("campaigns:export_clicks", args=args)))
    assert rows[0] == ["点击时间", "手机号", "短信ID", "类型", "版本", "真人点击", "方式", "浏览器标识"]
    assert len(rows) == 1 + 8
    assert rows[1][1] == phones(1)[0]  # phones whole, as the other exports
    assert sorted(r[5] for r in rows[1:]).count("否") == 1 and {r[4] for r in rows[1:]} == {"A", "B"}
    assert "预取（不计入）" in {r[6] for r in rows[1:]}
    rows = csv_rows(client.get(reverse("campaigns:export_orders", args=args)))
    assert rows[0][:4] == ["订单号", "手机号", "金额(元)", "下单时间"]
    assert sorted(r[0] for r in rows[1:]) == ["NO-1", "NO-2", "NO-3"]  # the held-out order is not attributed
    assert {r[6] for r in rows[1:]} == {"点击"}


def test_it_guards_exported_cells_against_formulas(client, alice, ab_campaign):
    Order.objects.filter(order_no="NO-1").update(order_no="=HYPERLINK(1)")
    login(client, alice)
    url = reverse("campaigns:export_orders", args=[ab_campaign.shop_id, ab_campaign.pk])
    rows = csv_rows(client.get(url))
    assert "'=HYPERLINK(1)" in {r[0] for r in rows[1:]}


def test_it_lists_revenue_and_roi_per_campaign_in_one_statement(
    client, alice, ab_campaign, django_assert_max_num_queries
):
    for n in range(25):  # more than a page of campaigns without results
        campaign_create(
            shop=ab_campaign.shop, user=alice, kind="marketing", name=f"草稿{n}", text=MARKETING_TEXT
        )
    login(client, alice)
    url = reverse("campaigns:list", args=[ab_campaign.shop_id])
    page2 = client.get(url + "?page=2").content.decode()
    assert "¥230.00" in page2 and "57,400%" in page2  # the oldest campaign is on page 2
    with CaptureQueriesContext(connection) as one:
        client.get(url)
    with CaptureQueriesContext(connection) as two:
        client.get(url + "?page=2")
    # Not one statement per row: the same few on a page of 20 drafts (page 1) as on a page of 6
    # with a charged campaign (page 2); the shop's price per part is read on both.
    assert len(two.captured_queries) == len(one.captured_queries) <= LIST_QUERY_BOUND
    money = [q["sql"] for q in two.captured_queries if "unnest" in q["sql"]]
    assert len(money) == 1
    html = client.get(url).content.decode()
    assert "投入产出比" in html and "归因收入" in html


# --- the dry run and the confirmation ------------------------------------------------------------


SEED = 12345


def ab_draft(shop, user, *, holdout: int = 20, test_percent: int = 50) -> Campaign:
    campaign = campaign_create(shop=shop, user=user, kind="marketing", name="夏季上新", text=MARKETING_TEXT)
    campaign_holdout_set(campaign=campaign, user=user, percent=holdout)
    long_b = TEXT_B + "新品数量有限，先到先得，欢迎进店选购更多夏季新款服饰。" * 2  # 2 parts
    campaign_variants_set(
        campaign=campaign, user=user, test_percent=test_percent,
        variants=[VariantInput(text=MARKETING_TEXT), VariantInput(text=long_b)],
    )  # fmt: skip
    # A fixed seed: every group of the 20 customers non-empty (the draw is the services' own).
    Campaign.objects.filter(pk=campaign.pk).update(seed=SEED)
    campaign.refresh_from_db()
    return campaign


def test_it_splits_the_dry_run_of_an_ab_test_into_now_and_later(alice, ready_shop):
    campaign = ab_draft(ready_shop, alice)
    dry = campaign_dry_run(campaign=campaign)
    assert dry.holdout > 0 and dry.ab_test_sendable > 0 and dry.ab_rest_sendable > 0
    assert dry.ab_test_sendable + dry.ab_rest_sendable == dry.sendable
    assert dry.holdout + dry.sendable + dry.suppressed_total == dry.recipients == 20
    a, b = dry.ab_rest_parts
    assert (a, b) == (dry.ab_rest_sendable, 2 * dry.ab_rest_sendable)  # 1 part if A wins, 2 if B
    assert dry.parts == dry.ab_test_parts + dry.ab_rest_parts_most  # the rest priced at the most
    assert campaign_dry_run(campaign=campaign_create(
        shop=ready_shop, user=alice, kind="marketing", name="单一", text=MARKETING_TEXT
    )).ab_rest_parts == []  # fmt: skip


def test_it_shows_what_is_sent_now_and_later_in_the_dry_run_and_the_confirmation(client, alice, ready_shop):
    campaign = ab_draft(ready_shop, alice)
    dry = campaign_dry_run(campaign=campaign)
    login(client, alice)
    html = client.get(reverse("campaigns:dry_run", args=[ready_shop.pk, campaign.pk])).content.decode()
    assert text_of(html, "dry-holdout") == str(dry.holdout)
    now = html.split('id="ab-plan-now"')[1].split("</li>")[0]
    later = html.split('id="ab-plan-later"')[1].split("</li>")[0]
    assert f"{dry.ab_test_sendable} 人" in now and "¥0.00" in now  # granted parts cost nothing
    assert f"其余 <strong>{dry.ab_rest_sendable} 人" in later and "4 小时后" in later
    html = client.get(reverse("campaigns:schedule", args=[ready_shop.pk, campaign.pk]) + "?when=now").content
    html = html.decode()
    assert 'id="ab-plan"' in html and text_of(html, "confirm-holdout").startswith(str(dry.holdout))
    assert Campaign.objects.get(pk=campaign.pk).status == "draft"  # nothing sent before the confirmation
