"""The dashboard after onboarding (open reviews, recent campaigns, balance trend), 消费记录 with
the campaign's name, the recharge confirmation's queries and the Chinese 404 page."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, CampaignRun, Message
from campaigns.services.campaigns import campaign_create
from campaigns.services.planning import run_plan
from reviews.models import MessageTemplate, Signature
from reviews.models.review import ReviewState
from smsmarketing.models import LedgerEntry, RechargePackage
from smsmarketing.services import account_charge, account_release, account_reserve
from tests.campaigns.campaign_fixtures import MARKETING_TEXT, MORNING, pipeline_settings, ready_shop  # noqa: F401
from tests.factories import make_active_account

pytestmark = pytest.mark.django_db

TEMPLATE_TEXT = "亲，您的${coupon_amount}优惠券已到账，点击${coupon_link}领取。"


@pytest.fixture
def merchant(client, alice):
    client.force_login(alice)
    return client


def dashboard(client, shop) -> str:
    response = client.get(reverse("portal:dashboard", args=[shop.pk]))
    assert response.status_code == 200
    return response.content.decode()


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def pending_template(
    shop, name: str, *, due_in: timedelta, version: int = 1, lineage=None
) -> MessageTemplate:
    fields = {"lineage": lineage} if lineage else {}
    return MessageTemplate.objects.create(
        shop=shop, name=name, text=TEMPLATE_TEXT, due_at=timezone.now() + due_in, version=version, **fields
    )


def reject(item, *, code: str = "banned_words", text: str = "") -> None:
    type(item).objects.filter(pk=item.pk).update(
        state=ReviewState.REJECTED, decided_at=timezone.now(), reason_code=code, reason_text=text
    )


def campaigns_with_results(shop, owner, n: int) -> list[Campaign]:
    now = timezone.now()
    created = Campaign.objects.bulk_create(
        Campaign(shop=shop, kind="marketing", name=f"会员日{i}", status="completed", text=MARKETING_TEXT,
                 created_by=owner, started_at=now, finished_at=now)
        for i in range(n)
    )  # fmt: skip
    for campaign in created:
        run = CampaignRun.objects.create(campaign=campaign, status="finished")
        Message.objects.bulk_create(
            Message(campaign=campaign, run=run, shop=shop, phone=f"1390000{i:04d}",
                    status="delivered" if i < 3 else "failed", parts=1, sent_at=now, final_at=now,
                    text=MARKETING_TEXT)
            for i in range(4)
        )  # fmt: skip
    return created


# --- the dashboard ------------------------------------------------------------------------


def test_it_shows_pending_reviews_with_their_due_time(merchant, alice_shop):
    make_active_account(alice_shop, balance=10)
    pending_template(alice_shop, "双11会员券", due_in=timedelta(days=2))
    soon = timezone.now() + timedelta(days=1)
    Signature.objects.create(shop=alice_shop, text="爱丽丝", normalized="爱丽丝", due_at=soon)
    page = dashboard(merchant, alice_shop)
    section = page.split('id="dashboard-reviews"')[1].split("</section>")[0]
    assert "双11会员券" in section and "【爱丽丝】" in section
    assert section.count("预计") == 2 and "已超时" not in section
    assert section.index("【爱丽丝】") < section.index("双11会员券")  # the earliest due first


def test_an_overdue_review_says_it_is_delayed_instead_of_promising_a_past_date(merchant, alice_shop):
    make_active_account(alice_shop, balance=10)
    pending_template(alice_shop, "双11会员券", due_in=-timedelta(hours=3))
    section = dashboard(merchant, alice_shop).split('id="dashboard-reviews"')[1].split("</section>")[0]
    assert "审核已延迟" in section and "已超时，平台正在加急处理" in section
    assert "预计" not in section


def test_it_shows_the_latest_rejections_with_their_reason_but_not_superseded_ones(merchant, alice_shop):
    make_active_account(alice_shop, balance=10)
    first = pending_template(alice_shop, "旧版模板", due_in=timedelta(days=1))
    reject(first, code="typo", text="第二句不通顺")
    newer = pending_template(
        alice_shop, "旧版模板", due_in=timedelta(days=1), version=2, lineage=first.lineage
    )
    reject(newer, code="banned_words", text="含“最低价”")
    earlier = timezone.now() - timedelta(days=3)
    old_signature = Signature.objects.create(
        shop=alice_shop, text="爱丽丝旧", normalized="爱丽丝旧", due_at=earlier, submitted_at=earlier
    )
    reject(old_signature, code="shop_mismatch")
    Signature.objects.create(shop=alice_shop, text="爱丽丝新", normalized="爱丽丝新",
                             due_at=timezone.now() + timedelta(days=2))
    section = dashboard(merchant, alice_shop).split('id="dashboard-reviews"')[1].split("</section>")[0]
    assert "含违禁词" in section and "含“最低价”" in section and "第二句不通顺" not in section
    assert reverse("reviews:template_edit", args=[alice_shop.pk, newer.pk]) in section
    assert "【爱丽丝新】" in section and "【爱丽丝旧】" not in section  # replaced by a newer submission


def test_another_shops_reviews_and_campaigns_are_not_shown(merchant, alice, alice_shop, bob, bob_shop):
    make_active_account(alice_shop, balance=10)
    pending_template(bob_shop, "鲍勃的模板", due_in=timedelta(days=1))
    campaigns_with_results(bob_shop, bob, 1)
    page = dashboard(merchant, alice_shop)
    assert "鲍勃的模板" not in page and "会员日0" not in page
    assert "没有待审核或被驳回的签名和模板" in page and "还没有营销任务" in page


def test_it_shows_recent_campaigns_with_their_results_and_the_balance_trend(merchant, alice, alice_shop):
    make_active_account(alice_shop, balance=10)
    campaigns = campaigns_with_results(alice_shop, alice, 7)
    page = dashboard(merchant, alice_shop)
    section = page.split('id="dashboard-campaigns"')[1].split("</section>")[0]
    shown = sorted((c for c in campaigns if f">{c.name}<" in section), key=lambda c: section.index(c.name))
    assert [c.name for c in shown] == [c.name for c in sorted(campaigns, key=lambda c: -c.pk)[:5]]
    assert reverse("campaigns:detail", args=[alice_shop.pk, shown[0].pk]) in section
    assert "成功 <strong>3</strong>" in section and "失败 <strong>1</strong>" in section
    assert "成功率 <strong>75%</strong>" in section
    assert 'id="dashboard-balance-chart"' in page and 'id="dashboard-usage-data"' in page


def test_the_setup_steps_give_way_once_every_step_is_done(merchant, alice, alice_shop, ready_shop):  # noqa: F811
    campaign_create(shop=alice_shop, user=alice, kind="marketing", name="首个任务", text=MARKETING_TEXT)
    page = dashboard(merchant, alice_shop)
    assert 'id="setup-steps"' not in page
    assert 'id="dashboard-reviews"' in page and "首个任务" in page


def test_a_restricted_shop_sees_no_activity_or_trend(client, charlie, charlie_shop):
    client.force_login(charlie)
    page = dashboard(client, charlie_shop)
    assert "dashboard-reviews" not in page and "dashboard-balance-chart" not in page


def test_the_dashboard_runs_the_same_queries_with_few_or_many_rows(merchant, alice, alice_shop):
    make_active_account(alice_shop, balance=100)
    url = reverse("portal:dashboard", args=[alice_shop.pk])
    campaigns_with_results(alice_shop, alice, 1)
    pending_template(alice_shop, "模板0", due_in=timedelta(days=1))
    few = count_queries(merchant, url)
    campaigns_with_results(alice_shop, alice, 30)
    for i in range(1, 25):
        template = pending_template(alice_shop, f"模板{i}", due_in=timedelta(days=1))
        if i % 2:
            reject(template)
    for i in range(40):
        account_reserve(shop_id=alice_shop.pk, parts=1, reference=f"r{i}", label=f"任务{i}")
    many = count_queries(merchant, url)
    assert many == few <= 20
    page = dashboard(merchant, alice_shop)
    reviews = page.split('id="dashboard-reviews"')[1].split("</section>")[0]
    assert reviews.count('class="review-item') == 5  # at most five templates (and five signatures)


# --- 消费记录 -------------------------------------------------------------------------------


def test_the_ledger_carries_the_label_from_the_reservation_to_its_charges_and_refunds(alice_shop):
    make_active_account(alice_shop, balance=20)
    label = "营销任务「夏季上新」"
    account_reserve(shop_id=alice_shop.pk, parts=9, reference="campaign:7:run:8:batch:1", label=label)
    account_charge(reference="campaign:7:run:8:batch:1", parts=5, key="c")
    account_release(reference="campaign:7:run:8:batch:1", parts=4, key="r")
    consumption = LedgerEntry.objects.filter(kind__in=LedgerEntry.CONSUMPTION_KINDS)
    labels = set(consumption.values_list("label", flat=True))
    assert labels == {"营销任务「夏季上新」"}


def test_planning_labels_its_reservation_with_the_campaign_name(ready_shop, alice):  # noqa: F811
    with time_machine.travel(MORNING, tick=False):
        campaign = campaign_create(
            shop=ready_shop, user=alice, kind="marketing", name="夏季上新", text=MARKETING_TEXT
        )
        Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.RUNNING, started_at=MORNING)
        run = CampaignRun.objects.create(campaign=campaign, status=CampaignRun.Status.PLANNING)
        assert run_plan(run_id=run.pk) is True
    entry = LedgerEntry.objects.get(kind=LedgerEntry.Kind.RESERVE)
    assert entry.label == "营销任务「夏季上新」" and entry.reference.startswith(f"campaign:{campaign.pk}:")


def test_consumption_records_name_and_link_the_campaign_instead_of_raw_references(merchant, alice_shop):
    make_active_account(alice_shop, balance=20)
    label = "营销任务「夏季上新」"
    account_reserve(shop_id=alice_shop.pk, parts=9, reference="campaign:7:run:8:batch:1", label=label)
    account_charge(reference="campaign:7:run:8:batch:1", parts=5, key="settle:charge:7:1")
    # An entry written before labels existed.
    account_reserve(shop_id=alice_shop.pk, parts=1, reference="campaign:5:run:6:batch:1")
    page = merchant.get(reverse("portal:account_consumption", args=[alice_shop.pk])).content.decode()
    link = reverse("campaigns:detail", args=[alice_shop.pk, 7])
    assert page.count(f'href="{link}"') == 2 and "营销任务「夏季上新」" in page
    assert f'href="{reverse("campaigns:detail", args=[alice_shop.pk, 5])}"' in page and "营销任务 #5" in page
    assert "campaign:7" not in page and "settle:" not in page
    overview = merchant.get(reverse("portal:account", args=[alice_shop.pk])).content.decode()
    assert f'href="{link}"' in overview and "campaign:7" not in overview


def test_consumption_records_run_the_same_queries_with_few_or_many_rows(merchant, alice_shop):
    make_active_account(alice_shop, balance=1_000)
    url = reverse("portal:account_consumption", args=[alice_shop.pk])
    account_reserve(shop_id=alice_shop.pk, parts=1, reference="campaign:1:run:1:batch:0", label="任务「甲」")
    few = count_queries(merchant, url)
    for i in range(60):
        reference = f"campaign:{i + 2}:run:1:batch:0"
        account_reserve(shop_id=alice_shop.pk, parts=2, reference=reference, label=f"营销任务「任务{i}」")
        account_charge(reference=reference, parts=1, key=f"k{i}")
    assert count_queries(merchant, url) == few


# --- the recharge confirmation --------------------------------------------------------------


def test_the_recharge_confirmation_runs_the_same_queries_with_few_or_many_rows(merchant, alice, alice_shop):
    make_active_account(alice_shop, balance=100)
    package = RechargePackage.objects.get(units=1_000)
    url = reverse("portal:account_recharge_confirm", args=[alice_shop.pk]) + f"?package={package.pk}"
    few = count_queries(merchant, url)
    for i in range(30):
        RechargePackage.objects.create(name=f"套餐{i}", units=100 + i, price="9.90")
        account_reserve(shop_id=alice_shop.pk, parts=1, reference=f"x{i}")
    assert count_queries(merchant, url) == few <= 8


# --- Django's error pages -------------------------------------------------------------------


def test_the_404_page_is_chinese_in_the_portal_look(merchant, alice_shop):
    response = merchant.get("/shop/999999/account/")
    body = response.content.decode()
    assert response.status_code == 404
    assert "页面不存在" in body and "返回商家后台首页" in body and 'class="topbar"' in body
    assert "Not Found" not in body and "The requested resource" not in body


def test_the_500_page_is_chinese_and_needs_no_request(client):
    from django.template.loader import render_to_string

    body = render_to_string("500.html")
    assert "系统繁忙" in body and "Server Error" not in body
