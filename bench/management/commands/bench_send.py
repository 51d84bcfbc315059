"""Benchmark planning against the physical limit: the real pipeline next to a raw COPY.

For each size N (``--recipients 100000 1000000``: several sizes run one after the other in
the same process, so the peak RSS printed after each shows whether memory grows with N):

1. set-up (not timed): a shop with an active, funded account and a live signature, N
   customers (one set-based INSERT), a frequency history (30% of the phones already got
   marketing today from another shop, 5% are at the daily cap), a marketing campaign created
   through ``campaign_create`` and its run;
2. **plan**: ``plan_batch`` until the run is planned, the real pipeline (keyset read, dry and
   counting frequency decisions, reservation, one INSERT per batch of 1,000 message rows);
3. **COPY**: the same number of equivalent message rows (same columns and values) streamed
   with ``COPY ... FROM STDIN`` into a scratch table created ``LIKE`` the messages table
   ``INCLUDING INDEXES`` (the physical limit of writing those rows: no logic, one statement);
4. both rates, their ratio, the peak RSS; then everything is deleted.

Not a test: the figures go to docs/PERFORMANCE.md.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from dataclasses import dataclass

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections

from bench.cpu import CpuBreakdown
from bench.harness import (
    MARKETING_TEXT,
    bench_campaign_start,
    bench_shop_create,
    bench_shop_delete,
    frequency_history_seed,
    message_history_seed,
    message_outcomes,
    peak_rss_children_mb,
    peak_rss_mb,
    plan_all,
    plan_with_planners,
    send_moment,
)
from campaigns.models import Message
from campaigns.services.campaigns import full_text, parts_of
from campaigns.services.pipeline import pipeline_setting

SCRATCH_TABLE = "bench_copy_message"
COPY_COLUMNS = (
    "id, campaign_id, run_id, shop_id, customer_id, phone, status, reason, body, text, parts, batch, "
    "settlement, link_code, attempts, counted_at, created_at, month"
)
COPY_CHUNK = 1 << 20  # bytes handed to COPY per write


class Command(BaseCommand):
    help = "Time planning N recipients through the pipeline, next to a raw COPY of N message rows."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--recipients",
            type=int,
            nargs="+",
            default=[1_000_000],
            help="audience sizes, run in this order in one process (e.g. 100000 1000000)",
        )
        parser.add_argument("--keep", action="store_true", help="keep the bench shop and its rows")
        parser.add_argument(
            "--planners",
            type=int,
            default=None,
            help="planner processes planning the run at once (default: SMS_PIPELINE PLAN_WORKERS); "
            "with more than one, the COPY also runs with as many streams, next to the single one",
        )
        parser.add_argument(
            "--holdout", type=int, default=0, help="percent of the audience held out (0-50; default 0)"
        )
        parser.add_argument(
            "--link", action="store_true", help="the text carries ${shop_link}: a short-link code per message"
        )
        parser.add_argument(
            "--history",
            type=int,
            default=0,
            help="message rows of the shop's earlier campaigns seeded first, over the last 13 months' "
            "partitions (planning's rate with years of history; compare with 0 in the same session)",
        )
        parser.add_argument(
            "--breakdown",
            action="store_true",
            help="also print the CPU per recipient of planning: Python, PostgreSQL backend, per statement",
        )

    def handle(
        self, *args, recipients: list[int], keep: bool, breakdown: bool, planners: int | None, holdout: int,
        link: bool = False, history: int = 0, **options,
    ) -> None:
        if any(n < 1 for n in recipients):
            raise CommandError("--recipients must be >= 1")
        planners = pipeline_setting("PLAN_WORKERS") if planners is None else planners
        if planners < 1:
            raise CommandError("--planners must be >= 1")
        if planners > 1 and connection.in_atomic_block:
            raise CommandError("--planners > 1 forks processes, which cannot see this transaction's rows")
        self.stdout.write(
            f"PostgreSQL {connection.cursor().connection.info.server_version}, "
            f"database {connection.settings_dict['NAME']}; peak RSS at start {peak_rss_mb():.0f} MB"
        )
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        self.stdout.write(f"load average {load} (2 cores: above 2, processes wait for a core)")
        if not 0 <= holdout <= 50:
            raise CommandError("--holdout must be 0-50")
        if history < 0:
            raise CommandError("--history must be >= 0")
        for n in recipients:
            self._one(n, keep=keep, breakdown=breakdown, planners=planners, holdout=holdout, link=link,
                      history=history)  # fmt: skip

    def _one(
        self, n: int, *, keep: bool, breakdown: bool, planners: int, holdout: int, link: bool, history: int
    ) -> None:
        at = send_moment()
        started = time.perf_counter()
        bench = bench_shop_create(recipients=n, balance=2 * n)
        if history:
            seeded = time.perf_counter()
            rows = message_history_seed(bench=bench, messages=history, log=self.stderr.write)
            took = time.perf_counter() - seeded
            self.stdout.write(f"history: {rows:,} message rows over 13 months seeded in {took:.0f} s")
        history = frequency_history_seed(bench=bench, day=at.date())
        text = MARKETING_TEXT + "${shop_link}" if link else MARKETING_TEXT
        run = bench_campaign_start(bench=bench, holdout=holdout, text=text)
        self.stdout.write(
            f"\n== N = {n:,}: set-up {time.perf_counter() - started:.1f} s "
            f"({n:,} customers, {history:,} frequency counter rows of other shops)"
        )
        try:
            cpu = CpuBreakdown() if breakdown and planners == 1 else None
            started = time.perf_counter()
            if planners > 1:
                cpu = plan_with_planners(run=run, at=at, planners=planners, breakdown=breakdown)
            elif cpu:
                with cpu.measure():
                    plan_all(run=run, at=at)
            else:
                plan_all(run=run, at=at)
            plan_s = time.perf_counter() - started
            run.refresh_from_db()
            batches = run.batches_planned
            outcomes = message_outcomes(run=run)
            written = sum(outcomes.values())
            plan_rss = max(peak_rss_mb(), peak_rss_children_mb())
            copy_s, copy_rss = self._copy(run=run, n=written)
            copies_s = self._copy(run=run, n=written, streams=planners)[0] if planners > 1 else None
        finally:
            if not keep:
                bench_shop_delete(bench)
        plan_rate, copy_rate = written / plan_s, written / copy_s
        self.stdout.write(
            f"plan (pipeline): {written:,} message rows in {batches} batches, {plan_s:.2f} s = "
            f"{plan_rate:,.0f} recipients/s with {planners} planner{'s' if planners > 1 else ''}; "
            f"outcomes {dict(sorted(outcomes.items()))}\n"
            f"raw COPY       : {written:,} equivalent rows in {copy_s:.2f} s = {copy_rate:,.0f} rows/s "
            f"(one COPY, scratch table LIKE {Message._meta.db_table} INCLUDING INDEXES)\n"
            f"ratio plan/COPY: {100 * plan_rate / copy_rate:.1f}% (target >= 25%)"
        )
        if copies_s is not None:
            copies_rate = written / copies_s
            self.stdout.write(
                f"raw COPY x{planners}   : {written:,} rows in {planners} concurrent COPY streams, "
                f"{copies_s:.2f} s = {copies_rate:,.0f} rows/s; "
                f"ratio plan/COPY x{planners}: {100 * plan_rate / copies_rate:.1f}%"
            )
        self.stdout.write(
            f"peak RSS       : {plan_rss:.0f} MB after planning, {copy_rss:.0f} MB after COPY "
            f"(largest process: this one or a planner)"
        )
        if cpu:
            self.stdout.write(
                "\n".join(cpu.report(per=written, unit="recipient"))
                + (f"\n  (summed over the {planners} planners and their backends)" if planners > 1 else "")
            )
        self.stdout.write(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if keep:
            self.stdout.write(f"kept: shop {bench.shop.pk}, run {run.pk}")

    def _copy(self, *, run, n: int, streams: int = 1) -> tuple[float, float]:
        """COPY ``n`` rows like the planned ones into a scratch table with the same indexes,
        in ``streams`` concurrent COPY statements (processes) of n/streams rows each."""
        message = Message.objects.filter(run=run, status=Message.Status.PLANNED).first()
        body = message.body if message else "夏季新品上架"
        parts = parts_of(signature="Bench", body=body)
        assert full_text(signature="Bench", body=body)
        table = Message._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {SCRATCH_TABLE}")
            cursor.execute(
                f"CREATE TABLE {SCRATCH_TABLE} (LIKE {table} INCLUDING DEFAULTS INCLUDING INDEXES)"
            )
        rows = _CopyRows(
            body=body.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n"),
            ids=(run.campaign_id, run.pk, run.campaign.shop_id),
            parts=parts,
        )
        try:
            if streams == 1:
                started = time.perf_counter()
                rows.copy(0, n)
                return time.perf_counter() - started, peak_rss_mb()
            connections.close_all()
            context = multiprocessing.get_context("fork")
            share = -(-n // streams)
            children = [
                context.Process(target=rows.copy_process, args=(i * share, min(n, (i + 1) * share)))
                for i in range(streams)
            ]
            started = time.perf_counter()
            for child in children:
                child.start()
            for child in children:
                child.join()
            elapsed = time.perf_counter() - started
            if any(child.exitcode for child in children):
                raise CommandError(f"a COPY process failed: {[c.exitcode for c in children]}")
            return elapsed, max(peak_rss_mb(), peak_rss_children_mb())
        finally:
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {SCRATCH_TABLE}")


@dataclass(frozen=True)
class _CopyRows:
    """Message-like rows streamed with COPY FROM STDIN, 1 MB at a time, generated on the fly."""

    body: str  # escaped for COPY's text format
    ids: tuple[int, int, int]  # campaign, run, shop
    parts: int

    def copy(self, first: int, end: int) -> None:
        ids, body, parts = self.ids, self.body, self.parts
        stamp = "2026-01-01 12:00:00+08"
        first_phone = 19_000_000_000
        with connection.cursor() as cursor:
            raw = cursor.cursor  # the psycopg cursor: COPY FROM STDIN
            with raw.copy(f"COPY {SCRATCH_TABLE} ({COPY_COLUMNS}) FROM STDIN") as copy:
                buffer: list[str] = []
                size = 0
                for i in range(first, end):
                    line = (
                        f"{i + 1}\t{ids[0]}\t{ids[1]}\t{ids[2]}\t{i + 1}\t{first_phone + i}\tplanned\t\t"
                        f"{body}\t\t{parts}\t{1 + i // 1000}\tpending\t\\N\t0\t{stamp}\t{stamp}\t2026-01-01\n"
                    )
                    buffer.append(line)
                    size += len(line)
                    if size >= COPY_CHUNK // 3:  # about 1 MB of UTF-8 (CJK is 3 bytes)
                        copy.write("".join(buffer))
                        buffer, size = [], 0
                if buffer:
                    copy.write("".join(buffer))

    def copy_process(self, first: int, end: int) -> None:
        try:
            self.copy(first, end)
        finally:
            connections.close_all()
