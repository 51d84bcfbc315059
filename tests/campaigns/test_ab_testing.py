"""A/B tests (issue 21): 2–5 variants checked like a campaign's text; the test run sends them to
the test share split evenly by the draw; when the test ends (or the merchant picks early) the
winner goes to the rest; never a second variant to anyone; holdout and A/B combine."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.db.models import Count
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule
from django_q.scheduler import scheduler

from campaigns.models import Campaign, CampaignRun, CampaignVariant, Message
from campaigns.services.ab_testing import (
    ab_test_end,
    ab_variant_figures,
    probability_best,
    two_proportion_p_value,
)
from campaigns.services.campaigns import (
    CampaignContentRejected,
    CampaignInvalid,
    campaign_create,
    campaign_dry_run,
    campaign_schedule,
)
from campaigns.services.links import link_follow
from campaigns.services.orders import orders_upsert
from campaigns.services.planning import plan_batch
from campaigns.services.sending import run_execute
from campaigns.services.variants import (
    AbTestDecided,
    VariantInput,
    ab_winner_pick,
    campaign_holdout_set,
    campaign_variants_set,
)
from reviews.models.templates import MessageTemplate
from smsmarketing.errors import SmsError
from tests.campaigns.campaign_fixtures import (
    MARKETING_TEXT,
    MORNING,
    assert_ledger_clean,
    import_customers,
    live_signature_for,
    phones,
)
from tests.factories import PASSWORD, make_active_account, make_approved_template, make_user

AUDIENCE = 300
TEXT_A = "夏季新品上架，全场满199元减20元，进店看看：${shop_link}"
TEXT_B = "夏日上新！满199元立减20元，限时三天，马上选购：${shop_link}"
PHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"


def draw(seed: int, phone: str) -> float:
    key = (seed & (2**64 - 1)).to_bytes(8, "big")
    return int.from_bytes(hashlib.blake2b(phone.encode(), key=key, digest_size=8).digest(), "big") / 2**64


def expected_split(campaign: Campaign, numbers: list[str], variants: int) -> dict[str, str]:
    """Each phone's group computed by hand: "held", a variant's name, or "rest"."""
    held, share = campaign.holdout_percent / 100, campaign.ab_test_percent / 100
    groups = {}
    for phone in numbers:
        u = draw(campaign.seed, phone)
        if u < held:
            groups[phone] = "held"
            continue
        v = (u - held) / (1 - held)
        groups[phone] = "ABCDE"[int(v / share * variants)] if v < share else "rest"
    return groups


@pytest.fixture
def ab_shop(alice, alice_shop, reviewer, pipeline_settings):
    pipeline_settings.SMS_GATEWAY = {
        "BACKEND": "campaigns.gateways.simulated.SimulatedGateway",
        "OPTIONS": {"fail_ratio": 0.1},
    }
    make_active_account(alice_shop, balance=5000, user=alice)
    live_signature_for(alice_shop, alice, reviewer)
    import_customers(alice_shop, [f"{p},客户{i},,,," for i, p in enumerate(phones(AUDIENCE))])
    return alice_shop


def ab_campaign(shop, user, *, holdout: int = 10, share: int = 40, metric: str = "clicks") -> Campaign:
    campaign = campaign_create(shop=shop, user=user, kind="marketing", name="A/B 上新", text=TEXT_A)
    campaign_holdout_set(campaign=campaign, user=user, percent=holdout)
    campaign_variants_set(
        campaign=campaign,
        user=user,
        variants=[VariantInput(text=TEXT_A), VariantInput(text=TEXT_B)],
        test_percent=share,
        test_hours=4,
        metric=metric,
    )
    return Campaign.objects.get(pk=campaign.pk)


def click(message: Message, *, times: int = 1, agent: str = PHONE_UA, method: str = "GET") -> None:
    for _ in range(times):
        assert link_follow(code=message.link_code, method=method, user_agent=agent, client="10.0.0.1")


@pytest.mark.django_db
def test_it_runs_an_ab_test_to_its_end_on_a_frozen_clock_and_sends_the_winner_to_the_rest(
    ab_shop, alice, django_capture_on_commit_callbacks
):
    with time_machine.travel(MORNING, tick=False):
        campaign = ab_campaign(ab_shop, alice)
        expected = expected_split(campaign, phones(AUDIENCE), 2)
        sizes = Counter(expected.values())
        assert sizes["A"] > 20 and sizes["B"] > 20 and sizes["held"] > 10
        dry = campaign_dry_run(campaign=campaign)
        assert (dry.recipients, dry.holdout) == (AUDIENCE, sizes["held"])
        assert dry.sendable == AUDIENCE - sizes["held"]
        with django_capture_on_commit_callbacks(execute=True):
            campaign_schedule(campaign=campaign, user=alice)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING  # the test run is done; the test is not
    test_run = campaign.runs.get()
    assert (test_run.phase, test_run.status) == (CampaignRun.Phase.AB_TEST, CampaignRun.Status.FINISHED)
    messages = Message.objects.filter(run=test_run)
    variants = {v.name: v for v in campaign.variants.all()}
    groups = {m.phone: ("held" if m.status == "holdout" else m.variant.name) for m in messages}
    assert groups == {p: g for p, g in expected.items() if g != "rest"}
    for message in messages.exclude(status="holdout"):
        source = (TEXT_A if message.variant.name == "A" else TEXT_B).split("${")[0]
        assert message.body.startswith(source) and message.link_code

    # Clicks: B's recipients click far more (previewers and HEAD requests do not count).
    delivered = {name: list(messages.filter(variant=v, status="delivered")) for name, v in variants.items()}
    with time_machine.travel(MORNING + timedelta(hours=1), tick=False):
        for message in delivered["A"][:2]:
            click(message, times=2)
            click(message, agent="WhatsApp/2.23.20.0")
        for message in delivered["B"][:10]:
            click(message)
            click(message, method="HEAD")
    figures = {row["name"]: row for row in ab_variant_figures(campaign=campaign)}
    assert (figures["A"]["unique_clicks"], figures["B"]["unique_clicks"]) == (2, 10)
    assert figures["A"]["recipients"] == sizes["A"] and figures["B"]["recipients"] == sizes["B"]
    assert figures["B"]["probability_best"] > 0.9 and figures["B"]["leader"]
    assert figures["A"]["p_value"] is not None and figures["B"]["p_value"] is None

    # Not yet: three hours in, the test goes on.
    with time_machine.travel(MORNING + timedelta(hours=3), tick=False):
        assert ab_test_end(campaign_id=campaign.pk) == "not due"
    # Four hours after the start, the minute schedule ends it and the winner goes to the rest.
    Schedule.objects.filter(name="campaigns-end-ab-tests").update(next_run=MORNING + timedelta(hours=4))
    with time_machine.travel(MORNING + timedelta(hours=4, minutes=1), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            scheduler()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    winner = CampaignVariant.objects.get(campaign=campaign, won_at__isnull=False)
    assert (winner.name, winner.won_by) == ("B", "metric")
    winner_run = campaign.runs.get(phase=CampaignRun.Phase.AB_WINNER)
    assert winner_run.status == CampaignRun.Status.FINISHED
    rest = Message.objects.filter(run=winner_run)
    assert set(rest.values_list("phone", flat=True)) == {p for p, g in expected.items() if g == "rest"}
    assert not rest.filter(status="holdout").exists()
    assert set(rest.exclude(status="suppressed").values_list("variant__name", flat=True)) == {"B"}
    assert all(m.body.startswith(TEXT_B.split("${")[0]) for m in rest.exclude(status="suppressed"))
    # Nobody has two messages of the campaign; the holdout is one group over both runs.
    per_phone = Message.objects.filter(campaign=campaign).values("phone").annotate(n=Count("id"))
    assert {row["n"] for row in per_phone} == {1} and len(per_phone) == AUDIENCE
    assert Message.objects.filter(campaign=campaign, status="holdout").count() == sizes["held"]
    # The figures stay the test's: the winner's sends to the rest are not in them.
    figures = {row["name"]: row for row in ab_variant_figures(campaign=campaign)}
    assert figures["B"]["winner"] and not figures["A"]["winner"]
    assert figures["B"]["recipients"] == sizes["B"]
    # Run again (at-least-once delivery): nothing changes.
    with time_machine.travel(MORNING + timedelta(hours=5), tick=False):
        assert ab_test_end(campaign_id=campaign.pk) == "not running"
    assert campaign.runs.count() == 2
    assert_ledger_clean()


@pytest.mark.django_db
def test_it_never_sends_a_second_variant_even_when_the_winner_is_picked_while_the_test_is_planning(
    ab_shop, alice, settings, django_capture_on_commit_callbacks
):
    settings.SMS_PIPELINE = {**settings.SMS_PIPELINE, "PLAN_BATCH": 40}
    with time_machine.travel(MORNING, tick=False):
        campaign = ab_campaign(ab_shop, alice, holdout=0, share=50)
        campaign = campaign_schedule(campaign=campaign, user=alice, at=MORNING + timedelta(hours=1))
    with time_machine.travel(MORNING + timedelta(hours=1), tick=False):
        # The test run starts and plans one batch of 40, then the merchant picks A.
        campaign.start(at=MORNING + timedelta(hours=1))
        campaign.save()
        test_run = campaign.runs.get()
        CampaignRun.objects.filter(pk=test_run.pk).update(status=CampaignRun.Status.PLANNING)
        plan_batch(run_id=test_run.pk)  # claims the first batch
        plan_batch(run_id=test_run.pk)  # plans it
        assert 0 < Message.objects.filter(run=test_run).count() < AUDIENCE
        with django_capture_on_commit_callbacks(execute=True):
            winner_run = ab_winner_pick(
                campaign=campaign, user=alice, variant=campaign.variants.get(name="A")
            )
        # The winner's run went first, whole; now the test run finishes planning and sending.
        assert Message.objects.filter(run=winner_run).exists()
        with django_capture_on_commit_callbacks(execute=True):
            run_execute(run_id=test_run.pk)
    test_phones = set(Message.objects.filter(run=test_run).values_list("phone", flat=True))
    winner_phones = set(Message.objects.filter(run=winner_run).values_list("phone", flat=True))
    assert not test_phones & winner_phones
    assert test_phones | winner_phones == set(phones(AUDIENCE))
    variants_per_phone = (
        Message.objects.filter(campaign=campaign, variant__isnull=False)
        .values("phone")
        .annotate(n=Count("variant", distinct=True), m=Count("id"))
    )
    assert {(row["n"], row["m"]) for row in variants_per_phone} == {(1, 1)}
    assert CampaignVariant.objects.get(campaign=campaign, won_at__isnull=False).won_by == "merchant"
    # The test's end finds the winner picked.
    with time_machine.travel(MORNING + timedelta(hours=6), tick=False):
        assert ab_test_end(campaign_id=campaign.pk) in {"decided", "not running"}
    assert campaign.runs.count() == 2


def race(campaign: Campaign, variant: CampaignVariant, user, at) -> list[str]:
    """The merchant picks ``variant`` while the minute task ends the test, in two threads with
    their own database connections, released together."""
    barrier = threading.Barrier(2)
    results: list[str] = []

    def pick() -> None:
        barrier.wait()
        try:
            ab_winner_pick(campaign=campaign, user=user, variant=variant)
            results.append("merchant")
        except AbTestDecided:
            results.append("refused")
        finally:
            connection.close()

    def end() -> None:
        barrier.wait()
        try:
            results.append(ab_test_end(campaign_id=campaign.pk, now=at))
        finally:
            connection.close()

    threads = [threading.Thread(target=pick), threading.Thread(target=end)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.django_db(transaction=True)
def test_the_merchants_early_pick_and_the_automatic_end_at_once_give_one_winner_and_one_run(
    ab_shop, alice, django_capture_on_commit_callbacks
):
    outcomes = Counter()
    for attempt in range(3):
        with time_machine.travel(MORNING + timedelta(days=2 * attempt), tick=False):
            campaign = ab_campaign(ab_shop, alice, holdout=0, share=20)
            with django_capture_on_commit_callbacks(execute=True):
                campaign_schedule(campaign=campaign, user=alice)
        delivered_b = Message.objects.filter(run__campaign=campaign, variant__name="B", status="delivered")
        at = MORNING + timedelta(days=2 * attempt, hours=5)
        with time_machine.travel(at - timedelta(hours=1), tick=False):
            for message in delivered_b[:3]:
                click(message)  # the metric picks B; the merchant picks A
        with time_machine.travel(at, tick=True):
            results = race(campaign, campaign.variants.get(name="A"), alice, at)
        assert len(results) == 2
        winners = CampaignVariant.objects.filter(campaign=campaign, won_at__isnull=False)
        assert winners.count() == 1
        assert campaign.runs.filter(phase=CampaignRun.Phase.AB_WINNER).count() == 1
        won = winners.get()
        if won.won_by == "merchant":
            assert won.name == "A" and sorted(results) == ["decided", "merchant"]
        else:
            assert (won.name, won.won_by) == ("B", "metric") and sorted(results) == ["refused", "winner B"]
        outcomes[won.won_by] += 1
        per_phone = Message.objects.filter(campaign=campaign).values("phone").annotate(n=Count("id"))
        assert {row["n"] for row in per_phone} == {1}
    assert sum(outcomes.values()) == 3


@pytest.mark.django_db
def test_it_checks_every_variant_like_a_campaigns_text_and_writes_nothing_when_one_fails(ab_shop, alice):
    campaign = campaign_create(shop=ab_shop, user=alice, kind="marketing", name="A/B", text=MARKETING_TEXT)
    campaign_variants_set(
        campaign=campaign, user=alice, variants=[VariantInput(text=TEXT_A), VariantInput(text=TEXT_B)]
    )
    with pytest.raises(CampaignContentRejected) as refused:
        campaign_variants_set(
            campaign=campaign,
            user=alice,
            variants=[VariantInput(text=TEXT_A), VariantInput(text="全网最低价，加微信abc123领取")],
        )
    assert refused.value.message.startswith("版本 B：")
    assert {f.rule for f in refused.value.findings} >= {"TPL-ADLAW", "TPL-OFFSITE"}
    for variants, message in [
        ([VariantInput(text=TEXT_A)], "A/B 测试需要 2–5 个版本"),
        ([VariantInput(text=TEXT_A)] * 6, "A/B 测试需要 2–5 个版本"),
        ([VariantInput(text=TEXT_A), VariantInput(text="")], "版本 B：请填写短信内容或选择模板"),
        ([VariantInput(text=TEXT_A), VariantInput(text="满减${coupon_link}")], "版本 B："),
    ]:
        with pytest.raises(SmsError, match=message):
            campaign_variants_set(campaign=campaign, user=alice, variants=variants)
    coupon_template = make_approved_template(ab_shop)  # approved, but for coupon campaigns
    with pytest.raises(CampaignInvalid, match="版本 B：所选模板未审核通过或不适用于此类任务"):
        variants = [VariantInput(text=TEXT_A), VariantInput(template=coupon_template)]
        campaign_variants_set(campaign=campaign, user=alice, variants=variants)
    for bad in ({"test_percent": 1}, {"test_hours": 0}, {"metric": "revenue"}):
        with pytest.raises(CampaignInvalid):
            campaign_variants_set(campaign=campaign, user=alice, variants=[], **bad)
    # Nothing half-written: the first two variants are still there, unchanged.
    assert list(campaign.variants.values_list("name", "text")) == [("A", TEXT_A), ("B", TEXT_B)]
    repurchase = campaign_create(
        shop=ab_shop, user=alice, kind="repurchase", name="复购", text=MARKETING_TEXT,
        products=["T恤"], days_since_purchase=30,
    )  # fmt: skip
    with pytest.raises(CampaignInvalid, match="只有短信营销和定向优惠券任务"):
        campaign_variants_set(
            campaign=repurchase, user=alice, variants=[VariantInput(text=TEXT_A), VariantInput(text=TEXT_B)]
        )
    with time_machine.travel(MORNING, tick=False):
        campaign_schedule(campaign=campaign, user=alice, at=MORNING + timedelta(hours=1))
    with pytest.raises(SmsError, match="只有草稿"):
        campaign_variants_set(campaign=campaign, user=alice, variants=[])
    # Clearing the variants of a draft makes it a single-text campaign again.
    other = campaign_create(shop=ab_shop, user=alice, kind="marketing", name="单", text=MARKETING_TEXT)
    campaign_variants_set(
        campaign=other, user=alice, variants=[VariantInput(text=TEXT_A), VariantInput(text=TEXT_B)]
    )
    campaign_variants_set(campaign=other, user=alice, variants=[])
    assert not other.variants.exists()


def test_the_probability_best_and_the_p_value_match_figures_computed_by_hand():
    best = probability_best(successes=[10, 30], trials=[100, 100], seed=7)
    assert best[1] > 0.99 and abs(sum(best) - 1) < 1e-9
    assert best == probability_best(successes=[10, 30], trials=[100, 100], seed=7)  # reproducible
    even = probability_best(successes=[20, 20, 20], trials=[100, 100, 100], seed=1)
    assert all(abs(p - 1 / 3) < 0.02 for p in even)
    # z = (0.1 - 0.3) / sqrt(0.2 × 0.8 × (1/100 + 1/100)) = -3.5355; two-sided p = 0.000407.
    assert two_proportion_p_value(s1=10, n1=100, s2=30, n2=100) == pytest.approx(0.000407, abs=2e-6)
    assert two_proportion_p_value(s1=0, n1=100, s2=0, n2=100) is None
    assert two_proportion_p_value(s1=3, n1=0, s2=1, n2=10) is None


@pytest.mark.django_db
def test_the_admin_shows_a_campaigns_variants_and_seed_read_only(client, ab_shop, alice):
    campaign = ab_campaign(ab_shop, alice)
    make_user("ops", superuser=True)
    assert client.login(request=HttpRequest(), username="ops", password=PASSWORD)
    page = client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert TEXT_B in page and str(campaign.seed) in page
    assert 'name="variants-0-text"' not in page  # shown, not editable


@pytest.mark.django_db
def test_a_test_ending_in_the_quiet_hours_sends_its_winner_at_eight(
    ab_shop, alice, django_capture_on_commit_callbacks
):
    with time_machine.travel(MORNING, tick=False):
        campaign = ab_campaign(ab_shop, alice, holdout=0, share=30)
        campaign_variants_set(
            campaign=campaign, user=alice, variants=[VariantInput(text=TEXT_A), VariantInput(text=TEXT_B)],
            test_hours=12,
        )  # fmt: skip
        with django_capture_on_commit_callbacks(execute=True):
            campaign_schedule(campaign=campaign, user=alice)
    ends = MORNING + timedelta(hours=12)  # 22:00: quiet hours
    with time_machine.travel(ends, tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            assert ab_test_end(campaign_id=campaign.pk) == "winner A"  # no clicks: the lowest position
    winner_run = campaign.runs.get(phase=CampaignRun.Phase.AB_WINNER)
    assert winner_run.status == CampaignRun.Status.PENDING and not winner_run.messages.exists()
    resume = Schedule.objects.get(name=f"run-{winner_run.pk}-resume")
    assert resume.next_run == MORNING.replace(hour=8) + timedelta(days=1)
    with time_machine.travel(resume.next_run + timedelta(seconds=30), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            scheduler()
    winner_run.refresh_from_db()
    assert winner_run.status == CampaignRun.Status.FINISHED
    assert winner_run.messages.filter(variant__name="A").exists()
    assert not winner_run.messages.filter(sent_at__lt=resume.next_run).exists()


@pytest.mark.django_db
def test_the_order_metric_picks_the_variant_whose_recipients_ordered_most(
    ab_shop, alice, django_capture_on_commit_callbacks
):
    with time_machine.travel(MORNING, tick=False):
        campaign = ab_campaign(ab_shop, alice, holdout=10, share=60, metric="orders")
        with django_capture_on_commit_callbacks(execute=True):
            campaign_schedule(campaign=campaign, user=alice)
    test_run = campaign.runs.get()
    sent = Message.objects.filter(run=test_run, status="delivered").order_by("id")
    delivered = {name: list(sent.filter(variant__name=name)) for name in "AB"}
    held = list(Message.objects.filter(run=test_run, status="holdout")[:2])
    # Within the 24-hour delivery window: A's recipients order 5 times (one of them twice),
    # B's 3 times with more money; the holdout's orders are attributed to nothing.
    placed = (MORNING + timedelta(hours=2)).isoformat()
    rows = [{"order_no": f"A{i}", "phone": m.phone, "amount": "50", "placed_at": placed} for i, m in
            enumerate(delivered["A"][:4] + delivered["A"][:1])]  # fmt: skip
    rows += [{"order_no": f"B{i}", "phone": m.phone, "amount": "300", "placed_at": placed}
             for i, m in enumerate(delivered["B"][:3])]  # fmt: skip
    rows += [{"order_no": f"H{i}", "phone": m.phone, "amount": "80", "placed_at": placed}
             for i, m in enumerate(held)]  # fmt: skip
    with time_machine.travel(MORNING + timedelta(hours=3), tick=False):
        report = orders_upsert(shop=ab_shop, rows=rows)
    assert not report.rejected
    figures = {row["name"]: row for row in ab_variant_figures(campaign=campaign)}
    assert (figures["A"]["attributed_orders"], figures["A"]["converted"]) == (5, 4)
    assert figures["A"]["attributed_revenue"] == Decimal("250.00")
    assert (figures["B"]["attributed_orders"], figures["B"]["converted"]) == (3, 3)
    assert figures["B"]["attributed_revenue"] == Decimal("900.00")
    assert figures["A"]["rate"] == 4 / figures["A"]["delivered"]
    expected = "A" if 4 / figures["A"]["delivered"] >= 3 / figures["B"]["delivered"] else "B"
    with time_machine.travel(MORNING + timedelta(hours=4, minutes=1), tick=False):
        assert ab_test_end(campaign_id=campaign.pk) == f"winner {expected}"


@pytest.mark.django_db
def test_a_variant_sent_as_a_template_goes_out_as_approved_and_is_dropped_once_withdrawn(
    ab_shop, alice, django_capture_on_commit_callbacks
):
    template = make_approved_template(ab_shop, text="${shop_name}夏季上新，满199减20，进店看看：${shop_link}",
                                      use="marketing", name="上新模板", at=MORNING)  # fmt: skip
    runs = []
    variants = [VariantInput(text=TEXT_A), VariantInput(template=template)]
    for withdrawn in (False, True):
        day = MORNING + timedelta(days=3 * withdrawn)  # past FREQ-SHOP-2DAY of the first
        with time_machine.travel(day, tick=False):
            campaign = campaign_create(shop=ab_shop, user=alice, kind="marketing", name="模板", text=TEXT_A)
            campaign_variants_set(campaign=campaign, user=alice, variants=variants)
            campaign = campaign_schedule(campaign=campaign, user=alice, at=day)
            run = campaign.runs.get()
            # Planned first (as the run task starts it), then the template's approval goes or stays.
            campaign.start(at=timezone.now())
            campaign.save()
            CampaignRun.objects.filter(pk=run.pk).update(status=CampaignRun.Status.PLANNING)
            while not plan_batch(run_id=run.pk):
                pass
            if withdrawn:
                MessageTemplate.objects.filter(pk=template.pk).update(state="withdrawn")
            with django_capture_on_commit_callbacks(execute=True):
                assert run_execute(run_id=run.pk) == "finished"
        runs.append(run)
    sent_b = Message.objects.filter(run=runs[0], variant__name="B").exclude(status="dropped")
    assert sent_b.exists() and all(m.text.startswith("【爱丽丝服饰】爱丽丝服饰夏季上新") for m in sent_b)
    # Withdrawn: the run's remaining messages are dropped (both variants: one flag per run), released.
    statuses = set(Message.objects.filter(run=runs[1]).values_list("status", "reason", "settlement"))
    assert statuses == {("dropped", "TEMPLATE-NOT-APPROVED", "released")}
