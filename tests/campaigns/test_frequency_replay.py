"""``manage.py frequency_replay FILE [--json]``: the same service, an empty history, nothing kept."""

from __future__ import annotations

import json
from datetime import datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from campaigns.models import FrequencyRule, PlatformCounter, PromotionPeriod, RuleSet
from campaigns.services.frequency import frequency_decide
from smsmarketing.models import Category, Shop
from tests.factories import make_shop

pytestmark = pytest.mark.django_db

PHONE = "13800138000"


def replay(tmp_path, events: list[dict | str], *flags: str) -> list[dict]:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(e if isinstance(e, str) else json.dumps(e, ensure_ascii=False) for e in events))
    out, err = StringIO(), StringIO()
    call_command("frequency_replay", str(path), *flags, stdout=out, stderr=err)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def event(at: str, shop: str, cls: str = "marketing", phone: str = PHONE, **extra) -> dict:
    return {"at": at, "shop": shop, "phone": phone, "class": cls, **extra}


def test_it_prints_one_decision_per_event_in_file_order(tmp_path):
    results = replay(
        tmp_path,
        [
            event("2026-03-01T10:00:00+08:00", "A"),
            event("2026-03-01T11:00:00+08:00", "A"),
            event("2026-03-01T11:00:00+08:00", "B"),
            event("2026-03-01T11:00:00+08:00", "C"),
            event("2026-03-01T11:00:00+08:00", "D"),
            event("2026-03-01T07:59:00+08:00", "E"),
            event("2026-03-01T12:00:00+08:00", "E", phone="12345"),
            event("2026-03-01T23:00:00+08:00", "A", "notify"),
        ],
        "--json",
    )
    assert results == [
        {"allowed": True, "reason": None},
        {"allowed": False, "reason": "FREQ-SHOP-2DAY"},
        {"allowed": True, "reason": None},
        {"allowed": True, "reason": None},
        {"allowed": False, "reason": "FREQ-PLATFORM-DAY"},
        {"allowed": False, "reason": "QUIET-HOURS"},
        {"allowed": False, "reason": "INVALID-PHONE"},
        {"allowed": True, "reason": None},
    ]


def test_it_treats_1610_utc_as_the_next_shanghai_day(tmp_path):
    results = replay(
        tmp_path,
        [
            event("2026-03-01T15:00:00Z", "A", "notify"),
            event("2026-03-01T15:30:00Z", "A", "notify"),
            event("2026-03-01T15:59:59Z", "A", "notify"),
            event("2026-03-01T16:10:00Z", "A", "notify"),
        ],
    )
    assert [r["reason"] for r in results] == [None, None, "FREQ-SHOP-NOTIFY-DAY", None]


def test_it_releases_an_event_whose_outcome_is_failed(tmp_path):
    results = replay(
        tmp_path,
        [
            event("2026-03-01T10:00:00+08:00", "A", outcome="failed"),
            event("2026-03-01T11:00:00+08:00", "A"),
            event("2026-03-01T12:00:00+08:00", "A"),
        ],
    )
    assert [r["allowed"] for r in results] == [True, True, False]


def test_it_keeps_nothing_and_starts_from_an_empty_history(tmp_path):
    shop = make_shop("真实店铺")
    at = datetime.fromisoformat("2026-03-01T10:00:00+08:00")
    [real] = frequency_decide(shop_id=shop.pk, message_class="marketing", phones=[PHONE], at=at)
    assert real.allowed
    shops, categories = Shop.objects.count(), Category.objects.count()
    counters = list(PlatformCounter.objects.values_list("phone", "day", "marketing").order_by("phone", "day"))

    results = replay(tmp_path, [event("2026-03-01T10:00:00+08:00", s) for s in "ABCD"])

    assert [r["allowed"] for r in results] == [True, True, True, False]  # the real send is not seen
    assert (Shop.objects.count(), Category.objects.count()) == (shops, categories)
    assert (
        list(PlatformCounter.objects.values_list("phone", "day", "marketing").order_by("phone", "day"))
        == counters
    )


def test_it_uses_the_default_rules_whatever_the_database_holds(tmp_path):
    default = RuleSet.objects.get(is_default=True)
    FrequencyRule.objects.filter(ruleset=default, rule_id="FREQ-SHOP-2DAY").update(limit=9)
    relaxed = RuleSet.objects.create(name="放宽")
    FrequencyRule.objects.create(
        ruleset=relaxed,
        rule_id="FREQ-SHOP-2DAY",
        scope="shop",
        message_class="marketing",
        window_days=2,
        limit=9,
    )
    PromotionPeriod.objects.create(
        name="大促", start_date="2026-03-01", end_date="2026-03-02", ruleset=relaxed
    )
    results = replay(
        tmp_path, [event("2026-03-01T10:00:00+08:00", "A"), event("2026-03-01T11:00:00+08:00", "A")]
    )
    assert [r["reason"] for r in results] == [None, "FREQ-SHOP-2DAY"]
    # Rolled back: the operator's edits are still there.
    assert FrequencyRule.objects.get(ruleset=default, rule_id="FREQ-SHOP-2DAY").limit == 9
    assert PromotionPeriod.objects.filter(name="大促").exists()


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("not json", "第 2 行"),
        ('{"at": "2026-03-01T10:00:00+08:00", "shop": "A", "class": "marketing"}', "phone"),
        ('{"at": "2026-03-01T10:00:00", "shop": "A", "phone": "13800138000", "class": "marketing"}', "时区"),
        ('{"at": "yesterday", "shop": "A", "phone": "13800138000", "class": "marketing"}', "ISO-8601"),
        ('{"at": "2026-03-01T10:00:00+08:00", "shop": "A", "phone": "13800138000", "class": "spam"}', "spam"),
        (
            '{"at": "2026-03-01T10:00:00+08:00", "shop": "A", "phone": "13800138000", "class": "notify", '
            '"outcome": "lost"}',
            "outcome",
        ),
    ],
)
def test_it_names_the_line_of_a_bad_event_and_replays_nothing(tmp_path, line, problem):
    with pytest.raises(CommandError) as error:
        replay(tmp_path, [event("2026-03-01T10:00:00+08:00", "A"), line])
    assert "第 2 行" in str(error.value) and problem in str(error.value)


def test_it_skips_blank_lines(tmp_path):
    assert replay(tmp_path, ["", event("2026-03-01T10:00:00+08:00", "A"), "  "]) == [
        {"allowed": True, "reason": None}
    ]
