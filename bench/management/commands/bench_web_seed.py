"""Seed data for the web benchmark (bench/web.sh), set-based, fast.

Creates a merchant ``bench-merchant`` with one shop (active account, live signature),
``--campaigns`` completed campaigns holding ``--messages`` message rows between them
(generate_series: delivered, failed, suppressed, spread over hours), ``--reviews``
pending custom templates spread over 100 other shops (the reviewers' queue), and a
reviewer ``bench-queue-reviewer``: staff in the reviewers group, as a platform reviewer is (a
superuser's pages skip the permission queries and list every model in the sidebar). Prints the
page URLs and a logged-in session cookie for each user, as shell assignments
``bench/web.sh`` evaluates.
Meant for a dedicated database (``sms_bench``): it is not cleaned up.
"""

from __future__ import annotations

import json
import time

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import connection
from django.test import Client
from django.utils import timezone

from bench.harness import MARKETING_TEXT, SEED_CHUNK, bench_shop_create, message_rows_seed
from campaigns.models import Campaign, CampaignRun, HourCounter, Message, MessageCounter
from reviews.models import MessageTemplate
from reviews.services.templates import template_current_findings, template_findings_key
from smsmarketing.models import Shop
from smsmarketing.roles import REVIEWER_GROUP

MERCHANT, REVIEWER = "bench-merchant", "bench-queue-reviewer"
PENDING_TEXT = "亲，您的${coupon_amount}优惠券已到账，${coupon_threshold}，点击${coupon_link}领取。"


