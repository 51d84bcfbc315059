"""The results counters (campaigns.models.counters): every pipeline step that changes messages
keeps them exact in its own transaction, pages read them, ``reconcile_stats`` recounts them and
finds a tampered one, and concurrent dispatchers and report callbacks leave them exact."""

from __future__ import annotations

import io
import re
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.counters import counter_rows, stats_reconcile
from campaigns.models import (
    Campaign,
    CampaignRun,
    ClickCounter,
    ClickedMessage,
    HourCounter,
    Message,
    MessageCounter,
    Order,
    OrderCounter,
)
from campaigns.models.links import Click
from campaigns.results import campaign_results
from campaigns.selectors import campaign_statistics, campaign_timeline, campaigns_progress
from campaigns.services.attribution import orders_reattribute
from campaigns.services.delivery import (
    delivery_expire_stale,
    delivery_report_apply,
    delivery_reports_apply,
    delivery_settle,
)
from campaigns.services.links import link_follow
from campaigns.services.optouts import optout_record
from campaigns.services.orders import orders_upsert
from campaigns.services.sending import dispatch_claim
from tests.campaigns.api_helpers import bearer, make_api_key
from tests.campaigns.campaign_fixtures import MORNING, assert_stats_clean, phones, run_in_threads
from tests.campaigns.test_delivery_reports import send_campaign
from tests.campaigns.test_results_pages import ab_campaign as results_pages_campaign  # noqa: F401


@pytest.fixture
def silent_gateway(pipeline_settings):
    """Messages stay 'accepted' after dispatch: the test sends their reports."""
    pipeline_settings.SMS_GATEWAY = {
        "BACKEND": "campaigns.gateways.simulated.SimulatedGateway",
        "OPTIONS": {"report": False},
    }


def kept(campaign: Campaign) -> Counter:
    """(status, settlement) -> messages, from the counters."""
    out: Counter = Counter()
    for row in counter_rows(campaign_ids=[campaign.pk], audience_only=False):
        out[(row.status, row.settlement)] += row.messages
    return +out


def counted(campaign: Campaign) -> Counter:
    """The same, counted from the message rows."""
    return Counter(Message.objects.filter(campaign=campaign).values_list("status", "settlement"))


