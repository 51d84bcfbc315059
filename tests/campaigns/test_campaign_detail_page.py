"""The campaign's page (statistics page): the preview with the live signature, the shop's verified
phones and the last test messages, a settled campaign's counts, chart and opt-out count read in
one cache round trip, and that nothing kept is shown after it changed."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.core.cache import cache, caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns import forms
from campaigns.models import Campaign, CampaignRun, Message, VerifiedPhone
from campaigns.selectors import OPTOUTS_KEPT, _progress_key, campaign_report
from campaigns.services.optouts import optout_record, optout_resubscribe
from reviews.models import Signature
from tests.campaigns.campaign_fixtures import MARKETING_TEXT, live_signature_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_cache(settings):
    # A cache of its own, whatever CACHE_URL says (clear() on a Redis would flush the database).
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "detail-page"}
    }
    cache.clear()
    yield
    cache.clear()


def draft(shop, owner) -> Campaign:
    return Campaign.objects.create(
        shop=shop, kind="marketing", name="营销", status="draft", text=MARKETING_TEXT, created_by=owner
    )


def settled(shop, owner, statuses: list[str]) -> Campaign:
    """A completed campaign started an hour ago, its messages sent and charged."""
    now = timezone.now()
    campaign = Campaign.objects.create(
        shop=shop, kind="marketing", name="营销", status="completed", text=MARKETING_TEXT, created_by=owner,
        started_at=now - timedelta(hours=1), finished_at=now,
    )  # fmt: skip
    run = CampaignRun.objects.create(campaign=campaign, status="finished")
    Message.objects.bulk_create(
        Message(campaign=campaign, run=run, shop=shop, phone=f"1390000{i:04d}", status=status, parts=1,
                text=f"【爱丽丝服饰】{MARKETING_TEXT}拒收请回复R",
                sent_at=now - timedelta(minutes=30), final_at=now - timedelta(minutes=30),
                settlement="charged" if status == "delivered" else "released")
        for i, status in enumerate(statuses)
    )  # fmt: skip
    return campaign


def page(client, campaign) -> str:
    response = client.get(reverse("campaigns:detail", args=[campaign.shop_id, campaign.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_it_previews_with_the_live_signature_not_a_pending_one(
    client, alice, alice_shop, bob, bob_shop, reviewer
):
    campaign = draft(alice_shop, alice)
    live_signature_for(bob_shop, bob, reviewer, text="鲍勃商行")
    client.force_login(alice)
    assert "【您的签名】" in page(client, campaign)  # none yet: the placeholder (not another shop's)

    Signature.objects.create(shop=alice_shop, text="待审签名", normalized="待审签名", due_at=timezone.now())
    assert "【您的签名】" in page(client, campaign)  # a pending one is not live

    Signature.objects.filter(shop=alice_shop).delete()
    live_signature_for(alice_shop, alice, reviewer, text="爱丽丝服饰")
    Signature.objects.create(shop=alice_shop, text="新的签名", normalized="新的签名", due_at=timezone.now())
    html = page(client, campaign)
    assert "【爱丽丝服饰】" in html and "新的签名" not in html and "您的签名" not in html


def test_it_offers_test_sms_only_to_the_shops_verified_phones(client, alice, alice_shop, bob_shop):
    campaign = draft(alice_shop, alice)
    now = timezone.now()
    VerifiedPhone.objects.create(shop=alice_shop, phone="13900000002", verified_at=now)
    VerifiedPhone.objects.create(shop=alice_shop, phone="13900000001", verified_at=now)
    VerifiedPhone.objects.create(shop=alice_shop, phone="13900000003")  # code sent, never confirmed
    VerifiedPhone.objects.create(shop=bob_shop, phone="13900000004", verified_at=now)
    client.force_login(alice)
    html = page(client, campaign)
    assert (
        '<select name="phone" id="test-phone-select"><option value="13900000002">13900000002</option>'
        '<option value="13900000001">13900000001</option></select>'
    ) in html
    assert "13900000003" not in html and "13900000004" not in html


def test_it_offers_no_test_sms_form_without_a_verified_phone(client, alice, alice_shop):
    campaign = draft(alice_shop, alice)
    VerifiedPhone.objects.create(shop=alice_shop, phone="13900000003")
    client.force_login(alice)
    assert 'id="test-phone-select"' not in page(client, campaign)


def test_it_shows_a_settled_campaign_from_one_cache_read_and_no_query(alice, alice_shop, settings):
    """CACHE_SHARED (the machine's Redis, as in production): the view of a settled campaign's
    statistics and chart runs no query and reads the cache once (counts, chart, opt-out count
    and the shop's opt-out version)."""
    settings.CACHE_SHARED = True
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
            "KEY_PREFIX": f"test-detail-page-{os.getpid()}",
        }
    }
    redis = caches["default"]
    campaign = settled(alice_shop, alice, ["delivered", "delivered", "failed"])
    keys = [_progress_key(campaign, what) for what in ("stats", "timeline", OPTOUTS_KEPT)]
    keys.append(f"optouts-version:v1:{alice_shop.pk}")
    reads = []
    try:
        first = campaign_report(campaign=campaign)  # counts, keeps the counts and the chart
        assert campaign_report(campaign=campaign) == first  # keeps the opt-out count
        for name in ("get", "get_many"):  # this backend's reads, counted
            read = getattr(redis, name)
            setattr(redis, name, lambda *a, _r=read, _name=name, **k: reads.append(_name) or _r(*a, **k))
        with CaptureQueriesContext(connection) as captured:
            again = campaign_report(campaign=campaign)
    finally:
        redis.__dict__.pop("get", None), redis.__dict__.pop("get_many", None)
        redis.delete_many(keys)
    assert (len(captured), reads) == (0, ["get_many"])
    assert again == first and again.settled
    assert (again[0].delivered, again[0].failed, again[0].parts_charged, again[1]["sent"]) == (2, 1, 2, [3])


