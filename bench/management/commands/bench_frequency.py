"""Benchmark frequency decisions: batches of recipients against a large counter history.

Everything (bench shops, seeded counters, the counts the batches add) is written in
one transaction that is rolled back at the end, so the database is left as it was.
Not a test: it prints figures for docs/FREQUENCY.md.
"""

from __future__ import annotations

import random
import statistics
import time
import uuid
from datetime import datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from campaigns.models.frequency import MessageClass
from campaigns.services.frequency import (
    LOCAL_TZ,
    PLATFORM_TABLE,
    SHOP_TABLE,
    frequency_decide,
    ruleset_reset_to_defaults,
)
from smsmarketing.models import Category, Shop

FIRST_PHONE = 13000000000  # 130xxxxxxxx: valid mainland mobile numbers
BENCH_SHOPS = 100


class Command(BaseCommand):
    help = "Seed N counter rows (rolled back afterwards) and print frequency decisions per second."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--counters", type=int, default=1_000_000, help="counter rows to seed")
        parser.add_argument("--batch", type=int, default=1000, help="recipients per decision call")
        parser.add_argument("--batches", type=int, default=50, help="number of decision calls")
        parser.add_argument("--class", dest="message_class", default="marketing", choices=MessageClass.values)
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args, **options) -> None:
        if options["counters"] < 4 or options["batch"] < 1 or options["batches"] < 1:
            raise CommandError("--counters must be >= 4, --batch and --batches >= 1")
        with transaction.atomic():
            self._run(**options)
            transaction.set_rollback(True)
        self.stdout.write("Rolled back: the database is unchanged.")

    def _run(self, *, counters: int, batch: int, batches: int, message_class: str, seed: int, **_) -> None:
        rng = random.Random(seed)
        ruleset_reset_to_defaults()
        category = Category.objects.create(name=f"频控压测-{uuid.uuid4().hex[:12]}")
        shops = [Shop(name=f"压测店铺{i}", category=category) for i in range(BENCH_SHOPS)]
        shop_ids = [shop.pk for shop in Shop.objects.bulk_create(shops)]
        today = timezone.now().astimezone(LOCAL_TZ).date()
        at = datetime.combine(today, datetime.min.time(), tzinfo=LOCAL_TZ) + timedelta(hours=12)

        # History: half the rows platform counters, half shop counters, over today and
        # yesterday (the days a decision reads), with counts around the caps.
        phones_seeded = counters // 4
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {PLATFORM_TABLE} (phone, day, marketing, notify_unsub, notify)
                SELECT %s + g, d.day, g %% 4, g %% 3, g %% 2
                FROM generate_series(0, %s - 1) AS g CROSS JOIN (VALUES (%s::date), (%s::date)) AS d(day)
                """,
                [FIRST_PHONE, phones_seeded, today, today - timedelta(days=1)],
            )
            platform_rows = cursor.rowcount
            cursor.execute(
                f"""
                INSERT INTO {SHOP_TABLE} (phone, shop_id, day, marketing, notify_unsub, notify)
                SELECT %s + (g / 2), (%s::bigint[])[1 + (g / 2) %% %s], d.day, g %% 2, g %% 3, 0
                FROM generate_series(0, %s - 1) AS g
                CROSS JOIN LATERAL (SELECT CASE WHEN g %% 2 = 0 THEN %s::date ELSE %s::date END) AS d(day)
                """,
                [
                    FIRST_PHONE,
                    shop_ids,
                    len(shop_ids),
                    counters - platform_rows,
                    today,
                    today - timedelta(days=1),
                ],
            )
            shop_rows = cursor.rowcount
            cursor.execute(f"ANALYZE {PLATFORM_TABLE}")
            cursor.execute(f"ANALYZE {SHOP_TABLE}")
            # Partitioned by day: the rows and keys are in the partitions, the parents hold none.
            cursor.execute(
                """SELECT sum(pg_total_relation_size(t.relid)) FROM unnest(%s::regclass[]) AS p(rel)
                CROSS JOIN LATERAL pg_partition_tree(p.rel) AS t""",
                [[PLATFORM_TABLE, SHOP_TABLE]],
            )
            size_mb = cursor.fetchone()[0] / 1024 / 1024
        seeded_in = time.perf_counter() - started
        self.stdout.write(
            f"Seeded {platform_rows + shop_rows:,} counter rows ({platform_rows:,} platform, "
            f"{shop_rows:,} shop) in {seeded_in:.1f} s; both tables with their keys: {size_mb:.0f} MB "
            "(includes dead rows of earlier rolled-back runs until autovacuum)."
        )

        # Batches: recipients drawn from twice the seeded phones, so about half have history.
        for mode, commit in (("decide+count", True), ("dry run", False)):
            durations = []
            allowed = 0
            for _ in range(batches):
                phones = [str(FIRST_PHONE + rng.randrange(2 * phones_seeded)) for _ in range(batch)]
                shop_id = rng.choice(shop_ids)
                started = time.perf_counter()
                decisions = frequency_decide(
                    shop_id=shop_id, message_class=message_class, phones=phones, at=at, commit=commit
                )
                durations.append(time.perf_counter() - started)
                allowed += sum(decision.allowed for decision in decisions)
            total = sum(durations)
            ordered = sorted(durations)
            p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
            self.stdout.write(
                f"{mode:>13}: {batches} batches of {batch} {message_class}: "
                f"{batches * batch / total:,.0f} decisions/s; per batch median "
                f"{statistics.median(durations) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms; "
                f"{allowed:,} allowed"
            )
