"""Caps hold when many processes send for many shops to the same phones at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from campaigns.models import PlatformCounter, ShopCounter
from campaigns.services.frequency import ruleset_reset_to_defaults
from tests.dburl import test_database_url as database_url
from tests.factories import make_shop

SH = ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parents[2]
WORKERS = 8
SHOPS_PER_WORKER = 3
PHONES = [f"1380000{i:04d}" for i in range(60)]
DAY_1 = datetime(2026, 5, 1, 10, 0, tzinfo=SH)
DAY_2 = datetime(2026, 5, 2, 10, 0, tzinfo=SH)


def run_workers(**extra) -> list[dict]:
    """Start WORKERS processes at the same instant; return what each reports."""
    ruleset_reset_to_defaults()  # a transactional test before this one may have flushed the seed
    shops = [[make_shop(f"并发店铺{w}-{s}").pk for s in range(SHOPS_PER_WORKER)] for w in range(WORKERS)]
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "smsmarketing.settings_test",
    }
    start_at = time.time() + 4  # every process is set up and waiting before the first one sends
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.campaigns.frequency_worker",
                json.dumps(
                    {
                        "seed": worker,
                        "shops": shops[worker],
                        "phones": PHONES,
                        "times": [DAY_1.isoformat(), DAY_2.isoformat()],
                        "start_at": start_at,
                        **extra,
                    }
                ),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(WORKERS)
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def counters_by_phone_day() -> dict[tuple[str, date], int]:
    return {
        (str(phone), day): marketing
        for phone, day, marketing in PlatformCounter.objects.values_list("phone", "day", "marketing")
        if marketing
    }


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_it_never_exceeds_a_cap_when_8_processes_send_to_the_same_phones():
    results = run_workers()

    errors = [error for result in results for error in result["errors"]]
    assert errors == []  # in particular no DeadlockDetected
    sent = [tuple(item) for result in results for item in result["allowed"]]

    # What the workers were told they may send is exactly what the counters hold ...
    per_phone_day = Counter((phone, datetime.fromisoformat(at).date()) for _, at, phone in sent)
    assert counters_by_phone_day() == dict(per_phone_day)
    # ... and every phone got exactly its caps: 3 on day 1, then 2 more (5 in two days) on day 2.
    for phone in PHONES:
        assert per_phone_day[(phone, DAY_1.date())] == 3
        assert per_phone_day[(phone, DAY_2.date())] == 2
    # One marketing message per shop per phone in the two days.
    per_shop_phone = Counter((shop_id, phone) for shop_id, _, phone in sent)
    assert max(per_shop_phone.values()) == 1
    assert set(ShopCounter.objects.values_list("marketing", flat=True)) == {1}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_it_neither_deadlocks_nor_exceeds_a_cap_when_releases_race_new_sends():
    later = (DAY_2 + timedelta(hours=1)).isoformat()
    results = run_workers(then_release_first_day_and_send_at=later)

    errors = [error for result in results for error in result["errors"]]
    assert errors == []
    sent = Counter(
        (phone, datetime.fromisoformat(at).date()) for result in results for _, at, phone in result["allowed"]
    )
    released = Counter(
        (phone, datetime.fromisoformat(at).date())
        for result in results
        for _, at, phone in result["released"]
    )
    # Every day-1 message "failed" and was released (a fast worker may release while a slow
    # one is still sending day 1, which frees caps for it: day 1 may see more than 3 sends).
    assert all(released[(phone, DAY_1.date())] == sent[(phone, DAY_1.date())] >= 3 for phone in PHONES)
    # The counters are exactly what was allowed minus what was released ...
    counters = counters_by_phone_day()
    assert counters == {key: n for key, n in (sent - released).items() if n}
    # ... and what still counts is within every cap.
    for phone in PHONES:
        assert counters.get((phone, DAY_1.date()), 0) == 0
        assert 2 <= counters[(phone, DAY_2.date())] <= 3
    assert set(ShopCounter.objects.filter(day=DAY_2.date()).values_list("marketing", flat=True)) == {1}
    assert set(ShopCounter.objects.filter(day=DAY_1.date()).values_list("marketing", flat=True)) == {0}
