"""Seed data for the short-link benchmark (bench/links.sh), set-based, fast.

Creates a bench shop whose landing page is on the seeded landing domain, one completed coupon
campaign whose coupon has its own landing page, and ``--messages`` delivered messages of it,
each with its own link code (``campaigns.services.links.link_code_new``, the planner's codes).
Writes ``--sample`` of the codes, one a line, to ``--codes-file`` for wrk to request in turn,
and prints shell assignments ``bench/links.sh`` evaluates. Meant for a dedicated database
(``sms_bench``): it is not cleaned up.
"""

from __future__ import annotations

import random
import time
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import connection
from django.utils import timezone

from bench.harness import MARKETING_TEXT, bench_shop_create
from campaigns.models import Campaign, CampaignRun, Click, Coupon, LandingDomain, Message
from campaigns.services.links import link_code_new
from campaigns.sqlarrays import sql_text_array

CHUNK = 100_000
BENCH_DOMAIN = "jd.com"


class Command(BaseCommand):
    help = "Seed messages with short-link codes for bench/links.sh; write a sample of the codes to a file."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--messages", type=int, default=1_000_000)
        parser.add_argument("--sample", type=int, default=20_000)
        parser.add_argument("--codes-file", required=True)

    def handle(self, *args, messages: int, sample: int, codes_file: str, **options) -> None:
        started = time.perf_counter()
        LandingDomain.objects.get_or_create(domain=BENCH_DOMAIN, defaults={"subdomains": True})
        bench = bench_shop_create(recipients=1, balance=1)
        bench.shop.landing_url = f"https://mall.{BENCH_DOMAIN}/index-{bench.shop.pk}.html"
        bench.shop.save(update_fields=["landing_url"])
        now = timezone.now()
        coupon = Coupon.objects.create(
            shop=bench.shop, name="压测券", amount=10, threshold=0, valid_from=now,
            valid_until=now + timedelta(days=30), total_count=messages, issued_count=messages,
            landing_url=f"https://pro.{BENCH_DOMAIN}/coupon-{bench.shop.pk}.html",
        )  # fmt: skip
        campaign = Campaign.objects.create(
            shop=bench.shop, kind=Campaign.Kind.COUPON, coupon=coupon, name="压测短链",
            status=Campaign.Status.COMPLETED, text=MARKETING_TEXT + "${coupon_link}",
            created_by=bench.users[0], started_at=now, finished_at=now,
        )  # fmt: skip
        run = CampaignRun.objects.create(
            campaign=campaign, status=CampaignRun.Status.FINISHED, batches_planned=1
        )
        kept: list[str] = []
        for first in range(0, messages, CHUNK):
            codes = [link_code_new(month=run.month) for _ in range(min(CHUNK, messages - first))]
            kept.extend(random.sample(codes, min(len(codes), max(1, sample * len(codes) // messages))))
            with connection.cursor() as cursor:
                cursor.execute(
                    f"""INSERT INTO {Message._meta.db_table}
                            (campaign_id, run_id, shop_id, phone, status, reason, body, text, parts, batch,
                             settlement, link_code, attempts, sent_at, final_at, created_at, month)
                        SELECT %s, %s, %s, (%s + n)::text, 'delivered', '', '', '', 1, 1, 'charged', u.code,
                               0, %s, %s, %s, %s
                        FROM unnest(%s::text[]) WITH ORDINALITY AS u(code, n)""",
                    [campaign.pk, run.pk, bench.shop.pk, bench.first_phone + first, now, now, now, run.month,
                     sql_text_array(codes)],
                )  # fmt: skip
        # As autovacuum keeps a live table. VACUUM cannot run inside a transaction (the tests' one).
        verb = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
        with connection.cursor() as cursor:
            cursor.execute(f"{verb} {Message._meta.db_table}")
            cursor.execute(f"{verb} {Click._meta.db_table}")
        random.shuffle(kept)
        with open(codes_file, "w") as out:
            out.write("\n".join(kept) + "\n")
        self.stdout.write(f"CAMPAIGN_ID={campaign.pk}\n")
        self.stdout.write(f"LANDING={coupon.landing_url}\n")
        self.stderr.write(
            f"seeded {messages} messages with codes, {len(kept)} codes in {codes_file}, "
            f"{time.perf_counter() - started:.1f} s"
        )
