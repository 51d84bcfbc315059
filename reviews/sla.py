"""The review SLA: a decision is due 3 working days after submission.

Working days follow the Chinese public-holiday calendar (``chinese-calendar``:
statutory holidays are days off, adjusted working days such as a Saturday
before 国庆 are working days). Where that package has no data (it raises
``NotImplementedError`` for years it does not know yet) we fall back to
Monday–Friday.

Contract of ``review_due_at``: count working days strictly after the local
(Asia/Shanghai) date of submission and keep the wall-clock time. Submitted on
Tuesday 10:00 → due Friday 10:00; submitted Friday 10:00 → due Wednesday
10:00; submitted on a Saturday → due Wednesday at that time (the count starts
on the next working day).
"""

from __future__ import annotations

import datetime as dt

import chinese_calendar
from django.utils import timezone

REVIEW_SLA_WORKING_DAYS = 3


def is_working_day(day: dt.date) -> bool:
    """True on a Chinese working day (holidays and adjusted days counted)."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        # The calendar's data ends (years not yet published): weekends only.
        return day.weekday() < 5


def add_working_days(day: dt.date, count: int) -> dt.date:
    """The ``count``-th working day strictly after ``day``."""
    current = day
    remaining = count
    while remaining > 0:
        current += dt.timedelta(days=1)
        if is_working_day(current):
            remaining -= 1
    return current


def review_due_at(
    submitted_at: dt.datetime, *, working_days: int = REVIEW_SLA_WORKING_DAYS
) -> dt.datetime:
    """When the review decision on an item submitted at ``submitted_at`` is due."""
    local = timezone.localtime(submitted_at)
    due_day = add_working_days(local.date(), working_days)
    naive = dt.datetime.combine(due_day, local.time().replace(tzinfo=None))
    return timezone.make_aware(naive, timezone.get_current_timezone())
