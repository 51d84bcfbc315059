"""Review report: pending, overdue, median and p95 decision time per kind.

    python manage.py review_report [--since YYYY-MM-DD] [--until YYYY-MM-DD] [--json]

Dates are Asia/Shanghai calendar days; ``--until`` is inclusive. Defaults:
the last 30 days up to today.
"""

from __future__ import annotations

import datetime as dt
import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from reviews.reporting import review_report

DEFAULT_DAYS = 30


def _parse_day(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"日期格式应为 YYYY-MM-DD：{value}", returncode=2) from exc


def _start_of(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


class Command(BaseCommand):
    help = "审核报表：各类型的待审核数、超时数、审核用时中位数与 P95（小时）。"

    def add_arguments(self, parser) -> None:
        parser.add_argument("--since", help="起始日期 YYYY-MM-DD（含），默认 30 天前")
        parser.add_argument("--until", help="结束日期 YYYY-MM-DD（含），默认今天")
        parser.add_argument("--json", action="store_true", help="每个类型输出一行 JSON")

    def handle(self, *args, **options) -> None:
        today = timezone.localdate()
        until_day = _parse_day(options["until"]) if options["until"] else today
        if options["since"]:
            since_day = _parse_day(options["since"])
        else:
            since_day = until_day - dt.timedelta(days=DEFAULT_DAYS)
        if since_day > until_day:
            raise CommandError("--since 不能晚于 --until", returncode=2)
        since, until = _start_of(since_day), _start_of(until_day + dt.timedelta(days=1))
        reports = review_report(since=since, until=until)
        if options["json"]:
            for report in reports:
                line = {**report.as_dict(), "since": since_day.isoformat(), "until": until_day.isoformat()}
                self.stdout.write(json.dumps(line, ensure_ascii=False))
            return
        self.stdout.write(f"审核报表 {since_day} 至 {until_day}（审核用时单位：小时）")
        self.stdout.write("类型 | 待审核 | 已超时 | 已处理 | 通过 | 驳回 | SLA内 | 中位数 | P95")
        for r in reports:
            median = "-" if r.median_hours is None else f"{r.median_hours:.2f}"
            p95 = "-" if r.p95_hours is None else f"{r.p95_hours:.2f}"
            self.stdout.write(
                f"{r.kind} | {r.pending} | {r.overdue} | {r.decided} | {r.approved} | "
                f"{r.rejected} | {r.within_sla} | {median} | {p95}"
            )
