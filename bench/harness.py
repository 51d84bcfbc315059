"""Shared set-up and clean-up of the benchmarks (``bench_send``, ``bench_dispatch``, ``bench_web_seed``).

A benchmark works on a dedicated shop (its own category, owner, reviewer, account,
signature, customers in a phone range of its own) and deletes all of it afterwards
with set-based SQL, so it can run against a database that holds other data. It is
not a test: it prints figures for docs/PERFORMANCE.md.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import resource
import secrets
import string
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import connection, connections, transaction
from django.db.models import Count
from django.utils import timezone

from bench.cpu import CpuBreakdown
from campaigns.models import Campaign, CampaignRun, Customer, Message
from campaigns.models.frequency import PlatformCounter, ShopCounter
from campaigns.services.campaigns import campaign_create
from campaigns.services.frequency import LOCAL_TZ
from campaigns.services.message_partitions import message_partitions_ensure
from campaigns.services.planning import plan_batch
from reviews.services.signatures import signature_approve, signature_submit
from smsmarketing.models import Category, Membership, Shop
from smsmarketing.services import account_activate, account_grant
from smsmarketing.services.accounts import MAX_GRANT_UNITS

# The bench audience lives in 199xxxxxxxx (valid mainland mobile numbers); each run of a
# benchmark takes the block of 10 million after a random start, so two runs never share phones.
PHONE_BASE = 19_900_000_000
MARKETING_TEXT = "夏季新品上架，全场满199元减20元，欢迎进店选购。"
# Share of the audience already messaged by other shops (today and yesterday): 30% got one
# marketing SMS today, a sixth of those two, a sixth three (the platform's daily cap).
MESSAGED_SHARE = 0.3


def peak_rss_mb() -> float:
    """The process's peak resident set size (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def send_moment() -> datetime:
    """Noon today in Asia/Shanghai: inside the marketing window whatever the wall clock says."""
    today = timezone.now().astimezone(LOCAL_TZ).date()
    return datetime.combine(today, datetime.min.time(), tzinfo=LOCAL_TZ) + timedelta(hours=12)


@dataclass
class BenchShop:
    shop: Shop
    other_shop: Shop
    category: Category
    users: list
    first_phone: int
    recipients: int


# No j or d: a tag containing "jd" made the signature "Bench<tag>" carry the platform's brand
# (SIG-PLATFORM) and the benchmark's set-up fail about once in a hundred runs.
_TAG_LETTERS = "".join(c for c in string.ascii_letters if c.lower() not in "jd")


def _suffix(n: int = 8) -> str:
    return "".join(secrets.choice(_TAG_LETTERS) for _ in range(n))


