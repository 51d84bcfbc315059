"""Frequency caps and send eligibility at their boundaries (DOMAIN.md rule ids)."""

from __future__ import annotations

from datetime import datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import transaction
from django_q.models import Schedule

from campaigns.models import FrequencyRule, PlatformCounter, PromotionPeriod, RuleSet, ShopCounter
from campaigns.services.frequency import (
    ReleaseItem,
    frequency_counters_purge_old,
    frequency_decide,
    frequency_release,
    frequency_release_many,
    next_send_window,
    ruleset_touch,
)
from campaigns.services.optouts import optout_record
from campaigns.tasks import purge_frequency_counters
from tests.factories import make_shop

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")
UTC = ZoneInfo("UTC")
PHONE = "13800138000"


def local(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A moment on day ``day`` of March 2026, Shanghai time."""
    return datetime(2026, 3, day, hour, minute, second, tzinfo=SH)


def send(shop, message_class: str, at: datetime, phone: str = PHONE, commit: bool = True):
    [decision] = frequency_decide(
        shop_id=shop.pk, message_class=message_class, phones=[phone], at=at, commit=commit
    )
    return decision


@pytest.fixture
def shops(db):
    return [make_shop(f"店铺{i}") for i in range(8)]


def marketing_count(phone: str = PHONE) -> int:
    return sum(PlatformCounter.objects.filter(phone=int(phone)).values_list("marketing", flat=True))


# --- FREQ-SHOP-2DAY and two-day windows as calendar days --------------------------------


def test_it_allows_one_marketing_message_per_shop_in_two_days(shops):
    assert send(shops[0], "marketing", local(2, 10)).allowed
    second = send(shops[0], "marketing", local(2, 11))
    assert (second.allowed, second.reason) == (False, "FREQ-SHOP-2DAY")
    assert marketing_count() == 1


def test_it_counts_two_days_as_calendar_days_not_48_hours(shops):
    assert send(shops[0], "marketing", local(1, 20, 30)).allowed
    assert send(shops[0], "marketing", local(2, 8, 30)).reason == "FREQ-SHOP-2DAY"
    # Day 3 at 08:30 is only 36 hours later, but day 1 has left the window.
    assert send(shops[0], "marketing", local(3, 8, 30)).allowed


def test_it_lets_another_shop_send_the_same_day(shops):
    assert send(shops[0], "marketing", local(2, 10)).allowed
    assert send(shops[1], "marketing", local(2, 10)).allowed


# --- platform caps -------------------------------------------------------------------------


def test_it_caps_marketing_at_three_per_day_across_shops(shops):
    for shop in shops[:3]:
        assert send(shop, "marketing", local(2, 10)).allowed
    fourth = send(shops[3], "marketing", local(2, 10))
    assert (fourth.allowed, fourth.reason) == (False, "FREQ-PLATFORM-DAY")
    assert marketing_count() == 3


def test_it_caps_marketing_at_five_per_two_days_across_shops(shops):
    for shop in shops[:3]:
        assert send(shop, "marketing", local(1, 10)).allowed
    assert send(shops[3], "marketing", local(2, 10)).allowed
    assert send(shops[4], "marketing", local(2, 10)).allowed
    sixth = send(shops[5], "marketing", local(2, 10))
    assert (sixth.allowed, sixth.reason) == (False, "FREQ-PLATFORM-2DAY")
    # Day 3: day 1's three have left the window; day 2's two remain.
    for shop in shops[5:8]:
        assert send(shop, "marketing", local(3, 10)).allowed
    assert send(shops[0], "marketing", local(3, 11)).reason == "FREQ-PLATFORM-DAY"


def test_it_reports_the_day_cap_before_the_two_day_cap_when_both_are_hit(shops):
    for shop in shops[:2]:
        assert send(shop, "marketing", local(1, 10)).allowed
    for shop in shops[2:5]:
        assert send(shop, "marketing", local(2, 10)).allowed
    assert send(shops[5], "marketing", local(2, 11)).reason == "FREQ-PLATFORM-DAY"


# --- the day boundary at midnight Asia/Shanghai -------------------------------------------


def test_it_starts_a_new_day_at_midnight_shanghai_time(shops):
    before_midnight = datetime(2026, 3, 1, 15, 59, tzinfo=UTC)  # 23:59 in Shanghai
    for _ in range(2):
        assert send(shops[0], "notify", before_midnight).allowed
    assert (
        send(shops[0], "notify", datetime(2026, 3, 1, 15, 59, 59, tzinfo=UTC)).reason
        == "FREQ-SHOP-NOTIFY-DAY"
    )
    # 16:10 UTC is 00:10 of 2 March in Shanghai: a new day, though still 1 March in UTC.
    assert send(shops[0], "notify", datetime(2026, 3, 1, 16, 10, tzinfo=UTC)).allowed
    days = dict(ShopCounter.objects.filter(phone=int(PHONE)).values_list("day", "notify"))
    assert days == {datetime(2026, 3, 1).date(): 2, datetime(2026, 3, 2).date(): 1}


def test_it_counts_an_event_at_1610_utc_on_the_next_local_day(shops):
    assert send(shops[0], "marketing", local(1, 20, 30)).allowed
    # 01:10 UTC on 3 March = 09:10 in Shanghai on day 3: allowed again.
    assert send(shops[0], "marketing", datetime(2026, 3, 3, 1, 10, tzinfo=UTC)).allowed


# --- notifications --------------------------------------------------------------------------


def test_it_caps_unsubscribable_notifications_at_five_per_shop_per_day(shops):
    for _ in range(5):
        assert send(shops[0], "notify_unsub", local(2, 23)).allowed
    sixth = send(shops[0], "notify_unsub", local(2, 23))
    assert (sixth.allowed, sixth.reason) == (False, "FREQ-SHOP-NOTIFY-UNSUB-DAY")
    assert send(shops[1], "notify_unsub", local(2, 23)).allowed
    assert send(shops[0], "notify_unsub", local(3, 0, 0)).allowed


def test_it_caps_other_notifications_at_two_per_shop_per_day(shops):
    assert send(shops[0], "notify", local(2, 3)).allowed
    assert send(shops[0], "notify", local(2, 4)).allowed
    assert send(shops[0], "notify", local(2, 5)).reason == "FREQ-SHOP-NOTIFY-DAY"
    assert send(shops[1], "notify", local(2, 5)).allowed


def test_it_counts_message_classes_separately(shops):
    assert send(shops[0], "marketing", local(2, 10)).allowed
    assert send(shops[0], "marketing", local(2, 10)).reason == "FREQ-SHOP-2DAY"
    for _ in range(5):
        assert send(shops[0], "notify_unsub", local(2, 10)).allowed
    for _ in range(2):
        assert send(shops[0], "notify", local(2, 10)).allowed
    row = ShopCounter.objects.get(phone=int(PHONE), shop=shops[0])
    assert (row.marketing, row.notify_unsub, row.notify) == (1, 5, 2)
    platform = PlatformCounter.objects.get(phone=int(PHONE), day=local(2, 10).date())
    assert (platform.marketing, platform.notify_unsub, platform.notify) == (1, 5, 2)


# --- failed messages are released ---------------------------------------------------------


def test_it_stops_counting_a_message_that_finally_failed(shops):
    accepted_at = local(2, 10)
    assert send(shops[0], "marketing", accepted_at).allowed
    frequency_release(shop_id=shops[0].pk, message_class="marketing", phone=PHONE, accepted_at=accepted_at)
    assert marketing_count() == 0
    assert send(shops[0], "marketing", local(2, 12)).allowed


def test_it_releases_on_the_day_the_message_was_accepted(shops):
    assert send(shops[0], "marketing", local(1, 20, 30)).allowed
    assert send(shops[1], "marketing", local(2, 9)).allowed
    # The day-1 message fails; its report arrives on day 2.
    frequency_release(
        shop_id=shops[0].pk, message_class="marketing", phone=PHONE, accepted_at=local(1, 20, 30)
    )
    counts = dict(PlatformCounter.objects.filter(phone=int(PHONE)).values_list("day", "marketing"))
    assert (counts[local(1, 0).date()], counts[local(2, 0).date()]) == (0, 1)
    assert send(shops[0], "marketing", local(2, 10)).allowed


def test_it_never_releases_below_zero(shops):
    at = local(2, 10)
    assert send(shops[0], "notify", at).allowed
    item = ReleaseItem(shop_id=shops[0].pk, message_class="notify", phone=PHONE, accepted_at=at)
    assert frequency_release_many([item, item, item]) == 3
    assert ShopCounter.objects.get(phone=int(PHONE), shop=shops[0]).notify == 0
    assert PlatformCounter.objects.get(phone=int(PHONE), day=at.date()).notify == 0


def test_it_ignores_releases_of_invalid_or_never_counted_phones(shops):
    assert (
        frequency_release_many(
            [
                ReleaseItem(
                    shop_id=shops[0].pk, message_class="notify", phone="12345", accepted_at=local(2, 10)
                )
            ]
        )
        == 0
    )
    frequency_release(
        shop_id=shops[0].pk, message_class="notify", phone="13900139000", accepted_at=local(2, 10)
    )
    assert not PlatformCounter.objects.exists()


# --- promotion periods ------------------------------------------------------------------------


@pytest.fixture
def double_eleven(db):
    relaxed = RuleSet.objects.create(name="双11放宽")
    for rule_id, scope, message_class, window, limit in [
        ("FREQ-PLATFORM-DAY", "platform", "marketing", 1, 5),
        ("FREQ-PLATFORM-2DAY", "platform", "marketing", 2, 8),
        ("FREQ-SHOP-2DAY", "shop", "marketing", 2, 2),
        ("FREQ-SHOP-NOTIFY-UNSUB-DAY", "shop", "notify_unsub", 1, 5),
        ("FREQ-SHOP-NOTIFY-DAY", "shop", "notify", 1, 2),
    ]:
        FrequencyRule.objects.create(
            ruleset=relaxed,
            rule_id=rule_id,
            scope=scope,
            message_class=message_class,
            window_days=window,
            limit=limit,
        )
    return PromotionPeriod.objects.create(
        name="双11", start_date=local(10, 0).date(), end_date=local(11, 0).date(), ruleset=relaxed
    )


def test_it_swaps_in_the_promotions_limits_for_its_dates(shops, double_eleven):
    first = send(shops[0], "marketing", local(10, 9))
    assert first.allowed and first.ruleset == "双11放宽"
    assert send(shops[0], "marketing", local(10, 10)).allowed
    assert send(shops[0], "marketing", local(10, 11)).reason == "FREQ-SHOP-2DAY"
    for shop in shops[1:4]:
        assert send(shop, "marketing", local(10, 12)).allowed
    assert (
        send(shops[4], "marketing", local(10, 12)).reason == "FREQ-PLATFORM-DAY"
    )  # 5 a day in the promotion


def test_it_goes_back_to_the_default_rules_the_day_after_the_promotion(shops, double_eleven):
    assert send(shops[0], "marketing", local(11, 12)).allowed
    assert send(shops[0], "marketing", local(11, 13)).allowed  # 2 per 2 days in the promotion
    after = send(shops[1], "marketing", local(12, 9))
    assert after.allowed and after.ruleset == "默认规则"
    # Day 12 uses the default cap of 1 per shop per 2 days, counting day 11's two sends.
    assert send(shops[0], "marketing", local(12, 10)).reason == "FREQ-SHOP-2DAY"


def test_it_refuses_overlapping_promotion_periods(double_eleven):
    overlapping = PromotionPeriod(
        name="重叠",
        start_date=local(11, 0).date(),
        end_date=local(12, 0).date(),
        ruleset=double_eleven.ruleset,
    )
    with pytest.raises(ValidationError):
        overlapping.full_clean()


def test_it_records_the_ruleset_version_of_each_decision(shops):
    default = RuleSet.objects.get(is_default=True)
    assert send(shops[0], "marketing", local(2, 10)).ruleset_version == default.version
    FrequencyRule.objects.filter(ruleset=default, rule_id="FREQ-SHOP-2DAY").update(limit=2)
    ruleset_touch(ruleset_id=default.pk)
    decision = send(shops[0], "marketing", local(2, 11))
    assert decision.allowed
    assert (decision.ruleset, decision.ruleset_version) == ("默认规则", default.version + 1)


# --- quiet hours ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hour", "minute", "allowed"),
    [(7, 59, False), (8, 0, True), (20, 59, True), (21, 0, False), (0, 0, False), (12, 0, True)],
)
def test_it_sends_marketing_only_from_8_to_21(shops, hour, minute, allowed):
    decision = send(shops[0], "marketing", local(2, hour, minute))
    assert decision.allowed is allowed
    assert decision.reason == (None if allowed else "QUIET-HOURS")
    assert marketing_count() == (1 if allowed else 0)


def test_it_treats_the_last_second_before_8_as_quiet(shops):
    assert send(shops[0], "marketing", local(2, 7, 59, 59)).reason == "QUIET-HOURS"
    assert send(shops[0], "marketing", local(2, 20, 59, 59)).allowed


@pytest.mark.parametrize("message_class", ["notify_unsub", "notify"])
def test_it_does_not_apply_quiet_hours_to_notifications(shops, message_class):
    assert send(shops[0], message_class, local(2, 23, 30)).allowed
    assert send(shops[0], message_class, local(2, 3)).allowed


# --- opt-outs and reason order --------------------------------------------------------------------


def test_it_suppresses_opted_out_phones_for_marketing_and_unsubscribable_notices(shops):
    optout_record(shop_id=shops[0].pk, phone=PHONE, keyword="TD", source="sms_reply")
    assert send(shops[0], "marketing", local(2, 10)).reason == "OPTED-OUT"
    assert send(shops[0], "notify_unsub", local(2, 10)).reason == "OPTED-OUT"
    assert send(shops[0], "notify", local(2, 10)).allowed
    assert send(shops[1], "marketing", local(2, 10)).allowed  # only the shop it replied to
    assert marketing_count() == 1


def test_it_reports_reasons_in_a_fixed_order(shops):
    optout_record(shop_id=shops[0].pk, phone=PHONE, keyword="R", source="sms_reply")
    decisions = frequency_decide(
        shop_id=shops[0].pk,
        message_class="marketing",
        phones=["12345", PHONE, "13900139000"],
        at=local(2, 22),
    )
    assert [d.reason for d in decisions] == ["INVALID-PHONE", "OPTED-OUT", "QUIET-HOURS"]
    assert [d.phone for d in decisions] == ["12345", PHONE, "13900139000"]
    # Capped and in quiet hours: quiet hours win (the send is deferred, not dropped).
    assert send(shops[1], "marketing", local(3, 10), phone="13900139000").allowed
    assert send(shops[1], "marketing", local(3, 22), phone="13900139000").reason == "QUIET-HOURS"


def test_it_normalises_phones_before_counting(shops):
    assert send(shops[0], "marketing", local(2, 10), phone="+86 138-0013-8000").allowed
    assert send(shops[0], "marketing", local(2, 11), phone="0086 13800138000").reason == "FREQ-SHOP-2DAY"


# --- batches, duplicates, dry runs, transactions ------------------------------------------------


def test_it_decides_a_phone_repeated_in_one_batch_sequentially(shops):
    decisions = frequency_decide(
        shop_id=shops[0].pk, message_class="notify", phones=[PHONE, "138 0013 8000", PHONE], at=local(2, 10)
    )
    assert [(d.allowed, d.reason) for d in decisions] == [
        (True, None),
        (True, None),
        (False, "FREQ-SHOP-NOTIFY-DAY"),
    ]
    assert ShopCounter.objects.get(phone=int(PHONE)).notify == 2


def test_it_gives_the_same_decisions_in_a_dry_run_without_counting(shops):
    phones = [PHONE, PHONE, "13900139000", "bad"]
    assert send(shops[0], "marketing", local(1, 10), phone="13900139000").allowed
    before = list(PlatformCounter.objects.values_list("phone", "day", "marketing").order_by("phone", "day"))
    dry = frequency_decide(
        shop_id=shops[0].pk, message_class="marketing", phones=phones, at=local(2, 10), commit=False
    )
    after = list(PlatformCounter.objects.values_list("phone", "day", "marketing").order_by("phone", "day"))
    assert before == after
    real = frequency_decide(shop_id=shops[0].pk, message_class="marketing", phones=phones, at=local(2, 10))
    assert [(d.allowed, d.reason) for d in dry] == [(d.allowed, d.reason) for d in real]
    assert [d.reason for d in real] == [None, "FREQ-SHOP-2DAY", "FREQ-SHOP-2DAY", "INVALID-PHONE"]


def test_it_rolls_back_the_counts_with_the_callers_transaction(shops):
    class ReservationFailed(Exception):
        pass

    with pytest.raises(ReservationFailed), transaction.atomic():
        assert send(shops[0], "marketing", local(2, 10)).allowed
        raise ReservationFailed
    assert marketing_count() == 0
    assert send(shops[0], "marketing", local(2, 10)).allowed


def test_it_decides_a_batch_of_1000_in_a_handful_of_statements(shops, django_assert_max_num_queries):
    phones = [f"139{i:08d}" for i in range(1000)]
    with django_assert_max_num_queries(10):
        decisions = frequency_decide(
            shop_id=shops[0].pk, message_class="marketing", phones=phones, at=local(2, 10)
        )
    assert all(d.allowed for d in decisions)
    assert ShopCounter.objects.filter(shop=shops[0], marketing=1).count() == 1000
    with django_assert_max_num_queries(10):
        again = frequency_decide(
            shop_id=shops[0].pk, message_class="marketing", phones=phones, at=local(2, 11)
        )
    assert {d.reason for d in again} == {"FREQ-SHOP-2DAY"}


def test_it_refuses_naive_datetimes_and_unknown_classes(shops):
    with pytest.raises(ValueError):
        frequency_decide(
            shop_id=shops[0].pk, message_class="marketing", phones=[PHONE], at=datetime(2026, 3, 2, 10)
        )
    with pytest.raises(ValueError):
        frequency_decide(shop_id=shops[0].pk, message_class="spam", phones=[PHONE], at=local(2, 10))


def test_it_returns_nothing_for_an_empty_batch(shops):
    assert frequency_decide(shop_id=shops[0].pk, message_class="marketing", phones=[], at=local(2, 10)) == []


def test_next_send_window_defers_to_8_oclock(shops):
    assert next_send_window(local(2, 7, 59)) == local(2, 8)
    assert next_send_window(local(2, 8)) == local(2, 8)
    assert next_send_window(local(2, 20, 59)) == local(2, 20, 59)
    assert next_send_window(local(2, 21)) == local(3, 8)
    assert next_send_window(local(2, 23, 59) + timedelta(seconds=59)) == local(3, 8)
    assert next_send_window(datetime(2026, 3, 1, 16, 10, tzinfo=UTC)) == local(2, 8)


def test_it_purges_counters_no_window_can_reach(shops):
    for day in (1, 8, 9):
        assert send(shops[0], "notify", local(day, 10)).allowed
    with time_machine.travel(local(10, 3), tick=False):
        call_command("frequency_purge", "--keep-days", "3", stdout=StringIO())
    assert sorted({d.day for d in PlatformCounter.objects.values_list("day", flat=True)}) == [8, 9]
    assert sorted({d.day for d in ShopCounter.objects.values_list("day", flat=True)}) == [8, 9]


def test_it_purges_old_counters_every_night_through_django_q(shops):
    schedule = Schedule.objects.get(name="campaigns-purge-frequency-counters")
    assert schedule.func == "campaigns.tasks.purge_frequency_counters"
    assert schedule.schedule_type == Schedule.DAILY and schedule.repeats == -1
    assert schedule.next_run.astimezone(SH).time().isoformat() == "03:30:00"

    for day in (1, 3, 4, 9):
        assert send(shops[0], "notify", local(day, 10)).allowed
    with time_machine.travel(local(10, 3, 30), tick=False):
        deleted = purge_frequency_counters()  # keeps the last 7 local days: 4 March on
    assert deleted == 4  # platform and shop rows of 1 and 3 March
    assert sorted({d.day for d in PlatformCounter.objects.values_list("day", flat=True)}) == [4, 9]
    with pytest.raises(ValueError):
        frequency_counters_purge_old(keep_days=2)
