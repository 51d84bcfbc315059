"""Segments (客户人群): tags whatever their case, a wrong condition named, edit, delete (refused
while a campaign needs the segment), and the members page with masked phones."""

from __future__ import annotations

import pytest
from django.db import connection
from django.http import HttpRequest
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campaigns.models import Campaign, CampaignRun, Customer, Segment
from campaigns.selectors import segment_count
from campaigns.services.audience import AudienceInvalid, segment_delete, segment_save
from campaigns.services.campaigns import campaign_create
from tests.campaigns.campaign_fixtures import MARKETING_TEXT
from tests.factories import PASSWORD


def login(client, user):
    assert client.login(request=HttpRequest(), username=user.username, password=PASSWORD)


def customers(shop, rows: list[tuple[str, list[str]]]) -> None:
    Customer.objects.bulk_create(Customer(shop=shop, phone=phone, tags=tags) for phone, tags in rows)


def test_it_matches_tags_whatever_their_case(alice, alice_shop):
    rows = [("13800138001", ["VIP"]), ("13800138002", ["vip"]), ("13800138003", ["Vip", "新客"])]
    customers(alice_shop, [*rows, ("13800138004", ["普通"])])
    segment = segment_save(shop=alice_shop, user=alice, name="VIP", tags_any=["vip", "VIP", " Vip "])
    assert segment.tags_any == ["vip"]  # one tag, as first typed: duplicates by case are one
    assert segment_count(segment=segment) == 3
    assert segment_count(segment=Segment(shop=alice_shop, tags_any=["新客"])) == 1


def test_it_names_the_field_of_a_wrong_condition_in_the_live_count(client, alice, alice_shop):
    login(client, alice)
    url = reverse("campaigns:segment_count", args=[alice_shop.pk])
    text = client.get(url, {"purchased_within_days": "abc"}).content.decode()
    assert "条件有误" in text and "最近 N 天内购买过" in text
    text = client.get(url, {"min_purchases": "5", "max_purchases": "2"}).content.decode()
    assert "条件有误" in text and "购买次数的下限不能大于上限" in text
    text = client.get(url, {"tags_any": "x" * 40}).content.decode()
    assert "包含任一标签" in text and "超过 32 个字" in text
    assert client.get(url, {"tags_any": "vip"}).content.decode().strip() == "0 位"


def test_it_edits_a_saved_segment(client, alice, alice_shop):
    customers(alice_shop, [("13800138001", ["VIP"]), ("13800138002", ["新客"])])
    segment = segment_save(shop=alice_shop, user=alice, name="VIP", tags_any=["VIP"])
    login(client, alice)
    url = reverse("campaigns:segment_edit", args=[alice_shop.pk, segment.pk])
    html = client.get(url).content.decode()
    assert 'value="VIP"' in html and "1 位" in html
    saved = client.post(url, {"name": "新客", "tags_any": "新客，vip"})
    assert saved.status_code == 302
    segment.refresh_from_db()
    assert (segment.name, segment.tags_any) == ("新客", ["vip", "新客"])
    assert segment_count(segment=segment) == 2


def test_it_refuses_to_change_a_segment_while_a_campaign_plans_with_it(alice, ready_shop):
    segment = segment_save(shop=ready_shop, user=alice, name="VIP", tags_any=["VIP"])
    campaign = campaign_create(shop=ready_shop, user=alice, kind="marketing", name="上新", segment=segment,
                               text=MARKETING_TEXT)  # fmt: skip
    Campaign.objects.filter(pk=campaign.pk).update(status="running")
    CampaignRun.objects.create(campaign=campaign, status="planning")
    with pytest.raises(AudienceInvalid, match="正在按此人群计算发送名单"):
        segment_save(shop=ready_shop, user=alice, segment=segment, name="改", tags_any=["新客"])
    segment.refresh_from_db()
    assert (segment.name, segment.tags_any) == ("VIP", ["VIP"])


def test_it_deletes_a_segment_after_a_confirmation_page(client, alice, alice_shop):
    segment = segment_save(shop=alice_shop, user=alice, name="VIP", tags_any=["VIP"])
    login(client, alice)
    url = reverse("campaigns:segment_delete", args=[alice_shop.pk, segment.pk])
    html = client.get(url).content.decode()
    assert "删除不可撤销" in html and 'id="confirm-delete"' in html
    assert Segment.objects.filter(pk=segment.pk).exists()  # a GET deletes nothing
    assert client.post(url).status_code == 302
    assert not Segment.objects.filter(pk=segment.pk).exists()