def reconcile(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("reconcile_stats", *args, stdout=out, stderr=out)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


def test_it_keeps_the_counters_through_planning_dispatch_reports_settlement_sweep_and_delete(
    ready_shop, alice, silent_gateway, django_capture_on_commit_callbacks
):
    optout_record(shop_id=ready_shop.pk, phone=phones(1)[0], keyword="TD", source="sms_reply")
    campaign = send_campaign(ready_shop, alice, django_capture_on_commit_callbacks)
    # Planning (19 planned, 1 suppressed with its reason) and dispatch (all handed over).
    assert kept(campaign) == counted(campaign) == Counter(
        {("accepted", "pending"): 19, ("suppressed", "none"): 1}
    )
    stats = campaign_statistics(campaign=campaign)
    assert (stats.planned, dict(stats.suppressed), stats.sent, stats.waiting) == (19, {"OPTED-OUT": 1}, 19, 0)
    assert campaign_timeline(campaign=campaign)["sent"] == [19]
    assert_stats_clean()

    # Delivery reports: one by one and in a batch; duplicates change nothing.
    messages = list(Message.objects.filter(campaign=campaign, status="accepted").order_by("id"))
    at = MORNING + timedelta(minutes=5)
    for message in messages[:10]:
        delivery_report_apply(message_id=message.pk, status="delivered", at=at)
        delivery_report_apply(message_id=message.pk, status="delivered", at=at)
    delivery_reports_apply(reports=[(m.pk, "failed", at, None) for m in messages[10:15]])
    assert kept(campaign) == counted(campaign) == Counter(
        {("delivered", "pending"): 10, ("failed", "pending"): 5, ("accepted", "pending"): 4,
         ("suppressed", "none"): 1}
    )  # fmt: skip
    # Settlement: charged and released, with their parts.
    assert delivery_settle() == 15
    assert kept(campaign) == counted(campaign)
    stats = campaign_statistics(campaign=campaign)
    assert (stats.delivered, stats.failed, stats.parts_charged, stats.parts_refunded) == (10, 5, 10, 5)
    assert stats.parts_reserved == 4
    # The 72-hour sweep expires the 4 without a report; settled, released.
    assert delivery_expire_stale(now=MORNING + timedelta(hours=73)) == 4
    assert delivery_settle() == 4
    assert kept(campaign) == counted(campaign) == Counter(
        {("delivered", "charged"): 10, ("failed", "released"): 5, ("expired", "released"): 4,
         ("suppressed", "none"): 1}
    )  # fmt: skip
    timeline = campaign_timeline(campaign=campaign)
    assert sum(timeline["sent"]) == 19 and sum(timeline["delivered"]) == 10 and sum(timeline["failed"]) == 9
    progress = campaigns_progress(campaigns=[campaign])[campaign.pk]
    assert (progress.planned, progress.delivered, progress.failed, progress.expired) == (19, 10, 5, 4)
    assert_stats_clean()

    # A campaign deleted: its counters go with it (Django's cascade), nothing left over.
    campaign.delete()
    assert not MessageCounter.objects.exists() and not HourCounter.objects.exists()
    assert_stats_clean()


def test_it_counts_dropped_messages_at_the_claim(
    ready_shop, alice, silent_gateway, django_capture_on_commit_callbacks
):
    campaign = send_campaign(ready_shop, alice, django_capture_on_commit_callbacks)
    run_id = campaign.runs.get().pk
    # Back to planned (as before dispatch), and the shop opted out one phone since: the claim
    # drops it (re-checked) and hands the rest over.
    Message.objects.filter(campaign=campaign).update(status="planned", sent_at=None, text="")
    assert kept(campaign) == Counter({("planned", "pending"): 20})
    dropped_phone = Message.objects.filter(campaign=campaign).order_by("id").first().phone
    optout_record(shop_id=ready_shop.pk, phone=dropped_phone, keyword="TD", source="sms_reply")
    with time_machine.travel(MORNING + timedelta(minutes=10), tick=False):
        while dispatch_claim(run_id=run_id, limit=6) is not None:
            pass
    assert kept(campaign) == counted(campaign)
    assert kept(campaign)[("dropped", "pending")] == 1 and kept(campaign)[("sending", "pending")] == 19
    assert_stats_clean()


def test_reconcile_stats_is_clean_and_reports_a_tampered_counter(
    ready_shop, alice, silent_gateway, django_capture_on_commit_callbacks
):
    campaign = send_campaign(ready_shop, alice, django_capture_on_commit_callbacks)
    assert reconcile() == (0, "reconcile_stats: all campaigns checked, 0 discrepancies.\n")
    assert reconcile("--campaign", str(campaign.pk))[0] == 0
    tampered = MessageCounter.objects.filter(campaign_id=campaign.pk, status="accepted")
    tampered.update(messages=F("messages") + 1)
    code, out = reconcile()
    assert code == 1
    assert f"campaign {campaign.pk} run {campaign.runs.get().pk}" in out and "status=accepted" in out
    assert "counters (messages, parts, links)=(21, 20, 0), " in out
    assert "message rows (messages, parts, links)=(20, 20, 0)" in out
    assert "1 discrepancies" in out
    assert reconcile("--campaign", str(campaign.pk + 1000))[0] == 0  # another campaign: clean
    # An hour counter tampered as well: both reported.
    HourCounter.objects.filter(campaign_id=campaign.pk).update(messages=F("messages") - 1)
    assert len(stats_reconcile(campaign_id=campaign.pk)) == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_dispatchers_report_callbacks_and_settlers_leave_the_counters_exact(
    ready_shop, alice, silent_gateway, django_capture_on_commit_callbacks
):
    campaign = send_campaign(ready_shop, alice, django_capture_on_commit_callbacks)
    run_id = campaign.runs.get().pk
    Message.objects.filter(campaign=campaign).update(status="planned", sent_at=None, text="")

    # Two dispatchers claim batches of one run at once (their counter updates hit the same rows).
    def dispatch(index: int) -> None:
        while dispatch_claim(run_id=run_id, limit=3) is not None:
            pass

    run_in_threads(dispatch, 2)
    assert kept(campaign) == counted(campaign) == Counter({("sending", "pending"): 20})
    ids = list(Message.objects.filter(campaign=campaign).order_by("id").values_list("id", flat=True))
    at = MORNING + timedelta(minutes=5)

    # Four callbacks send every report (duplicates), each in its own order, one by one or batched.
    def callbacks(index: int) -> None:
        reports = [(pk, "delivered" if i % 3 else "failed", at, None) for i, pk in enumerate(ids)]
        reports = reports[index::1] + reports[:index]
        if index % 2:
            for start in range(0, len(reports), 4):
                delivery_reports_apply(reports=reports[start : start + 4])
        else:
            for pk, status, when, raw in reports:
                delivery_report_apply(message_id=pk, status=status, at=when, raw=raw)

    run_in_threads(callbacks, 4)
    run_in_threads(lambda index: delivery_settle(limit=3), 2)
    assert kept(campaign) == counted(campaign)
    assert kept(campaign) == Counter({("delivered", "charged"): 13, ("failed", "released"): 7})
    assert_stats_clean()


MESSAGE_TABLE = re.compile(r'\b"?campaigns_message"?(?![a-z_])')


def cold_page(client, url: str) -> tuple[int, list[str]]:
    """The page's queries with a flushed cache (a deploy, a Redis restart): how many, and those
    that read the message table."""
    cache.clear()
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured), [q["sql"] for q in captured if MESSAGE_TABLE.search(q["sql"])]


