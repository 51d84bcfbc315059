"""Bounded queries per page (no N+1): every page is loaded with few rows and with many,
and must run the same number of queries, below a fixed bound. Correctness only, not timing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, CampaignRun, Message
from reviews.models import MessageTemplate, Signature
from smsmarketing.models import RechargePackage
from smsmarketing.services import account_charge, account_grant, account_reserve, recharge
from smsmarketing.services.members import member_invite, member_role_change
from tests.campaigns.campaign_fixtures import MARKETING_TEXT, live_signature_for
from tests.factories import make_active_account, make_shop, make_user

# A page may run at most this many queries, whatever the number of rows behind it.
MAX_QUERIES = 30


def load(shop, owner, *, campaigns: int, messages: int, records: int, reviews: int) -> Campaign | None:
    """``campaigns`` campaigns (the first with ``messages`` messages), ``records`` of each
    account record kind, ``reviews`` pending templates and signatures of other shops."""
    now = timezone.now()
    created = Campaign.objects.bulk_create(
        Campaign(shop=shop, kind="marketing", name=f"营销{i}", status="completed", text=MARKETING_TEXT,
                 created_by=owner, started_at=now, finished_at=now)
        for i in range(campaigns)
    )  # fmt: skip
    if not created:
        _records_and_reviews(shop, owner, records=records, reviews=reviews)
        return None
    run = CampaignRun.objects.create(campaign=created[0], status="finished")
    statuses = ["delivered", "failed", "suppressed", "planned", "accepted"]
    Message.objects.bulk_create(
        Message(campaign=created[0], run=run, shop=shop, phone=f"1390000{i:04d}", status=statuses[i % 5],
                reason="DLR-FAILED" if i % 5 == 1 else "", parts=1, sent_at=now - timedelta(hours=i % 7),
                final_at=now, settlement="charged" if i % 5 == 0 else "none", text=MARKETING_TEXT)
        for i in range(messages)
    )  # fmt: skip
    _records_and_reviews(shop, owner, records=records, reviews=reviews)
    return created[0]


def _records_and_reviews(shop, owner, *, records: int, reviews: int) -> None:
    now = timezone.now()
    package = RechargePackage.objects.filter(active=True).order_by("units").first()
    for i in range(records):
        account_grant(shop_id=shop.pk, units=10, reason=f"发放{i}", actor=None)
        recharge(shop=shop, user=owner, package_id=package.pk)
        reference = f"perf:{shop.pk}:{i}"
        account_reserve(shop_id=shop.pk, parts=2, reference=reference)
        account_charge(reference=reference, parts=2, key=f"{reference}:charge")
    for i in range(reviews):
        other = make_shop(f"待审{shop.pk}-{i}")
        MessageTemplate.objects.create(
            shop=other,
            name=f"模板{i}",
            text="亲，您的${coupon_amount}优惠券已到账，点击${coupon_link}领取。",
            due_at=now + timedelta(days=1 + i % 3),
        )
        Signature.objects.create(shop=other, text=f"待审{other.pk}", normalized=f"待审{other.pk}", due_at=now)


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured)


@pytest.fixture
def shop_with_data(alice, alice_shop, reviewer):
    make_active_account(alice_shop, balance=100_000, user=alice)
    live_signature_for(alice_shop, alice, reviewer)
    return alice_shop


def merchant_pages(shop, campaign) -> list[str]:
    return [
        reverse("portal:dashboard", args=[shop.pk]),
        reverse("portal:account", args=[shop.pk]),
        reverse("portal:account_recharge_confirm", args=[shop.pk])
        + f"?package={RechargePackage.objects.filter(active=True).order_by('units').first().pk}",
        reverse("portal:account_recharges", args=[shop.pk]),
        reverse("portal:account_issuances", args=[shop.pk]),
        reverse("portal:account_consumption", args=[shop.pk]),
        reverse("campaigns:list", args=[shop.pk]),
        reverse("campaigns:detail", args=[shop.pk, campaign.pk]),
        reverse("campaigns:progress", args=[shop.pk, campaign.pk]),
        reverse("portal:notifications", args=[shop.pk]),
        reverse("portal:notification_settings", args=[shop.pk]),
    ]


ADMIN_QUEUES = ["/admin/reviews/messagetemplate/", "/admin/reviews/signature/"]


def test_it_runs_the_same_bounded_queries_on_merchant_pages_with_few_or_many_rows(
    client, alice, shop_with_data, django_assert_max_num_queries
):
    campaign = load(shop_with_data, alice, campaigns=2, messages=10, records=1, reviews=0)
    client.force_login(alice)
    few = {url: queries(client, url) for url in merchant_pages(shop_with_data, campaign)}
    load(shop_with_data, alice, campaigns=40, messages=0, records=30, reviews=0)
    Message.objects.bulk_create(
        Message(campaign=campaign, run=campaign.runs.first(), shop=shop_with_data, phone=f"1370000{i:04d}",
                status="delivered", parts=1, sent_at=timezone.now(), final_at=timezone.now())
        for i in range(2000)
    )  # fmt: skip
    many = {url: queries(client, url) for url in merchant_pages(shop_with_data, campaign)}
    assert many == few, "a page runs more queries with more rows (N+1)"
    for url in many:
        with django_assert_max_num_queries(MAX_QUERIES):
            assert client.get(url).status_code == 200


def test_it_runs_the_same_bounded_queries_on_the_review_queues_with_few_or_many_pending(
    client, alice, shop_with_data, django_assert_max_num_queries
):
    """The queue shows the findings stored on each row (never recomputed on a GET): the same
    queries for 2 or 60 pending items, whether their stored findings are current or not."""
    admin = make_user("perf-admin", superuser=True)
    load(shop_with_data, alice, campaigns=0, messages=0, records=0, reviews=2)
    client.force_login(admin)
    few = {url: queries(client, url) for url in ADMIN_QUEUES}
    load(shop_with_data, alice, campaigns=0, messages=0, records=0, reviews=60)  # stored nothing
    many = {url: queries(client, url) for url in ADMIN_QUEUES}
    assert many == few, "a review queue runs more queries with more pending items (N+1)"
    for url in ADMIN_QUEUES:
        with django_assert_max_num_queries(MAX_QUERIES):
            assert client.get(url).status_code == 200


def test_it_shows_the_review_queue_to_a_reviewer_within_the_bound(
    client, reviewer, alice, shop_with_data, django_assert_max_num_queries
):
    load(shop_with_data, alice, campaigns=0, messages=0, records=0, reviews=60)
    client.force_login(reviewer)
    for url in ADMIN_QUEUES:
        with django_assert_max_num_queries(MAX_QUERIES):
            assert client.get(url).status_code == 200


def test_it_runs_the_same_bounded_queries_on_the_members_page_with_2_or_20_members(
    client, alice, alice_shop, django_assert_max_num_queries
):
    """成员管理: the list with its users and the recent changes with their actors, O(1) queries."""

    def add_members(first: int, last: int) -> None:
        for i in range(first, last):
            make_user(f"member{i}")
            member = member_invite(shop=alice_shop, user=alice, username=f"member{i}", role="analyst")
            member_role_change(shop=alice_shop, user=alice, member=member, role="operator")

    add_members(0, 1)  # alice and one member
    client.force_login(alice)
    url = reverse("portal:members", args=[alice_shop.pk])
    few = queries(client, url)
    add_members(1, 19)  # 20 members, 38 audit rows
    assert queries(client, url) == few, "the members page runs more queries with more members (N+1)"
    with django_assert_max_num_queries(MAX_QUERIES):
        assert client.get(url).status_code == 200