def test_it_refuses_to_delete_a_segment_a_scheduled_campaign_uses(client, alice, ready_shop):
    segment = segment_save(shop=ready_shop, user=alice, name="VIP", tags_any=["VIP"])
    campaign = campaign_create(
        shop=ready_shop, user=alice, kind="marketing", name="周末上新", segment=segment, text=MARKETING_TEXT
    )
    Campaign.objects.filter(pk=campaign.pk).update(status="scheduled")
    login(client, alice)
    url = reverse("campaigns:segment_delete", args=[ready_shop.pk, segment.pk])
    html = client.get(url).content.decode()
    assert "不能删除" in html and "周末上新" in html and 'id="confirm-delete"' not in html
    refused = client.post(url)
    assert "周末上新" in client.get(refused["Location"]).content.decode()
    assert Segment.objects.get(pk=segment.pk).archived_at is None
    with pytest.raises(AudienceInvalid, match="周末上新"):
        segment_delete(shop=ready_shop, user=alice, segment=segment)


def test_it_keeps_a_deleted_segment_for_the_finished_campaigns_that_used_it(client, alice, ready_shop):
    segment = segment_save(shop=ready_shop, user=alice, name="VIP", tags_any=["VIP"])
    campaign = campaign_create(shop=ready_shop, user=alice, kind="marketing", name="上新", segment=segment,
                               text=MARKETING_TEXT)  # fmt: skip
    Campaign.objects.filter(pk=campaign.pk).update(status="completed")
    segment_delete(shop=ready_shop, user=alice, segment=segment)
    segment.refresh_from_db()
    assert segment.archived_at is not None
    campaign.refresh_from_db()
    assert campaign.segment_id == segment.pk
    login(client, alice)
    assert (
        f'id="segment-{segment.pk}"'
        not in client.get(reverse("campaigns:segments", args=[ready_shop.pk])).content.decode()
    )
    new_form = client.get(reverse("campaigns:new", args=[ready_shop.pk]) + "?kind=marketing").content.decode()
    assert f'<option value="{segment.pk}"' not in new_form
    assert (
        client.get(reverse("campaigns:segment_members", args=[ready_shop.pk, segment.pk])).status_code == 404
    )


def test_it_lists_a_segments_members_a_page_at_a_time_with_masked_phones(client, alice, bob, alice_shop):
    customers(alice_shop, [(f"1380013{i:04d}", ["VIP"] if i % 2 else []) for i in range(120)])
    segment = segment_save(shop=alice_shop, user=alice, name="VIP", tags_any=["vip"])
    login(client, alice)
    url = reverse("campaigns:segment_members", args=[alice_shop.pk, segment.pk])
    html = client.get(url).content.decode()
    assert "共 60 位" in html and "第 1 / 2 页" in html
    assert "138****0001" in html and "13800130001" not in html
    assert html.count('class="phone-masked"') == 50
    second = client.get(url, {"page": 2}).content.decode()
    assert second.count('class="phone-masked"') == 10 and "138****0119" in second
    login(client, bob)
    assert client.get(url).status_code == 404


def test_it_reads_the_same_number_of_queries_for_a_members_page_of_few_and_many(client, alice, alice_shop):
    segment = segment_save(shop=alice_shop, user=alice, name="全部", tags_any=[])
    login(client, alice)
    url = reverse("campaigns:segment_members", args=[alice_shop.pk, segment.pk])

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    customers(alice_shop, [(f"1380013{i:04d}", ["VIP"]) for i in range(3)])
    few = queries()
    customers(alice_shop, [(f"1390013{i:04d}", ["VIP"]) for i in range(200)])
    assert queries() == few


def test_it_reads_the_same_number_of_queries_for_the_edit_and_delete_pages_of_few_and_many_campaigns(
    client, alice, ready_shop
):
    segment = segment_save(shop=ready_shop, user=alice, name="VIP", tags_any=["VIP"])
    login(client, alice)
    urls = [
        reverse("campaigns:segment_edit", args=[ready_shop.pk, segment.pk]),
        reverse("campaigns:segment_delete", args=[ready_shop.pk, segment.pk]),
    ]

    def queries() -> list[int]:
        counts = []
        for url in urls:
            with CaptureQueriesContext(connection) as captured:
                assert client.get(url).status_code == 200
            counts.append(len(captured))
        return counts

    def campaigns(n: int, status: str) -> None:
        for i in range(n):
            campaign = campaign_create(
                shop=ready_shop, user=alice, kind="marketing", name=f"任务{status}{i}", segment=segment,
                text=MARKETING_TEXT,
            )  # fmt: skip
            Campaign.objects.filter(pk=campaign.pk).update(status=status)

    campaigns(1, "scheduled")
    few = queries()
    campaigns(15, "scheduled")
    campaigns(15, "completed")
    assert queries() == few
