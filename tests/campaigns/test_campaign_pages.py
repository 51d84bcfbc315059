"""The merchant pages: import with preview, segments with live count, campaign page, export."""

from __future__ import annotations

import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpRequest
from django.urls import reverse

from campaigns.models import Campaign, CampaignRun, Customer, Message, Segment
from tests.campaigns.campaign_fixtures import MARKETING_TEXT, MORNING, assert_ledger_clean
from tests.factories import PASSWORD


def login(client, user):
    assert client.login(request=HttpRequest(), username=user.username, password=PASSWORD)


def test_it_previews_then_imports_an_uploaded_file(
    client, alice, alice_shop, django_capture_on_commit_callbacks
):
    login(client, alice)
    page = client.get(reverse("campaigns:customers", args=[alice_shop.pk]))
    assert page.status_code == 200 and "导入客户" in page.content.decode()
    upload = SimpleUploadedFile("c.csv", "手机号,姓名\n13800138000,张三\n123,坏号\n".encode("gbk"))
    with django_capture_on_commit_callbacks(execute=True):  # the check task runs (synchronously in tests)
        uploaded = client.post(reverse("campaigns:customers_import", args=[alice_shop.pk]), {"file": upload})
    preview = client.get(uploaded["Location"])
    body = preview.content.decode()
    assert preview.status_code == 200 and "BAD-PHONE" in body and not Customer.objects.exists()
    job = preview.context["job"]
    confirm = reverse("campaigns:customers_import_confirm", args=[alice_shop.pk, job.pk])
    with django_capture_on_commit_callbacks(execute=True):
        confirmed = client.post(confirm, {"figures": job.figures})
    assert confirmed["Location"] == uploaded["Location"]  # post/redirect/get
    report = client.get(uploaded["Location"])
    assert "成功导入 <strong>1</strong> 行" in report.content.decode()
    assert list(Customer.objects.values_list("phone", flat=True)) == ["13800138000"]
    with django_capture_on_commit_callbacks(execute=True):
        client.post(confirm, {"figures": job.figures})  # a second confirmation imports nothing more
    assert Customer.objects.count() == 1


def test_it_shows_a_live_segment_count_and_saves_the_segment(client, alice, ready_shop):
    login(client, alice)
    count = client.get(reverse("campaigns:segment_count", args=[ready_shop.pk]), {"tags_any": "VIP"})
    assert count.content.decode().strip() == "10 位"
    client.post(reverse("campaigns:segments", args=[ready_shop.pk]), {"name": "VIP", "tags_any": "VIP"})
    assert Segment.objects.get(shop=ready_shop).tags_any == ["VIP"]


def test_it_runs_a_campaign_from_its_page_and_exports_neutralised_rows(
    client, alice, bob, ready_shop, django_capture_on_commit_callbacks
):
    login(client, alice)
    with time_machine.travel(MORNING, tick=False):
        created = client.post(
            reverse("campaigns:new", args=[ready_shop.pk]) + "?kind=marketing",
            {"name": "上新", "text": MARKETING_TEXT, "segment": ""},
        )
        campaign = Campaign.objects.get(shop=ready_shop)
        assert created.status_code == 302
        detail = client.get(reverse("campaigns:detail", args=[ready_shop.pk, campaign.pk]))
        assert f"【爱丽丝服饰】{MARKETING_TEXT}拒收请回复R" in detail.content.decode()
        dry = client.get(reverse("campaigns:dry_run", args=[ready_shop.pk, campaign.pk]))
        assert dry.context["dry"].sendable == 20
        schedule = reverse("campaigns:schedule", args=[ready_shop.pk, campaign.pk])
        figures = client.get(schedule, {"when": "now"}).context["check"].token  # the confirmation
        with django_capture_on_commit_callbacks(execute=True):
            client.post(schedule, {"when": "now", "figures": figures})
    campaign.refresh_from_db()
    assert campaign.status == "completed"
    progress = client.get(reverse("campaigns:progress", args=[ready_shop.pk, campaign.pk]))
    assert progress.context["stats"].planned == 20
    Message.objects.filter(campaign=campaign).order_by("id").update(reason="=HYPERLINK(1)")
    export = client.get(reverse("campaigns:export", args=[ready_shop.pk, campaign.pk]))
    text = b"".join(export.streaming_content).decode("utf-8-sig")
    assert text.count("\n") == 21 and "'=HYPERLINK(1)" in text and ",=HYPERLINK" not in text
    login(client, bob)
    assert client.get(reverse("campaigns:detail", args=[ready_shop.pk, campaign.pk])).status_code == 404
    assert_ledger_clean()