def test_it_counts_again_an_opt_out_after_it_is_recorded_or_removed(
    alice, alice_shop, settings, django_capture_on_commit_callbacks
):
    settings.CACHE_SHARED = True
    campaign = settled(alice_shop, alice, ["delivered", "failed"])
    assert campaign_report(campaign=campaign)[0].optouts_after == 0
    assert campaign_report(campaign=campaign)[0].optouts_after == 0  # kept
    with django_capture_on_commit_callbacks(execute=True):
        optout_record(shop_id=alice_shop.pk, phone="13900000000", keyword="TD", source="sms_reply")
    assert campaign_report(campaign=campaign)[0].optouts_after == 1
    with CaptureQueriesContext(connection) as captured:
        assert campaign_report(campaign=campaign)[0].optouts_after == 1
    assert len(captured) == 0  # kept again, under the new version
    with django_capture_on_commit_callbacks(execute=True):
        optout_resubscribe(
            shop_id=alice_shop.pk, phone="13900000000", consent_note="客户来电同意重新接收短信", actor=alice
        )
    assert campaign_report(campaign=campaign)[0].optouts_after == 0


def test_it_never_reads_an_opt_out_count_kept_under_an_older_version(
    alice, alice_shop, settings, django_capture_on_commit_callbacks
):
    """The race: a count taken just before an opt-out commits is stored after the shop got its
    new version. It carries the version read before counting, so it is not read again."""
    settings.CACHE_SHARED = True
    campaign = settled(alice_shop, alice, ["delivered", "failed"])
    assert campaign_report(campaign=campaign)[0].optouts_after == 0
    assert campaign_report(campaign=campaign)[0].optouts_after == 0
    key = _progress_key(campaign, OPTOUTS_KEPT)
    stale = cache.get(key)
    assert stale[1] == 0
    with django_capture_on_commit_callbacks(execute=True):
        optout_record(shop_id=alice_shop.pk, phone="13900000001", keyword="TD", source="sms_reply")
    cache.set(key, stale)  # the slow counter stores its count after the change
    assert campaign_report(campaign=campaign)[0].optouts_after == 1


def test_it_keeps_no_chart_of_a_campaign_still_waiting_for_reports(alice, alice_shop, settings):
    settings.CACHE_SHARED = True
    campaign = settled(alice_shop, alice, ["delivered", "accepted"])
    stats, chart, kept = campaign_report(campaign=campaign)
    assert (stats.delivered, chart["delivered"], kept) == (1, [1], False)
    Message.objects.filter(campaign=campaign, status="accepted").update(status="delivered")
    report = campaign_report(campaign=campaign)
    assert (report.stats.delivered, report.timeline["delivered"]) == (2, [2])  # the late report counts
    assert report.settled
    assert campaign_report(campaign=campaign) == report  # (keeps the opt-out count)
    with CaptureQueriesContext(connection) as captured:
        assert campaign_report(campaign=campaign) == report  # settled now: kept
    assert len(captured) == 0


