"""Working-day SLA: due = submitted + 3 Chinese working days."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from reviews.services.signatures import signature_submit
from reviews.sla import add_working_days, is_working_day, review_due_at

SH = ZoneInfo("Asia/Shanghai")


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


def test_it_counts_three_working_days_within_a_week():
    assert review_due_at(at(2025, 9, 2, 10, 0)) == at(2025, 9, 5, 10, 0)  # Tue → Fri


def test_it_skips_the_weekend():
    assert review_due_at(at(2025, 9, 5, 10, 0)) == at(2025, 9, 10, 10, 0)  # Fri → Wed
    assert review_due_at(at(2025, 9, 6, 15, 30)) == at(2025, 9, 10, 15, 30)  # Sat → Wed


def test_it_skips_the_national_day_holiday_and_counts_the_adjusted_saturday():
    # 国庆+中秋 2025: 10-01..10-08 off; Sat 10-11 is an adjusted working day.
    assert not is_working_day(dt.date(2025, 10, 3))
    assert is_working_day(dt.date(2025, 10, 11))
    assert review_due_at(at(2025, 9, 30, 17, 0)) == at(2025, 10, 11, 17, 0)  # 10-09, 10-10, 10-11


def test_it_counts_an_adjusted_sunday_before_the_holiday():
    # Sun 2025-09-28 is a working day: submitted Fri 09-26 → 09-28, 09-29, 09-30.
    assert review_due_at(at(2025, 9, 26, 9, 0)) == at(2025, 9, 30, 9, 0)


def test_it_falls_back_to_weekends_where_the_calendar_has_no_data():
    # chinese-calendar 1.11.0 has no data for 2030; 2030-01-04 is a Friday.
    assert is_working_day(dt.date(2030, 1, 4))
    assert not is_working_day(dt.date(2030, 1, 5))
    assert add_working_days(dt.date(2030, 1, 4), 3) == dt.date(2030, 1, 9)


def test_it_works_in_shanghai_time_whatever_the_input_zone():
    # 2025-09-30 23:30 UTC is already Wednesday 10-01 07:30 in Shanghai (a holiday).
    submitted = dt.datetime(2025, 9, 30, 23, 30, tzinfo=dt.UTC)
    assert review_due_at(submitted) == at(2025, 10, 11, 7, 30)


@pytest.mark.django_db
def test_a_signature_submitted_before_national_day_is_due_after_it(alice, alice_shop):
    with time_machine.travel(at(2025, 9, 30, 16, 45), tick=False):
        signature = signature_submit(shop=alice_shop, text="爱丽丝", by=alice)
    signature.refresh_from_db()
    assert timezone.localtime(signature.submitted_at) == at(2025, 9, 30, 16, 45)
    assert timezone.localtime(signature.due_at) == at(2025, 10, 11, 16, 45)


@pytest.mark.django_db
def test_a_signature_submitted_on_friday_is_due_on_wednesday(alice, alice_shop):
    with time_machine.travel(at(2025, 11, 14, 11, 0), tick=False):
        signature = signature_submit(shop=alice_shop, text="爱丽丝", by=alice)
    signature.refresh_from_db()
    assert timezone.localtime(signature.due_at) == at(2025, 11, 19, 11, 0)