def bench_shop_create(*, recipients: int, balance: int) -> BenchShop:
    """A funded shop with a live signature and ``recipients`` customers (set-based insert)."""
    tag = _suffix()
    User = get_user_model()
    owner = User.objects.create_user(username=f"bench-owner-{tag}", password=secrets.token_hex(16))
    reviewer = User.objects.create_user(
        username=f"bench-reviewer-{tag}", password=secrets.token_hex(16), is_staff=True, is_superuser=True
    )
    category = Category.objects.create(name=f"压测类目-{tag}")
    shop = Shop.objects.create(name=f"压测店铺{tag}", category=category)
    other_shop = Shop.objects.create(name=f"压测他店{tag}", category=category)
    Membership.objects.create(user=owner, shop=shop)
    account_activate(shop=shop, user=owner, accept_terms=True)
    # In ledger entries of at most the grant's maximum each (bench_web_seed --messages 20000000
    # asks for 200,000,000 parts): the account and its ledger stay what the service writes.
    for start in range(0, balance, MAX_GRANT_UNITS):
        units = min(MAX_GRANT_UNITS, balance - start)
        account_grant(shop_id=shop.pk, units=units, reason="压测发放", actor=None)
    signature = signature_submit(shop=shop, text=f"Bench{tag}", by=owner)
    signature_approve(signature=signature, reviewer=reviewer)
    first_phone = PHONE_BASE + secrets.randbelow(9) * 10_000_000
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {Customer._meta.db_table}
                    (shop_id, phone, name, tags, purchase_count, total_spent, created_at)
                SELECT %s, (%s + g)::text, '客户' || g, ARRAY['VIP'], 1 + g %% 5, (g %% 500)::numeric, now()
                FROM generate_series(0, %s - 1) AS g""",
            [shop.pk, first_phone, recipients],
        )
        cursor.execute(f"ANALYZE {Customer._meta.db_table}")
    return BenchShop(shop, other_shop, category, [owner, reviewer], first_phone, recipients)


def frequency_history_seed(*, bench: BenchShop, day: date, share: float = MESSAGED_SHARE) -> int:
    """Counters of phones other shops messaged today and yesterday; returns rows written.

    Of every 100 phones, ``share`` got marketing today from another shop: 20 of 30 once,
    5 twice, 5 three times (at the platform's daily cap, so they are suppressed
    ``FREQ-PLATFORM-DAY``); the same phones got one yesterday too.
    """
    every = max(1, round(1 / share)) if share else 0
    if not every:
        return 0
    platform, shops = PlatformCounter._meta.db_table, ShopCounter._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {platform} (phone, day, marketing, notify_unsub, notify)
                SELECT %s + g, d.day, CASE WHEN d.day = %s::date
                        THEN 1 + (CASE WHEN g / %s %% 6 = 4 THEN 1 WHEN g / %s %% 6 = 5 THEN 2 ELSE 0 END)
                        ELSE 1 END, 0, 0
                FROM generate_series(0, %s - 1, %s) AS g
                CROSS JOIN (VALUES (%s::date), (%s::date)) AS d(day)
                ON CONFLICT DO NOTHING""",
            [bench.first_phone, day, every, every, bench.recipients, every, day, day - timedelta(days=1)],
        )
        written = cursor.rowcount
        cursor.execute(
            f"""INSERT INTO {shops} (phone, shop_id, day, marketing, notify_unsub, notify)
                SELECT p.phone, %s, p.day, 1, 0, 0 FROM {platform} p
                WHERE p.phone >= %s AND p.phone < %s + %s
                ON CONFLICT DO NOTHING""",
            [bench.other_shop.pk, bench.first_phone, bench.first_phone, bench.recipients],
        )
        written += cursor.rowcount
        cursor.execute(f"ANALYZE {platform}")
        cursor.execute(f"ANALYZE {shops}")
    return written


# Rows per INSERT statement of the message seeds.
SEED_CHUNK = 250_000
_SEED_SQL = f"""
    INSERT INTO {Message._meta.db_table}
        (campaign_id, run_id, shop_id, customer_id, phone, status, reason, body, text, parts,
         batch, settlement, attempts, counted_at, sent_at, final_at, created_at, month)
    SELECT %(campaign)s, %(run)s, %(shop)s, NULL, (%(phone)s + g)::text,
           CASE WHEN g %% 20 = 0 THEN 'suppressed' WHEN g %% 10 = 1 THEN 'failed' ELSE 'delivered' END,
           CASE WHEN g %% 20 = 0 THEN 'FREQ-PLATFORM-DAY' WHEN g %% 10 = 1 THEN 'DLR-FAILED' ELSE '' END,
           %(body)s, CASE WHEN g %% 20 = 0 THEN '' ELSE %(text)s END, 1, 1 + g / 1000,
           CASE WHEN g %% 20 = 0 THEN 'none' WHEN g %% 10 = 1 THEN 'released' ELSE 'charged' END, 1, %(now)s,
           %(now)s - (g %% 48) * interval '1 hour',
           %(now)s - (g %% 48) * interval '1 hour' + interval '5 s',
           %(now)s, %(month)s
    FROM generate_series(%(low)s, %(high)s) AS g"""


def message_rows_seed(cursor, *, run: CampaignRun, shop_id: int, first_phone: int, at: datetime, low: int,
                      high: int) -> int:  # fmt: skip
    """Finished message rows ``low``..``high`` of ``run`` (delivered, failed, suppressed, spread
    over 48 hours before ``at``), in the run's month partition; one statement. Returns the rows."""
    cursor.execute(_SEED_SQL, {
        "shop": shop_id, "phone": first_phone, "body": MARKETING_TEXT,
        "text": f"【Bench】{MARKETING_TEXT}拒收请回复R", "now": at, "campaign": run.campaign_id,
        "run": run.pk, "month": run.month, "low": low, "high": high,
    })  # fmt: skip
    return cursor.rowcount