class Command(BaseCommand):
    help = "Seed 1M messages and 10k pending reviews for the web benchmark; print URLs and session cookies."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--messages", type=int, default=1_000_000)
        parser.add_argument("--campaigns", type=int, default=50)
        parser.add_argument("--reviews", type=int, default=10_000)
        parser.add_argument(
            "--reuse", action="store_true",
            help="seed nothing: print the URLs and new session cookies of the latest seed (run the pages "
                 "again on the same rows, e.g. COLD=1 after COLD=0, without seeding 20M rows twice)",
        )  # fmt: skip

    def handle(self, *args, messages: int, campaigns: int, reviews: int, reuse: bool, **options) -> None:
        if reuse:
            return self._reuse()
        started = time.perf_counter()
        User = get_user_model()
        bench = bench_shop_create(recipients=min(messages, 100_000), balance=10 * messages)
        owner = bench.users[0]
        User.objects.filter(pk=owner.pk).update(username=f"{MERCHANT}-{owner.pk}")
        reviewer = User.objects.create_user(username=f"{REVIEWER}-{owner.pk}", is_staff=True)
        reviewer.groups.add(Group.objects.get(name=REVIEWER_GROUP))
        now = timezone.now()
        rows = Campaign.objects.bulk_create(
            Campaign(
                shop=bench.shop,
                kind=Campaign.Kind.MARKETING,
                name=f"压测营销{i + 1}",
                status=Campaign.Status.COMPLETED,
                text=MARKETING_TEXT,
                created_by=owner,
                scheduled_at=now,
                started_at=now,
                finished_at=now,
            )
            for i in range(campaigns)
        )
        runs = CampaignRun.objects.bulk_create(
            CampaignRun(campaign=c, status=CampaignRun.Status.FINISHED, batches_planned=1) for c in rows
        )
        per = messages // campaigns
        written, seeding = 0, time.perf_counter()
        with connection.cursor() as cursor:
            # One statement per chunk of a campaign's rows, each committed on its own (outside a
            # test's transaction): the results counters' trigger aggregates each statement's rows,
            # and 20,000,000 rows in one statement would hold them all in its transition table.
            for i, run in enumerate(runs):
                for low in range(0, per, SEED_CHUNK):
                    written += message_rows_seed(
                        cursor, run=run, shop_id=bench.shop.pk, first_phone=bench.first_phone, at=now,
                        low=low, high=min(per, low + SEED_CHUNK) - 1,
                    )  # fmt: skip
                if (i + 1) % 10 == 0 or i + 1 == len(rows):
                    elapsed = time.perf_counter() - seeding
                    self.stderr.write(f"  {written:,} messages, {written / elapsed:,.0f} /s")
        seeded = max(time.perf_counter() - seeding, 1e-9)
        with connection.cursor() as cursor:
            others = Shop.objects.bulk_create(
                Shop(name=f"待审店铺{i}-{bench.shop.pk}", category=bench.category) for i in range(100)
            )
            # As template_submit stores them: the findings and their fingerprint at submission
            # (the same for every row: same text, shops without a live signature).
            sample = MessageTemplate(
                shop=others[0], text=PENDING_TEXT, use="coupon", message_class="marketing"
            )
            found = [f.as_dict() for f in template_current_findings(sample)]
            findings = json.dumps(found, ensure_ascii=False)
            cursor.execute(
                f"""INSERT INTO {MessageTemplate._meta.db_table}
                        (state, submitted_at, due_at, reason_code, reason_text, findings, origin, name, use,
                         message_class, text, lineage, version, created_at, shop_id, submitted_by_id,
                         checked_findings, checked_key)
                    SELECT 'pending', %s - g * interval '1 minute', %s + (g %% 5000) * interval '1 minute',
                           '', '', %s::jsonb, 'custom', '待审模板' || g, 'coupon', 'marketing', %s,
                           gen_random_uuid(), 1, %s, (%s::bigint[])[1 + g %% 100], %s, %s::jsonb, %s
                    FROM generate_series(0, %s - 1) AS g""",
                [now, now, findings, PENDING_TEXT, now, [s.pk for s in others], owner.pk, findings,
                 template_findings_key(sample), reviews],
            )
            pending = cursor.rowcount
            # The state autovacuum keeps a live table in: statistics, and a visibility map. Right
            # after a bulk insert the map is empty, so the queue's count of pending templates is
            # planned as a sequential scan of the table (1.2 ms) instead of an index-only scan of
            # its partial index (0.5 ms), and autovacuum had still not run 10 minutes later
            # (docs/PERFORMANCE.md). VACUUM cannot run inside a transaction (the tests' one).
            verb = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
            tables = (Message, MessageCounter, HourCounter, MessageTemplate)
            for table in (model._meta.db_table for model in tables):
                cursor.execute(f"{verb} {table}")
        self.stderr.write(
            f"seeded {written:,} messages in {campaigns} campaigns ({written / seeded:,.0f} messages/s) and "
            f"{pending:,} pending templates in {time.perf_counter() - started:.1f} s"
        )
        self._print(owner=owner, reviewer=reviewer, shop_id=bench.shop.pk, campaign_id=rows[0].pk)

    def _reuse(self) -> None:
        User = get_user_model()
        owner = User.objects.filter(username__startswith=f"{MERCHANT}-").latest("pk")
        reviewer = User.objects.get(username=f"{REVIEWER}-{owner.username.rsplit('-', 1)[1]}")
        campaign = Campaign.objects.filter(shop__memberships__user=owner).order_by("pk").first()
        self._print(owner=owner, reviewer=reviewer, shop_id=campaign.shop_id, campaign_id=campaign.pk)

    def _print(self, *, owner, reviewer, shop_id: int, campaign_id: int) -> None:
        merchant = Client()
        merchant.force_login(owner)
        admin = Client()
        admin.force_login(reviewer)
        for name, value in {
            "MERCHANT_COOKIE": merchant.cookies["sessionid"].value,
            "REVIEWER_COOKIE": admin.cookies["sessionid"].value,
            "PAGE_DASHBOARD": f"/shop/{shop_id}/",
            "PAGE_CAMPAIGNS": f"/shop/{shop_id}/campaigns/",
            "PAGE_STATISTICS": f"/shop/{shop_id}/campaigns/{campaign_id}/",
            "PAGE_REVIEW_QUEUE": "/admin/reviews/messagetemplate/",
        }.items():
            self.stdout.write(f"{name}={value}")