def test_it_shows_content_findings_on_the_form(client, alice, ready_shop):
    login(client, alice)
    page = client.post(
        reverse("campaigns:new", args=[ready_shop.pk]) + "?kind=marketing",
        {"name": "x", "text": "全网最低价，快来抢购吧"},
    )
    assert page.status_code == 400 and "TPL-ADLAW" in page.content.decode()  # the form, with its errors
    assert not Campaign.objects.exists()


def test_it_lists_campaigns_and_opens_the_new_coupon_form(client, alice, ready_shop):
    login(client, alice)
    assert client.get(reverse("campaigns:list", args=[ready_shop.pk])).status_code == 200
    page = client.get(reverse("campaigns:new", args=[ready_shop.pk]) + "?kind=coupon")
    assert page.status_code == 200 and "优惠券到账提醒" in page.content.decode()
    assert client.get(reverse("campaigns:coupons", args=[ready_shop.pk])).status_code == 200


def test_it_lists_each_campaign_with_its_kind_status_time_counts_and_progress(client, alice, alice_shop):
    sent = Campaign.objects.create(
        shop=alice_shop, kind="marketing", name="夏季<上新>", status="completed", text=MARKETING_TEXT,
        created_by=alice, scheduled_at=MORNING,
    )  # fmt: skip
    run = CampaignRun.objects.create(campaign=sent, status="finished")
    statuses = ["delivered"] * 1200 + ["failed"] * 300 + ["accepted"] * 500 + ["suppressed"] * 7
    Message.objects.bulk_create(
        Message(campaign=sent, run=run, shop=alice_shop, phone=f"139{i:08d}", status=status, parts=1)
        for i, status in enumerate(statuses)
    )
    draft = Campaign.objects.create(
        shop=alice_shop, kind="repurchase", name="复购", status="draft", text=MARKETING_TEXT, created_by=alice
    )
    login(client, alice)
    html = client.get(reverse("campaigns:list", args=[alice_shop.pk])).content.decode()
    rows = html.split("<tbody>")[1].split("</tbody>")[0].split("<tr>")[1:]
    assert len(rows) == 2  # newest first
    assert f'<a href="/shop/{alice_shop.pk}/campaigns/{draft.pk}/" translate="no">复购</a>' in rows[0]
    kind_status = '<td data-label="类型">{}</td><td data-label="状态">'
    kind_status += '<span class="badge status-{}">{}</span></td>'
    assert kind_status.format("复购提醒", "draft", "草稿") in rows[0]
    assert '<td class="stack-wide" data-label="发送时间">—</td>' in rows[0] and "<progress" not in rows[0]
    sent_link = f'<a href="/shop/{alice_shop.pk}/campaigns/{sent.pk}/" translate="no">夏季&lt;上新&gt;</a>'
    assert sent_link in rows[1]
    assert kind_status.format("短信营销", "completed", "已完成") in rows[1]
    assert '<td class="stack-wide" data-label="发送时间">2026-06-01 10:00</td>' in rows[1]  # local time
    cells = '<td class="num" data-label="发送">2,000</td><td class="num" data-label="成功">1,200</td>'
    cells += '<td class="num" data-label="失败">300</td>'
    assert cells in rows[1]
    assert '<progress class="progress" max="100" value="75">75%</progress> 75%' in rows[1]


def test_it_pages_the_campaign_list_twenty_at_a_time_newest_first(client, alice, alice_shop):
    for i in range(25):
        Campaign.objects.create(
            shop=alice_shop, kind="marketing", name=f"任务{i:02d}", status="draft", text=MARKETING_TEXT,
            created_by=alice,
        )
    login(client, alice)
    url = reverse("campaigns:list", args=[alice_shop.pk])
    first = client.get(url).content.decode()
    second = client.get(url, {"page": 2}).content.decode()
    assert first.count('translate="no">任务') == 20 and second.count('translate="no">任务') == 5
    assert "任务24" in first and "任务05" in first and "任务04" not in first  # newest first
    assert "任务04" in second and "任务00" in second
    assert "第 1 / 2 页，共 25 个任务" in first and '<a href="?page=2">下一页</a>' in first
    assert '<a href="?page=1">上一页</a>' in second and "下一页" not in second
