"""The closed loop, end to end: a campaign of 1,000 customers with a 10 % holdout goes through
the real pipeline on django-q2 (synchronous in tests) and the simulated gateway; its short links
are tapped by people and by previewers; orders are imported from a CSV; every figure of
``manage.py campaign_report --json`` is checked against numbers computed here by hand."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import time_machine
from django.core.management import call_command
from django.test import Client
from django_q.models import Schedule
from django_q.scheduler import scheduler

from campaigns.gateways.simulated import SimulatedGateway
from campaigns.models import Campaign, Customer, Message, Order
from campaigns.results import REPORT_KEYS
from campaigns.services.campaigns import campaign_create, campaign_preview, campaign_schedule
from campaigns.services.draws import draw
from campaigns.services.links import link_policy_forget, shop_landing_set
from campaigns.services.optouts import optout_record
from campaigns.services.variants import VariantInput, campaign_holdout_set, campaign_variants_set
from smsmarketing.models import RechargePackage
from smsmarketing.services import account_grant
from smsmarketing.services.recharge import recharge_order_complete, recharge_order_create
from tests.campaigns.campaign_fixtures import MORNING, import_customers, live_signature_for, phones
from tests.factories import make_active_account

CENT = Decimal("0.01")
FAIL_RATIO = 0.1
TEXT = "夏季新品上架，全场满199元减20元，进店看看：${shop_link}"
SHOP_PAGE = "https://mall.jd.com/index-1000.html"
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 13; SM-S9180) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)
WHATSAPP_PREVIEW = "WhatsApp/2.23.20.0 A"
STRANGERS = ["13900000001", "13900000002", "13900000003", "13900000004"]


@dataclass
class Expected:
    """One order line as written in the file, and what it must count for."""

    order_no: str
    phone: str
    amount: Decimal
    placed_at: datetime
    attributed_to: int | None = None  # message id
    group: str | None = None  # "sent", "holdout" or None (outside the window / not a recipient)


def tap(code: str, *, at: datetime, method: str = "get", agent: str = ANDROID_CHROME) -> None:
    with time_machine.travel(at, tick=False):
        client = Client(REMOTE_ADDR="10.1.2.3")
        response = getattr(client, method)(f"/t/{code}", headers={"user-agent": agent})
    assert response.status_code == 302 and response["Location"] == SHOP_PAGE


def yuan(amount: Decimal) -> str:
    return str(amount.quantize(CENT, rounding=ROUND_HALF_UP))


def report_json(campaign: Campaign) -> dict:
    out = io.StringIO()
    call_command("campaign_report", str(campaign.pk), "--json", stdout=out)
    return json.loads(out.getvalue())


def import_file(shop, tmp_path, name: str, lines: list[str]) -> str:
    path = tmp_path / name
    path.write_text("订单号,手机号,金额,下单时间\n" + "\n".join(lines) + "\n", encoding="utf-8")
    out = io.StringIO()
    call_command("import_orders", str(shop.pk), str(path), stdout=out)  # exit 0: nothing rejected
    return out.getvalue()


def test_it_reports_every_figure_of_a_campaign_with_a_holdout_as_computed_by_hand(
    alice, alice_shop, reviewer, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.SMS_PIPELINE = {**settings.SMS_PIPELINE, "DISPATCH_RATE": 0, "DISPATCH_BATCH": 50}
    settings.SMS_GATEWAY = {
        "BACKEND": "campaigns.gateways.simulated.SimulatedGateway",
        "OPTIONS": {"fail_ratio": FAIL_RATIO},
    }
    link_policy_forget()
    # --- the shop: 1,500 parts granted (free) and 1,000 bought for ¥50, 1,000 customers ---
    make_active_account(alice_shop, balance=1500, user=alice)
    package = RechargePackage.objects.create(name="千条", units=1000, price=Decimal("50.00"))
    recharge_order_complete(
        order_no=recharge_order_create(shop=alice_shop, user=alice, package_id=package.pk).order_no,
        payment_reference="PAY-1",
    )
    account_grant(shop_id=alice_shop.pk, units=1, reason="补偿", actor=None)
    price_per_part = Decimal("50.00") / (1500 + 1000 + 1)
    live_signature_for(alice_shop, alice, reviewer)
    shop_landing_set(shop=alice_shop, user=alice, landing_url=SHOP_PAGE)
    customers = phones(1000)
    import_customers(alice_shop, [f"{p},客户{i}" for i, p in enumerate(customers)], header="手机号,姓名")
    opted_out = customers[7]
    optout_record(shop_id=alice_shop.pk, phone=opted_out, keyword="TD", source="sms_reply")

    # --- the campaign: 10 % held out, sent through the pipeline at MORNING ---
    with time_machine.travel(MORNING, tick=False):
        campaign = campaign_create(shop=alice_shop, user=alice, kind="marketing", name="夏季上新", text=TEXT)
        campaign = campaign_holdout_set(campaign=campaign, user=alice, percent=10)
        _preview, parts = campaign_preview(campaign=campaign)
        with django_capture_on_commit_callbacks(execute=True):
            campaign_schedule(campaign=campaign, user=alice)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED

    # By hand: who is held out (the documented draw: u < 10 %, among those who could be sent),
    # who failed (the simulated gateway's documented share), what was charged.
    held_phones = {p for p in customers if p != opted_out and draw(seed=campaign.seed, phone=p) < 0.10}
    messages = {m.phone: m for m in Message.objects.filter(campaign=campaign)}
    assert len(messages) == 1000 and messages[opted_out].status == "suppressed"
    assert {p for p, m in messages.items() if m.status == "holdout"} == held_phones
    assert 60 <= len(held_phones) <= 140
    sent = [m for p, m in messages.items() if p != opted_out and p not in held_phones]
    failed = sorted((m for m in sent if SimulatedGateway.fails(m.pk, FAIL_RATIO)), key=lambda m: m.pk)
    delivered = sorted((m for m in sent if not SimulatedGateway.fails(m.pk, FAIL_RATIO)), key=lambda m: m.pk)
    assert {m.status for m in failed} == {"failed"} and {m.status for m in delivered} == {"delivered"}
    assert all(m.final_at == MORNING and m.parts == parts and m.link_code for m in delivered)
    held = sorted((messages[p] for p in held_phones), key=lambda m: m.pk)
    # The run started (its first recipient row) at MORNING: the comparison window is 5 days from then.
    assert min(m.created_at for m in messages.values()) == MORNING

    # --- clicks: people tap, some twice; previewers and HEAD requests are not people ---
    clicked_once, clicked_twice = delivered[0:20], delivered[20:30]
    previewed, headed = delivered[30:45], delivered[45:60]
    for m in clicked_once + clicked_twice:
        tap(m.link_code, at=MORNING + timedelta(hours=1))
    for m in clicked_twice:
        tap(m.link_code, at=MORNING + timedelta(hours=2))
    for m in previewed:
        tap(m.link_code, at=MORNING + timedelta(minutes=1), agent=WHATSAPP_PREVIEW)
    for m in headed:
        tap(m.link_code, at=MORNING + timedelta(minutes=2), method="head")
    clicks, unique_clicks = 20 + 2 * 10, 30
    last_click = {m.pk: MORNING + timedelta(hours=1) for m in clicked_once} | {
        m.pk: MORNING + timedelta(hours=2) for m in clicked_twice
    }

    # --- orders, each with what it must count for ---
    plain = delivered[60:]  # delivered, never tapped
    day, hour = timedelta(days=1), timedelta(hours=1)
    expected: list[Expected] = []

    def order(m: Message | None, amount: str, placed_at: datetime, *, phone: str = "", to: bool, group):
        number = f"JD{len(expected) + 1:04d}"
        expected.append(
            Expected(number, phone or m.phone, Decimal(amount), placed_at, m.pk if to and m else None, group)
        )

    for i, m in enumerate(clicked_once[:8] + clicked_twice[:4]):  # 2 days after the last click
        order(m, f"{100 + i}.50", last_click[m.pk] + 2 * day, to=True, group="sent")
    order(clicked_twice[0], "35.00", last_click[clicked_twice[0].pk] + 3 * day, to=True, group="sent")
    for m in clicked_once[8:11]:  # 5 days and a minute after the click: no touch, past the window
        order(m, "80.00", last_click[m.pk] + 5 * day + timedelta(minutes=1), to=False, group=None)
    for m in plain[:8]:  # 20 hours after the delivery
        order(m, "66.60", m.final_at + 20 * hour, to=True, group="sent")
    for m in plain[8:13]:  # 30 hours after the delivery: not attributed, still in the sent group
        order(m, "45.00", m.final_at + 30 * hour, to=False, group="sent")
    for m in previewed[:2] + headed[:2]:  # only previews: the delivery is 2 days old
        order(m, "20.00", MORNING + 2 * day, to=False, group="sent")
    for m in previewed[2:4]:  # previews, but within the delivery's 24 hours
        order(m, "21.00", MORNING + 3 * hour, to=True, group="sent")
    for m in failed[:3]:  # a failed SMS is no touch; the recipient is in the sent group
        order(m, "50.00", MORNING + 3 * hour, to=False, group="sent")
    for m in plain[13:15]:  # placed before the SMS: no touch, before the run started
        order(m, "90.00", MORNING - 2 * hour, to=False, group=None)
    for m in held[:6]:  # held-out customers buy anyway
        order(m, "70.00", MORNING + day, to=False, group="holdout")
    order(held[6], "75.00", MORNING + 6 * day, to=False, group=None)  # past the comparison window
    order(held[7], "75.00", MORNING - hour, to=False, group=None)  # before the run
    for phone in STRANGERS:
        order(None, "300.00", MORNING + 3 * hour, phone=phone, to=False, group=None)

    # The file also repeats one order with another amount: the later line wins, one order.
    def line(e: Expected, amount: Decimal) -> str:
        return f"{e.order_no},{e.phone},{amount},{e.placed_at.astimezone(MORNING.tzinfo):%Y-%m-%d %H:%M:%S}"

    lines = [line(e, e.amount) for e in expected]
    repeated = expected[0]
    repeated.amount = Decimal("888.00")
    lines.append(line(repeated, repeated.amount))
    with time_machine.travel(MORNING + 7 * day, tick=False):
        out = import_file(alice_shop, tmp_path, "orders.csv", lines)
    assert f"{len(lines)} lines: {len(expected)} orders created, 1 updated, 0 rejected" in out
    # A second file a day later updates an order's amount: still one order per number.
    second = expected[1]
    second.amount = Decimal("12.30")
    with time_machine.travel(MORNING + 8 * day, tick=False):
        out = import_file(alice_shop, tmp_path, "again.csv", [line(second, second.amount)])
    assert "1 lines: 0 orders created, 1 updated, 0 rejected" in out
    assert Order.objects.filter(shop=alice_shop).count() == len(expected)
    # Strangers became customers (their orders feed repurchase reminders).
    assert Customer.objects.filter(shop=alice_shop, phone__in=STRANGERS, purchase_count=1).count() == 4

    # --- every figure, by hand ---
    attributed = [e for e in expected if e.attributed_to]
    sent_group = [e for e in expected if e.group == "sent"]
    holdout_group = [e for e in expected if e.group == "holdout"]
    n_sent, n_held = len(sent), len(held)
    revenue = lambda orders: sum((e.amount for e in orders), Decimal(0))  # noqa: E731
    incremental = revenue(sent_group) - revenue(holdout_group) * n_sent / n_held
    parts_charged = len(delivered) * parts
    cost = (parts_charged * price_per_part).quantize(CENT, rounding=ROUND_HALF_UP)
    roi = ((revenue(attributed) - cost) / cost).quantize(CENT, rounding=ROUND_HALF_UP)
    by_hand = {
        "recipients": 999,
        "holdout": n_held,
        "sent": n_sent,
        "delivered": len(delivered),
        "failed": len(failed),
        "clicks": clicks,
        "unique_clicks": unique_clicks,
        "attributed_orders": len(attributed),
        "attributed_revenue": yuan(revenue(attributed)),
        "sent_group_orders": len(sent_group),
        "sent_group_revenue": yuan(revenue(sent_group)),
        "holdout_orders": len(holdout_group),
        "holdout_revenue": yuan(revenue(holdout_group)),
        "incremental_revenue": yuan(incremental),
        "parts_charged": parts_charged,
        "cost_yuan": yuan(cost),
        "roi": str(roi),
        "variants": [],
    }
    report = report_json(campaign)
    assert tuple(report) == REPORT_KEYS
    assert report == by_hand
    # Each order went to the message computed by hand, and to no other.
    stored = dict(Order.objects.filter(shop=alice_shop).values_list("order_no", "attributed_message_id"))
    assert stored == {e.order_no: e.attributed_to for e in expected}
    assert n_sent + n_held == 999 and len(failed) + len(delivered) == n_sent
    # Without --json: the same figures with labels, the interval and the verdict in Chinese.
    out = io.StringIO()
    call_command("campaign_report", str(campaign.pk), stdout=out)
    text = out.getvalue()
    assert f"{'incremental_revenue':<22} {yuan(incremental)}\n" in text
    assert f"{'roi':<22} {roi}\n" in text and "incremental_95ci" in text
    assert "差异不显著" in text
    assert "windows                click 120 h, delivery 24 h, comparison 120 h" in text


TEXT_B = "夏日上新！满199元立减20元，限时三天，马上选购：${shop_link}"


def test_it_reports_an_ab_test_with_a_holdout_each_run_from_its_own_start(
    alice, alice_shop, reviewer, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.SMS_PIPELINE = {**settings.SMS_PIPELINE, "DISPATCH_RATE": 0, "DISPATCH_BATCH": 50}
    settings.SMS_GATEWAY = {
        "BACKEND": "campaigns.gateways.simulated.SimulatedGateway",
        "OPTIONS": {"fail_ratio": FAIL_RATIO},
    }
    link_policy_forget()
    make_active_account(alice_shop, balance=2000, user=alice)  # granted only: the parts cost nothing
    live_signature_for(alice_shop, alice, reviewer)
    shop_landing_set(shop=alice_shop, user=alice, landing_url=SHOP_PAGE)
    customers = phones(300)
    import_customers(alice_shop, [f"{p},客户{i}" for i, p in enumerate(customers)], header="手机号,姓名")
    with time_machine.travel(MORNING, tick=False):
        campaign = campaign_create(shop=alice_shop, user=alice, kind="marketing", name="A/B 上新", text=TEXT)
        campaign_holdout_set(campaign=campaign, user=alice, percent=10)
        campaign_variants_set(
            campaign=campaign,
            user=alice,
            variants=[VariantInput(text=TEXT), VariantInput(text=TEXT_B)],
            test_percent=40,
            test_hours=4,
            metric="clicks",
        )
        campaign = Campaign.objects.get(pk=campaign.pk)
        with django_capture_on_commit_callbacks(execute=True):
            campaign_schedule(campaign=campaign, user=alice)

    # By hand: the documented draw cuts the audience (holdout first, then 40 % of the rest tests A or B).
    def group(phone: str) -> str:
        u = draw(seed=campaign.seed, phone=phone)
        if u < 0.10:
            return "held"
        v = (u - 0.10) / 0.90
        return "AB"[int(v / 0.40 * 2)] if v < 0.40 else "rest"

    groups = {p: group(p) for p in customers}
    test_messages = {m.phone: m for m in Message.objects.filter(campaign=campaign)}
    assert set(test_messages) == {p for p, g in groups.items() if g != "rest"}
    fails = lambda m: SimulatedGateway.fails(m.pk, FAIL_RATIO)  # noqa: E731
    delivered_of = {
        name: sorted(
            (m for p, m in test_messages.items() if groups[p] == name and not fails(m)), key=lambda m: m.pk
        )
        for name in "AB"
    }
    # People tap B far more than A; a previewer and HEAD requests do not count.
    for m in delivered_of["A"][:2]:
        tap(m.link_code, at=MORNING + timedelta(hours=1))
        tap(m.link_code, at=MORNING + timedelta(hours=1, minutes=5))
    for m in delivered_of["B"][:10]:
        tap(m.link_code, at=MORNING + timedelta(hours=1))
        tap(m.link_code, at=MORNING + timedelta(hours=1), method="head")
        tap(m.link_code, at=MORNING + timedelta(hours=1), agent=WHATSAPP_PREVIEW)
    # Four hours after the start the test ends and B goes to the rest, whose run starts then.
    winner_start = MORNING + timedelta(hours=4, minutes=1)
    Schedule.objects.filter(name="campaigns-end-ab-tests").update(next_run=MORNING + timedelta(hours=4))
    with time_machine.travel(winner_start, tick=False), django_capture_on_commit_callbacks(execute=True):
        scheduler()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    messages = {m.phone: m for m in Message.objects.filter(campaign=campaign)}
    assert len(messages) == 300
    rest = [m for p, m in messages.items() if groups[p] == "rest" and not fails(m)]
    rest.sort(key=lambda m: m.pk)
    assert all(m.created_at == winner_start and m.final_at == winner_start for m in rest)
    held = sorted((m for p, m in messages.items() if groups[p] == "held"), key=lambda m: m.pk)
    sent = [m for p, m in messages.items() if groups[p] != "held"]
    delivered = [m for m in sent if not fails(m)]

    day, hour = timedelta(days=1), timedelta(hours=1)
    expected: list[Expected] = []

    def order(m: Message, amount: str, placed_at: datetime, *, to: bool, group):
        number = f"AB{len(expected):03d}"
        expected.append(Expected(number, m.phone, Decimal(amount), placed_at, m.pk if to else None, group))

    order(delivered_of["A"][0], "99.00", MORNING + day, to=True, group="sent")  # A's click
    for m in delivered_of["B"][:3]:  # B's clicks
        order(m, "129.00", MORNING + day, to=True, group="sent")
    order(delivered_of["B"][10], "59.90", MORNING + 5 * hour, to=True, group="sent")  # B's delivery
    order(rest[0], "188.00", winner_start + 2 * hour, to=True, group="sent")  # the winner's run
    # Bought before the winner's run started (but after the test's): not in its window.
    order(rest[1], "77.00", MORNING + hour, to=False, group=None)
    # Just inside the winner run's own window (outside one counted from the test's start).
    order(rest[2], "66.00", winner_start + 5 * day - timedelta(minutes=1), to=False, group="sent")
    for m in held[:2]:
        order(m, "50.00", MORNING + day, to=False, group="holdout")

    def line(e: Expected) -> str:
        return f"{e.order_no},{e.phone},{e.amount},{e.placed_at.astimezone(MORNING.tzinfo):%Y-%m-%d %H:%M:%S}"

    with time_machine.travel(MORNING + 7 * day, tick=False):
        import_file(alice_shop, tmp_path, "orders.csv", [line(e) for e in expected])

    attributed = [e for e in expected if e.attributed_to]
    sent_group = [e for e in expected if e.group == "sent"]
    holdout_group = [e for e in expected if e.group == "holdout"]
    revenue = lambda orders: sum((e.amount for e in orders), Decimal(0))  # noqa: E731
    variant_rows = []
    for name in "AB":
        mine = [m for p, m in test_messages.items() if groups[p] == name]
        ids = {m.pk for m in mine}
        theirs = [e for e in attributed if e.attributed_to in ids]
        variant_rows.append(
            {
                "name": name,
                "recipients": len(mine),
                "delivered": len(delivered_of[name]),
                "unique_clicks": {"A": 2, "B": 10}[name],
                "attributed_orders": len(theirs),
                "attributed_revenue": yuan(revenue(theirs)),
                "winner": name == "B",
            }
        )
    by_hand = {
        "recipients": 300,
        "holdout": len(held),
        "sent": len(sent),
        "delivered": len(delivered),
        "failed": len(sent) - len(delivered),
        "clicks": 2 * 2 + 10,
        "unique_clicks": 12,
        "attributed_orders": len(attributed),
        "attributed_revenue": yuan(revenue(attributed)),
        "sent_group_orders": len(sent_group),
        "sent_group_revenue": yuan(revenue(sent_group)),
        "holdout_orders": len(holdout_group),
        "holdout_revenue": yuan(revenue(holdout_group)),
        "incremental_revenue": yuan(revenue(sent_group) - revenue(holdout_group) * len(sent) / len(held)),
        "parts_charged": sum(m.parts for m in delivered),
        "cost_yuan": "0.00",
        "roi": None,
        "variants": variant_rows,
    }
    assert report_json(campaign) == by_hand
    stored = dict(Order.objects.filter(shop=alice_shop).values_list("order_no", "attributed_message_id"))
    assert stored == {e.order_no: e.attributed_to for e in expected}
    out = io.StringIO()
    call_command("campaign_report", str(campaign.pk), stdout=out)
    text = out.getvalue()
    assert f"{'roi':<22} -\n" in text and f"{'cost_yuan':<22} 0.00\n" in text
    assert "variant B (winner): " in text and "p-value vs leader -" in text