def test_a_cold_cache_does_not_change_the_pages_cost_and_the_list_and_dashboard_read_no_message(
    client, alice, alice_shop
):
    now = timezone.now()
    campaigns = Campaign.objects.bulk_create(
        Campaign(shop=alice_shop, kind="marketing", name=f"营销{i}", status="completed", text="t",
                 created_by=alice, started_at=now, finished_at=now)
        for i in range(3)
    )  # fmt: skip
    runs = [CampaignRun.objects.create(campaign=c, status="finished") for c in campaigns]

    def add(n: int, start: int) -> None:
        statuses = ["delivered", "failed", "suppressed", "expired"]
        Message.objects.bulk_create(
            Message(campaign=c, run=r, shop=alice_shop, phone=f"139{start + i:08d}", status=statuses[i % 4],
                    parts=1, sent_at=now - timedelta(hours=i % 5), final_at=now,
                    settlement="none" if i % 4 == 2 else "charged")
            for c, r in zip(campaigns, runs, strict=True) for i in range(n)
        )  # fmt: skip

    add(10, 0)
    client.force_login(alice)
    pages = [
        reverse("portal:dashboard", args=[alice_shop.pk]),
        reverse("campaigns:list", args=[alice_shop.pk]),
        reverse("campaigns:detail", args=[alice_shop.pk, campaigns[0].pk]),
        reverse("campaigns:progress", args=[alice_shop.pk, campaigns[0].pk]),
    ]
    few = {url: cold_page(client, url) for url in pages}
    add(1000, 10_000)
    many = {url: cold_page(client, url) for url in pages}
    assert {u: n for u, (n, _) in many.items()} == {u: n for u, (n, _) in few.items()}
    dashboard, campaign_list, detail, progress = (many[url][1] for url in pages)
    assert dashboard == [] and campaign_list == []
    # The statistics read the message table only to probe, per opt-out since the start, whether
    # the campaign sent to that phone (the unique (run, phone) index).
    assert len(progress) == 1 and 'FROM "campaigns_optout"' in progress[0]
    # The campaign's page: that probe, the text one recipient received (LIMIT 1) and the last test
    # messages (by their runs); no holdout here, so no groups' comparison (docs/PERFORMANCE.md).
    # Its statistics, chart, funnel, clicks and attributed orders come from the counters.
    assert len(detail) == 3, detail
    html = client.get(pages[2]).content.decode()
    assert '<strong id="stat-delivered">253</strong>' in html  # 1010 messages, a quarter delivered


# --- clicks and attributed orders (ClickCounter, OrderCounter) ----------------------------------

PHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"


@pytest.fixture
def results_campaign(request, alice, ready_shop) -> Campaign:
    """The results pages' A/B campaign with a holdout, its clicks and attributed orders."""
    return request.getfixturevalue("results_pages_campaign")


def with_codes(campaign: Campaign) -> list[Message]:
    """The campaign's sent messages, each given a short-link code (ordered by id)."""
    messages = list(Message.objects.filter(campaign=campaign).exclude(status="holdout").order_by("id"))
    for message in messages:
        message.link_code = f"c2{message.pk:08d}"
    Message.objects.bulk_update(messages, ["link_code"])
    return messages


def clicks_kept(campaign: Campaign) -> tuple[int, int]:
    rows = ClickCounter.objects.filter(campaign_id=campaign.pk)
    return sum(r.clicks for r in rows), sum(r.unique_clicks for r in rows)