def message_history_seed(*, bench: BenchShop, messages: int, months: int = 13, log=None) -> int:
    """``messages`` rows of finished campaigns of the bench shop over the last ``months`` months
    (one campaign and run a month, each in its month's partition): the history a shop's years of
    sending leave. Each chunk commits on its own outside a transaction; the partitions exist first."""
    today = timezone.localdate().replace(day=1)
    per = -(-messages // months)
    written = 0
    for back in range(months):
        index = today.year * 12 + today.month - 1 - back
        month = date(index // 12, index % 12 + 1, 1)
        at = timezone.make_aware(datetime(month.year, month.month, 10, 12, 0))
        message_partitions_ensure(months=[month])
        campaign = Campaign.objects.create(
            shop=bench.shop, kind=Campaign.Kind.MARKETING, name=f"历史{month:%Y%m}",
            status=Campaign.Status.COMPLETED, text=MARKETING_TEXT, started_at=at, finished_at=at,
        )  # fmt: skip
        run = CampaignRun.objects.create(campaign=campaign, status=CampaignRun.Status.FINISHED, month=month)
        count = min(per, messages - written)
        with connection.cursor() as cursor:
            for low in range(0, count, SEED_CHUNK):
                written += message_rows_seed(
                    cursor, run=run, shop_id=bench.shop.pk, first_phone=PHONE_BASE, at=at, low=low,
                    high=min(count, low + SEED_CHUNK) - 1,
                )  # fmt: skip
        if log:
            log(f"  history: {written:,} messages")
    verb = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
    with connection.cursor() as cursor:
        cursor.execute(f"{verb} {Message._meta.db_table}")
    return written


def bench_campaign_start(*, bench: BenchShop, text: str = MARKETING_TEXT, holdout: int = 0) -> CampaignRun:
    """A marketing campaign to every customer, created through the service, its run planning;
    ``holdout`` percent of them held out."""
    owner = bench.users[0]
    campaign = campaign_create(shop=bench.shop, user=owner, kind="marketing", name="压测营销", text=text)
    Campaign.objects.filter(pk=campaign.pk).update(
        status=Campaign.Status.RUNNING, started_at=timezone.now(), holdout_percent=holdout
    )
    return CampaignRun.objects.create(campaign=campaign, status=CampaignRun.Status.PLANNING)


def plan_all(*, run: CampaignRun, at: datetime) -> int:
    """Plan the run through the real pipeline, batch by batch; returns the batches planned."""
    batches = 0
    while not plan_batch(run_id=run.pk, now=at):
        batches += 1
    return batches


def plan_with_planners(*, run: CampaignRun, at: datetime, planners: int, breakdown: bool = False):
    """Plan the run with ``planners`` processes at once, as ``PLAN_WORKERS`` django-q2 workers
    would (``campaigns.tasks.plan_run_part``); returns the merged ``CpuBreakdown`` (or None).

    Forked after closing this process's connections (a child must not share the parent's
    socket); each child opens its own, loops ``plan_batch`` and sends back its CPU figures."""
    connections.close_all()
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    children = [
        context.Process(target=_planner_process, args=(run.pk, at, breakdown, results))
        for _ in range(planners)
    ]
    for child in children:
        child.start()
    states = [results.get() for _ in children]
    for child in children:
        child.join()
    failed = [state for state in states if isinstance(state, str)]
    if failed or any(child.exitcode for child in children):
        raise RuntimeError(f"a planner process failed: {failed or [c.exitcode for c in children]}")
    if not breakdown:
        return None
    total = CpuBreakdown()
    total.python = total.backend = 0.0
    for state in states:
        total.merge(state)
    return total


def _planner_process(run_id: int, at: datetime, breakdown: bool, results) -> None:
    try:
        cpu = CpuBreakdown() if breakdown else None
        with cpu.measure() if cpu else contextlib.nullcontext():
            while not plan_batch(run_id=run_id, now=at):
                pass
        results.put(cpu.state() if cpu else None)
    except BaseException as exc:  # reported to the parent, which raises
        results.put(f"{type(exc).__name__}: {exc}")
        raise
    finally:
        connections.close_all()


def peak_rss_children_mb() -> float:
    """The largest peak resident set size of the finished child processes (planners)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def message_outcomes(*, run: CampaignRun) -> dict[str, int]:
    rows = Message.objects.filter(run=run).values_list("status", "reason").order_by().annotate(n=Count("id"))
    return {f"{status}{':' + reason if reason else ''}": n for status, reason, n in rows}


def bench_shop_delete(bench: BenchShop) -> None:
    """Delete what the benchmark created, set-based (the ORM would load every message).

    Left behind on purpose: the two closed shops, their category, the bench users, the
    signature and its review decision (the audit trail is append-only)."""
    shop_ids = [bench.shop.pk, bench.other_shop.pk]
    statements = [
        "DELETE FROM campaigns_deliveryreport r USING campaigns_message m WHERE r.message_id = m.id AND m.shop_id = ANY(%(shops)s)",  # noqa: E501
        "DELETE FROM campaigns_message WHERE shop_id = ANY(%(shops)s)",
        "DELETE FROM campaigns_planbatch WHERE run_id IN (SELECT r.id FROM campaigns_campaignrun r JOIN campaigns_campaign c ON c.id = r.campaign_id WHERE c.shop_id = ANY(%(shops)s))",  # noqa: E501
        "DELETE FROM campaigns_campaignrun WHERE campaign_id IN (SELECT id FROM campaigns_campaign WHERE shop_id = ANY(%(shops)s))",  # noqa: E501
        "DELETE FROM campaigns_campaign WHERE shop_id = ANY(%(shops)s)",
        "DELETE FROM campaigns_purchase WHERE shop_id = ANY(%(shops)s)",
        "DELETE FROM campaigns_customer WHERE shop_id = ANY(%(shops)s)",
        "DELETE FROM campaigns_freq_shop WHERE shop_id = ANY(%(shops)s) OR (phone >= %(lo)s AND phone < %(hi)s)",  # noqa: E501
        "DELETE FROM campaigns_freq_platform WHERE phone >= %(lo)s AND phone < %(hi)s",
        "DELETE FROM smsmarketing_settlement s USING smsmarketing_reservation r, smsmarketing_smsaccount a WHERE s.reservation_id = r.id AND r.account_id = a.id AND a.shop_id = ANY(%(shops)s)",  # noqa: E501
        "DELETE FROM smsmarketing_reservation r USING smsmarketing_smsaccount a WHERE r.account_id = a.id AND a.shop_id = ANY(%(shops)s)",  # noqa: E501
        "DELETE FROM smsmarketing_ledgerentry l USING smsmarketing_smsaccount a WHERE l.account_id = a.id AND a.shop_id = ANY(%(shops)s)",  # noqa: E501
        "DELETE FROM smsmarketing_rechargeorder o USING smsmarketing_smsaccount a WHERE o.account_id = a.id AND a.shop_id = ANY(%(shops)s)",  # noqa: E501
        "DELETE FROM smsmarketing_spendcounter c USING smsmarketing_smsaccount a WHERE c.account_id = a.id AND a.shop_id = ANY(%(shops)s)",  # noqa: E501
        "DELETE FROM smsmarketing_smsaccount WHERE shop_id = ANY(%(shops)s)",
        # The review audit trail is append-only (a trigger refuses DELETE): the shop, its signature,
        # category and users stay, the shop closed (营业中 off); everything bulky is gone.
        "UPDATE smsmarketing_shop SET active = false WHERE id = ANY(%(shops)s)",
    ]
    params = {
        "shops": shop_ids,
        "lo": bench.first_phone,
        "hi": bench.first_phone + bench.recipients,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        # django-q2 schedules/tasks are not created: runs are driven here, not by the cluster.
        for sql in statements:
            cursor.execute(sql, params)
