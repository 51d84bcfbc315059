"""The campaign list keeps the counts of campaigns that are over and settled (they never change
again) and always recounts live ones."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.core.cache import cache, caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import Campaign, CampaignRun, Message
from campaigns.selectors import _progress_key, campaign_statistics, campaign_timeline, campaigns_progress
from campaigns.services.optouts import optout_record, optout_resubscribe
from tests.campaigns.campaign_fixtures import MARKETING_TEXT


@pytest.fixture(autouse=True)
def empty_cache(settings):
    # A cache of its own, whatever CACHE_URL says (clear() on a Redis would flush the database).
    own = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "campaign-progress-tests",
        }
    }
    settings.CACHES = own
    cache.clear()
    yield
    settings.CACHES = own  # a test may have pointed it elsewhere (the Redis one)
    cache.clear()


def campaign_with(shop, owner, *, status: str, statuses: list[str]) -> Campaign:
    campaign = Campaign.objects.create(
        shop=shop, kind="marketing", name="营销", status=status, text=MARKETING_TEXT, created_by=owner
    )
    run = CampaignRun.objects.create(campaign=campaign, status="finished")
    now = timezone.now()
    Message.objects.bulk_create(
        Message(
            campaign=campaign, run=run, shop=shop, phone=f"1390000{i:04d}", status=s, parts=1, sent_at=now
        )
        for i, s in enumerate(statuses)
    )
    return campaign


def progress(campaign: Campaign) -> tuple[int, int]:
    """(queries run, delivered) of one call."""
    campaign = Campaign.objects.get(pk=campaign.pk)
    with CaptureQueriesContext(connection) as captured:
        stats = campaigns_progress(campaigns=[campaign])[campaign.pk]
    return len(captured), stats.delivered


def test_it_keeps_the_counts_of_a_campaign_that_is_over_and_settled(alice, alice_shop):
    done = campaign_with(
        alice_shop, alice, status="completed", statuses=["delivered", "failed", "suppressed"]
    )
    assert progress(done) == (2, 1)  # its runs (none in progress), then its messages
    assert progress(done) == (0, 1)  # from the cache: nothing can change it any more


def test_it_recounts_a_campaign_with_messages_still_in_flight(alice, alice_shop):
    live = campaign_with(alice_shop, alice, status="completed", statuses=["delivered", "accepted"])
    assert progress(live) == (2, 1)
    Message.objects.filter(campaign=live, status="accepted").update(status="delivered")
    assert progress(live) == (2, 2)  # the late report counts
    assert progress(live) == (0, 2)  # now settled, kept


def test_it_recounts_a_running_campaign(alice, alice_shop):
    running = campaign_with(alice_shop, alice, status="running", statuses=["delivered"])
    assert progress(running) == (1, 1)
    assert progress(running) == (1, 1)


def test_it_keeps_the_statistics_and_chart_of_a_settled_campaign_but_counts_new_opt_outs(alice, alice_shop):
    done = campaign_with(alice_shop, alice, status="completed", statuses=["delivered", "failed"])
    Campaign.objects.filter(pk=done.pk).update(started_at=timezone.now() - timedelta(hours=1))
    done = Campaign.objects.get(pk=done.pk)
    Message.objects.filter(campaign=done).update(settlement="charged", final_at=timezone.now())
    first = campaign_statistics(campaign=done)
    chart = campaign_timeline(campaign=done)
    optout_record(shop_id=alice_shop.pk, phone="13900000000", keyword="TD", source="sms_reply")
    with CaptureQueriesContext(connection) as captured:
        again = campaign_statistics(campaign=done)
        assert campaign_timeline(campaign=done) == chart
    assert len(captured) == 1  # only the opt-outs since the start are counted again
    assert (again.delivered, again.failed, again.parts_charged) == (first.delivered, first.failed, 2)
    assert (first.optouts_after, again.optouts_after) == (0, 1)


def test_with_a_shared_cache_it_keeps_the_opt_out_count_until_an_opt_out_changes(
    alice, alice_shop, settings, django_capture_on_commit_callbacks
):
    """CACHE_SHARED (a Redis in production; this process's cache here): a settled campaign's
    page runs no query at all while the shop's opt-outs are unchanged, and counts again, right
    away, after one is recorded or removed."""

    settings.CACHE_SHARED = True
    done = campaign_with(alice_shop, alice, status="completed", statuses=["delivered", "failed"])
    Campaign.objects.filter(pk=done.pk).update(started_at=timezone.now() - timedelta(hours=1))
    done = Campaign.objects.get(pk=done.pk)
    Message.objects.filter(campaign=done).update(settlement="charged", final_at=timezone.now())
    phone = Message.objects.filter(campaign=done).values_list("phone", flat=True).first()
    assert campaign_statistics(campaign=done).optouts_after == 0  # counts, keeps
    assert campaign_statistics(campaign=done).optouts_after == 0
    with CaptureQueriesContext(connection) as captured:
        assert campaign_statistics(campaign=done).optouts_after == 0
    assert len(captured) == 0

    with django_capture_on_commit_callbacks(execute=True):
        optout_record(shop_id=alice_shop.pk, phone=phone, keyword="TD", source="sms_reply")
    assert campaign_statistics(campaign=done).optouts_after == 1
    with CaptureQueriesContext(connection) as captured:
        assert campaign_statistics(campaign=done).optouts_after == 1
    assert len(captured) == 0
    with django_capture_on_commit_callbacks(execute=True):
        optout_resubscribe(
            shop_id=alice_shop.pk, phone=phone, consent_note="客户来电同意重新接收短信", actor=alice
        )
    assert campaign_statistics(campaign=done).optouts_after == 0

    cache.delete(f"optouts-version:v1:{alice_shop.pk}")  # evicted: a new version, counted again
    with CaptureQueriesContext(connection) as captured:
        assert campaign_statistics(campaign=done).optouts_after == 0
    assert len(captured) == 1


def test_it_never_keeps_the_counts_of_a_stopped_campaign_whose_run_is_still_planning(alice, alice_shop):
    # campaign_stop lets a run in progress finish: its messages are all final at the moment of
    # the count, yet the run goes on writing new ones.
    stopped = campaign_with(alice_shop, alice, status="stopped", statuses=["delivered"])
    run = stopped.runs.get()
    CampaignRun.objects.filter(pk=run.pk).update(status="planning")
    assert progress(stopped) == (2, 1)
    assert campaign_statistics(campaign=Campaign.objects.get(pk=stopped.pk)).delivered == 1
    Message.objects.create(
        campaign=stopped, run=run, shop=alice_shop, phone="13911112222", status="delivered", parts=1
    )
    assert progress(stopped)[1] == 2  # counted again: nothing was kept while the run was active
    assert campaign_statistics(campaign=Campaign.objects.get(pk=stopped.pk)).delivered == 2
    CampaignRun.objects.filter(pk=run.pk).update(status="finished")
    assert progress(stopped) == (2, 2)
    assert progress(stopped) == (0, 2)  # the run is over and every message final: kept now


def test_it_shares_kept_counts_between_processes_through_the_configured_cache(alice, alice_shop, settings):
    """What CACHE_URL buys: a count kept by one web process is read by another (here two
    separate backends on the machine's Redis, as two workers have), so workers count once."""

    redis = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
        "KEY_PREFIX": f"test-progress-{os.getpid()}",
    }
    done = campaign_with(alice_shop, alice, status="completed", statuses=["delivered", "failed"])
    settings.CACHES = {"default": dict(redis)}
    worker_one = caches["default"]
    try:
        assert progress(done) == (2, 1)
        settings.CACHES = {"default": dict(redis)}  # a new backend: another worker's
        assert caches["default"] is not worker_one
        assert progress(done) == (0, 1)
    finally:
        caches["default"].delete(_progress_key(done))