def orders_kept(campaign: Campaign) -> tuple[int, Decimal, int]:
    rows = OrderCounter.objects.filter(campaign_id=campaign.pk)
    revenue = sum((r.revenue for r in rows), Decimal(0))
    return sum(r.orders for r in rows), revenue, sum(r.converted for r in rows)


def test_it_counts_human_clicks_and_first_clicks_in_the_redirects_own_statement(results_campaign):
    # The fixture's 7 human taps on 6 messages (and a previewer's HEAD) were counted as written.
    assert clicks_kept(results_campaign) == (7, 6)
    assert_stats_clean()
    first, *_rest = with_codes(results_campaign)  # variant A, tapped once already
    untouched = Message.objects.get(campaign=results_campaign, phone=phones(20)[5])
    untouched.link_code = "c2untouch"
    untouched.save(update_fields=["link_code"])
    with CaptureQueriesContext(connection) as captured:
        assert link_follow(code=untouched.link_code, method="GET", user_agent=PHONE_UA, client="10.0.0.1")
    # The redirect's statements are unchanged: the counters are kept by the click's INSERT.
    assert len([q for q in captured if "campaigns_click" in q["sql"]]) == 1
    assert not any("clickcounter" in q["sql"] or "clickedmessage" in q["sql"] for q in captured)
    assert clicks_kept(results_campaign) == (8, 7)
    assert link_follow(code=untouched.link_code, method="GET", user_agent=PHONE_UA, client="10.0.0.1")
    assert link_follow(code=first.link_code, method="GET", user_agent=PHONE_UA, client="10.0.0.2")
    assert clicks_kept(results_campaign) == (10, 7)  # two more taps, no new person
    assert link_follow(code=untouched.link_code, method="HEAD", user_agent=PHONE_UA, client="10.0.0.1")
    assert link_follow(code=first.link_code, method="GET", user_agent="WhatsApp/2.23", client="10.0.0.3")
    assert clicks_kept(results_campaign) == (10, 7)  # a HEAD and a previewer count for nothing
    a = results_campaign.variants.get(name="A")
    assert ClickCounter.objects.get(campaign_id=results_campaign.pk, variant_id=a.pk).unique_clicks == 3
    results = campaign_results(campaign=results_campaign)
    assert (results.clicks, results.unique_clicks) == (10, 7)
    assert [v.unique_clicks for v in results.variants] == [3, 4]
    assert_stats_clean()
    # Deleting a message deletes its clicks (and its first click) with it.
    untouched.delete()
    assert clicks_kept(results_campaign) == (8, 6)
    assert not ClickedMessage.objects.filter(message_id=untouched.pk).exists()
    assert_stats_clean()


def test_it_counts_attributed_orders_at_ingest_update_reattribution_and_delete(results_campaign, alice):
    # The fixture's ¥80 on A and ¥100 + ¥50 on B (the held-out ¥30 is attributed to nobody).
    assert orders_kept(results_campaign) == (3, Decimal("230.00"), 3)
    a, b = results_campaign.variants.order_by("position")
    buyer = Message.objects.filter(campaign=results_campaign, variant=a).order_by("id").first()  # ordered ¥80
    # Ingest: a second order of the same buyer (a delivery touch 49 minutes ago): attributed.
    report = orders_upsert(
        shop=results_campaign.shop,
        rows=[{"order_no": "NO-9", "phone": buyer.phone, "amount": "20", "placed_at": timezone.now()}],
    )
    assert not report.rejected
    assert Order.objects.get(order_no="NO-9").attributed_message_id == buyer.pk
    assert orders_kept(results_campaign) == (4, Decimal("250.00"), 3)  # the same person: still 3 converted
    # The same order again with another amount: an update.
    orders_upsert(
        shop=results_campaign.shop,
        rows=[{"order_no": "NO-9", "phone": buyer.phone, "amount": "25", "placed_at": timezone.now()}],
    )
    assert orders_kept(results_campaign) == (4, Decimal("255.00"), 3)
    # Re-attribution moving an order to another message (and variant): B's ¥50 order's touch goes.
    Order.objects.filter(order_no="NO-3").update(attributed_message=buyer)
    figures = {v.name: v for v in campaign_results(campaign=results_campaign).variants}
    assert (figures["A"].attributed_orders, figures["A"].attributed_revenue) == (3, Decimal("155.00"))
    assert (figures["B"].attributed_orders, figures["B"].attributed_revenue) == (1, Decimal("100.00"))
    assert orders_kept(results_campaign) == (4, Decimal("255.00"), 2)  # B's second buyer no longer converted
    orders_reattribute(since=timezone.now() - timedelta(days=1), shop_id=results_campaign.shop_id)
    assert_stats_clean()
    # Deletes (the shop's orders removed) subtract.
    Order.objects.filter(order_no__in=["NO-9", "NO-1"]).delete()
    results = campaign_results(campaign=results_campaign)
    assert (results.attributed_orders, results.attributed_revenue) == orders_kept(results_campaign)[:2]
    assert_stats_clean()


