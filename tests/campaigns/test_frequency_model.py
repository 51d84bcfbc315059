"""The set-based frequency decision against a plain sequential model of the rules.

``frequency_decide`` decides a whole batch in one SQL statement. This test keeps the
obvious implementation (one recipient after another, counting each allowed one before
deciding the next) as the oracle and checks, on random histories and random batches with
repeated phones, that both give the same decision for every recipient and leave the same
counters behind.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.models import PlatformCounter, ShopCounter
from campaigns.services.frequency import CLASS_COLUMN, frequency_decide, rules_for_day
from tests.factories import make_shop

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")
AT = datetime(2026, 3, 2, 10, 0, tzinfo=SH)
TODAY = date(2026, 3, 2)
POOL = [f"1380013800{i}" for i in range(6)]

counts = st.integers(min_value=0, max_value=4)
history = st.dictionaries(
    keys=st.tuples(st.sampled_from(POOL), st.sampled_from(["platform", "own", "other"]), st.booleans()),
    values=counts,
    max_size=12,
)


def model(*, rules, platform: dict, shop: dict, phones: list[str]) -> list[str | None]:
    """Sequential decisions: counts[(phone, day)], shop[(phone, day)] are the history."""
    platform, shop = Counter(platform), Counter(shop)
    days = [TODAY - timedelta(days=1), TODAY]
    reasons: list[str | None] = []
    for phone in phones:
        reason = None
        for rule in rules:
            counts = platform if rule.scope == "platform" else shop
            used = sum(counts[(phone, d)] for d in days[2 - rule.window_days :])
            if used + 1 > rule.limit:
                reason = rule.rule_id
                break
        if reason is None:
            platform[(phone, TODAY)] += 1
            shop[(phone, TODAY)] += 1
        reasons.append(reason)
    return reasons


@pytest.fixture
def two_shops(db):
    return make_shop("模型店铺"), make_shop("其他店铺")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    past=history,
    phones=st.lists(st.sampled_from(POOL), min_size=1, max_size=14),
    message_class=st.sampled_from(["marketing", "notify", "notify_unsub"]),
    commit=st.booleans(),
)
def test_it_decides_a_batch_like_one_recipient_after_another(two_shops, past, phones, message_class, commit):
    check_against_the_model(two_shops, past, phones, message_class, commit)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    past=history,
    phones=st.lists(st.sampled_from(POOL), min_size=1, max_size=len(POOL), unique=True),
    message_class=st.sampled_from(["marketing", "notify", "notify_unsub"]),
    commit=st.booleans(),
)
def test_it_decides_a_batch_of_different_phones_like_one_recipient_after_another(
    two_shops, past, phones, message_class, commit
):
    """Every audience batch has different phones: the statement for that case (``_distinct_decision_sql``)."""
    check_against_the_model(two_shops, past, phones, message_class, commit)


def check_against_the_model(two_shops, past, phones, message_class, commit) -> None:
    own, other = two_shops
    column = CLASS_COLUMN[message_class]
    with transaction.atomic():
        platform: Counter = Counter()
        mine: Counter = Counter()
        for (phone, whose, today), n in past.items():
            day = TODAY if today else TODAY - timedelta(days=1)
            if whose == "platform":
                platform[(phone, day)] += n
                continue
            # A shop's messages count on the platform too.
            platform[(phone, day)] += n
            if whose == "own":
                mine[(phone, day)] += n
            ShopCounter.objects.update_or_create(
                phone=int(phone), shop=own if whose == "own" else other, day=day, defaults={column: n}
            )
        for (phone, day), n in platform.items():
            PlatformCounter.objects.create(phone=int(phone), day=day, **{column: n})

        rules = rules_for_day(TODAY).for_class(message_class)
        expected = model(rules=rules, platform=platform, shop=mine, phones=phones)
        decisions = frequency_decide(
            shop_id=own.pk, message_class=message_class, phones=phones, at=AT, commit=commit
        )
        assert [d.reason for d in decisions] == expected
        assert [d.allowed for d in decisions] == [r is None for r in expected]

        allowed = Counter(phone for phone, reason in zip(phones, expected, strict=True) if reason is None)
        for phone in POOL:
            stored = PlatformCounter.objects.filter(phone=int(phone), day=TODAY).values_list(
                column, flat=True
            )
            own_today = ShopCounter.objects.filter(phone=int(phone), shop=own, day=TODAY).values_list(
                column, flat=True
            )
            counted = allowed[phone] if commit else 0
            assert sum(stored) == platform[(phone, TODAY)] + counted
            assert sum(own_today) == mine[(phone, TODAY)] + counted
        transaction.set_rollback(True)