def test_it_renders_the_test_phone_inputs_as_their_forms_do(client, alice, alice_shop):
    campaign = draft(alice_shop, alice)
    client.force_login(alice)
    html = page(client, campaign)
    phone = forms.TestPhoneForm()
    assert f'<label for="id_phone">手机号</label>{phone["phone"]}' in html
    assert 'name="code"' not in html  # asked for once a code was sent (test_test_phone_verification)


def optouts_cell(html: str) -> str:
    return html.split("<th>发送后退订</th>")[1].split("</td>")[0]


def test_it_shows_a_settled_campaigns_kept_statistics_with_each_new_opt_out_count(
    client, alice, alice_shop, settings, django_capture_on_commit_callbacks
):
    settings.CACHE_SHARED = True
    campaign = settled(alice_shop, alice, ["delivered", "delivered", "failed"])
    client.force_login(alice)
    first = page(client, campaign)  # counts, keeps the counts (the opt-out count on the next view)
    html = page(client, campaign)
    assert first.split('id="statistics">')[1] == html.split('id="statistics">')[1]
    section = html[html.index('<section class="card" id="statistics">'):]
    assert '<strong id="stat-delivered">2</strong>' in section
    assert '<strong id="stat-failed">1</strong>' in section
    assert '"sent": [3]' in section and f"/campaigns/{campaign.pk}/export/" in section
    assert optouts_cell(html) == '<td class="num">0'
    with django_capture_on_commit_callbacks(execute=True):
        optout_record(shop_id=alice_shop.pk, phone="13900000000", keyword="TD", source="sms_reply")
    assert optouts_cell(page(client, campaign)) == '<td class="num">1'


def test_it_renders_the_statistics_of_a_campaign_waiting_for_reports_each_time(client, alice, alice_shop):
    campaign = settled(alice_shop, alice, ["delivered", "accepted"])
    client.force_login(alice)
    assert '<strong id="stat-delivered">1</strong>' in page(client, campaign)
    Message.objects.filter(campaign=campaign, status="accepted").update(status="delivered")
    assert '<strong id="stat-delivered">2</strong>' in page(client, campaign)


def test_it_shows_a_settled_campaigns_page_with_four_queries_of_its_own_besides_the_results(
    client, alice, alice_shop, reviewer, settings
):
    """Besides the session, the user and the shop (every portal page): the campaign, its runs
    (the signature they were sent with), the text one recipient received and the last test
    messages; the statistics and the chart come from the cache. A finished campaign offers no
    test SMS (no verified phones read) and shows what was sent, not a preview (no live signature)."""
    settings.CACHE_SHARED = True
    live_signature_for(alice_shop, alice, reviewer)
    campaign = settled(alice_shop, alice, ["delivered", "failed"])
    client.force_login(alice)
    page(client, campaign), page(client, campaign)  # keeps counts, chart, then the opt-out count
    with CaptureQueriesContext(connection) as captured:
        assert "【爱丽丝服饰】" in page(client, campaign)
    tables = [q["sql"].split(" FROM ")[1].split()[0].strip('"') for q in captured]
    own = [table for table in tables if table.startswith(("campaigns_", "reviews_"))]
    # The results (campaigns/results.py) are read live, orders arriving for days after the send:
    # the funnel, the clicks and the attributed orders (each from its counters), the variants (none
    # here); no holdout (the funnel says so): the groups' comparison is not read.
    results = [
        "campaigns_messagecounter",
        "campaigns_clickcounter",
        "campaigns_ordercounter",
        "campaigns_campaignvariant",
    ]
    expected = ["campaigns_campaign", "campaigns_campaignrun", "campaigns_message", *results]
    expected.append("campaigns_message")
    assert own == expected, own


def test_it_lists_only_test_messages_when_the_campaign_was_sent_after_its_tests(client, alice, alice_shop):
    campaign = draft(alice_shop, alice)
    for i in range(2):
        run = CampaignRun.objects.create(campaign=campaign, kind="test", test_phone=f"1390000000{i}")
        Message.objects.create(campaign=campaign, run=run, shop=alice_shop, phone=run.test_phone, parts=1)
    audience = CampaignRun.objects.create(campaign=campaign, status="finished")
    Message.objects.create(campaign=campaign, run=audience, shop=alice_shop, phone="13800000000", parts=1)
    client.force_login(alice)
    response = client.get(reverse("campaigns:detail", args=[alice_shop.pk, campaign.pk]))
    assert [m.phone for m in response.context["test_messages"]] == ["13900000001", "13900000000"]