def test_reconcile_stats_reports_a_tampered_click_or_order_counter(results_campaign):
    assert reconcile() == (0, "reconcile_stats: all campaigns checked, 0 discrepancies.\n")
    ClickCounter.objects.filter(campaign_id=results_campaign.pk).update(clicks=F("clicks") + 1)  # A and B
    OrderCounter.objects.filter(campaign_id=results_campaign.pk, orders=1).update(revenue=F("revenue") + 1)
    code, out = reconcile("--campaign", str(results_campaign.pk))
    assert code == 1 and "counters (clicks)=" in out and "(attributed orders, revenue, converted)" in out
    assert "3 discrepancies" in out


@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_clicks_on_one_message_count_eight_clicks_and_one_unique(results_campaign):
    message = Message.objects.filter(campaign=results_campaign, status="delivered").order_by("-id").first()
    message.link_code = "c2race0001"
    message.save(update_fields=["link_code"])
    before = clicks_kept(results_campaign)

    # Race: eight first clicks of one message at once, each in its own transaction: the
    # ClickedMessage key lets one of them count the person.
    run_in_threads(
        lambda i: link_follow(code="c2race0001", method="GET", user_agent=PHONE_UA, client=f"10.0.1.{i}"), 8
    )
    assert clicks_kept(results_campaign) == (before[0] + 8, before[1] + 1)
    assert ClickedMessage.objects.filter(message_id=message.pk).count() == 1
    assert_stats_clean()


CLICK_OR_ORDER_TABLE = re.compile(r'\b"?campaigns_(click|order)"?(?![a-z_])')


def cold_reads(client, url: str, headers: dict | None = None) -> tuple[int, list[str]]:
    """With a flushed cache: how many queries, and those reading click or order rows."""
    cache.clear()
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, headers=headers or {}).status_code == 200
    return len(captured), [q["sql"] for q in captured if CLICK_OR_ORDER_TABLE.search(q["sql"])]


def test_a_cold_cache_does_not_change_the_results_cost_and_no_click_or_order_row_is_read(
    client, alice, results_campaign
):
    """The campaign's page (with a holdout and an A/B test) and the API's report, with few and
    with many clicks and attributed orders: the same statements; clicks, unique clicks,
    attributed orders and the holdout groups' comparison come from their counters."""
    _key, token = make_api_key(results_campaign.shop, scopes=["reports"])
    client.force_login(alice)
    page = reverse("campaigns:detail", args=[results_campaign.shop_id, results_campaign.pk])
    api = f"/api/v1/campaigns/{results_campaign.pk}/report"
    assert client.get(api, headers=bearer(token)).status_code == 200  # the key's first use is written once
    few = [cold_reads(client, page), cold_reads(client, api, bearer(token))]
    sent = list(Message.objects.filter(campaign=results_campaign, status="delivered"))
    now = timezone.now()
    Click.objects.bulk_create(
        Click(message=m, campaign_id=m.campaign_id, shop_id=m.shop_id, phone=m.phone, at=now, human=True)
        for m in sent for _i in range(40)
    )  # fmt: skip
    Order.objects.bulk_create(
        Order(shop_id=m.shop_id, order_no=f"BULK-{m.pk}-{i}", phone=m.phone, amount=Decimal("1.00"),
              placed_at=now, attributed_message=m, attributed_campaign_id=m.campaign_id,
              attributed_touch="click", attributed_touch_at=now)
        for m in sent for i in range(20)
    )  # fmt: skip
    many = [cold_reads(client, page), cold_reads(client, api, bearer(token))]
    assert [n for n, _ in many] == [n for n, _ in few]
    for _n, reads in many:
        assert reads == []  # the holdout comparison too (tests/campaigns/test_holdout_counters.py)
    report = client.get(api, headers=bearer(token)).json()
    assert (report["clicks"], report["unique_clicks"]) == (7 + 16 * 40, 16)
    assert report["attributed_orders"] == 3 + 16 * 20
    assert report["attributed_revenue"] == "550.00"
    assert_stats_clean()
