"""Smoke runs of the benchmark commands at a small size: they work and clean up after
themselves. The figures are not asserted (benchmarks are not timed tests)."""

from __future__ import annotations

import importlib
import io
import re

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client

from bench import harness
from campaigns.models import Campaign, Customer, Message
from campaigns.models.frequency import PlatformCounter, ShopCounter
from reviews.models import MessageTemplate
from smsmarketing.models import LedgerEntry, Reservation, Shop, SmsAccount
from smsmarketing.roles import REVIEWER_GROUP


@pytest.mark.django_db
def test_it_plans_with_a_history_of_messages_over_13_month_partitions():
    out = io.StringIO()
    call_command("bench_send", recipients=[1500], planners=1, history=2600, stdout=out, stderr=io.StringIO())
    text = out.getvalue()
    assert "history: 2,600 message rows over 13 months" in text
    assert re.search(r"plan \(pipeline\): 1,500 message rows", text)
    assert not Message.objects.exists()  # the history goes with the bench shop


@pytest.mark.django_db
def test_it_plans_through_the_pipeline_next_to_a_raw_copy_and_leaves_nothing_bulky_behind():
    out = io.StringIO()
    # One planner: in this process, inside the test's transaction (forked planners could not
    # see its uncommitted rows; the next test runs two).
    call_command("bench_send", recipients=[1500, 3000], breakdown=True, planners=1, stdout=out)
    text = out.getvalue()
    assert len(re.findall(r"plan \(pipeline\): ([\d,]+) message rows", text)) == 2
    assert re.search(r"plan \(pipeline\): 3,000 message rows", text)
    assert re.search(r"raw COPY\s+: 3,000 equivalent rows", text)
    assert len(re.findall(r"ratio plan/COPY: [\d.]+%", text)) == 2
    assert "FREQ-PLATFORM-DAY" in text  # the history of other shops suppresses some phones
    assert len(re.findall(r"peak RSS\s+: \d+ MB", text)) == 2
    # --breakdown: the CPU of this process and of its backend, per recipient, then per statement.
    cpu = re.findall(r"CPU per recipient: Python ([\d.]+) us, PostgreSQL backend ([\d.]+) us", text)
    assert len(cpu) == 2 and all(float(python) > 0 and float(backend) > 0 for python, backend in cpu)
    assert re.search(r"us\s+x\d+\s+INSERT INTO campaigns_message", text)
    # Cleaned up: only the closed bench shops (and their append-only review trail) remain.
    assert not Message.objects.exists()
    assert not Customer.objects.exists()
    assert not Campaign.objects.exists()
    assert not Reservation.objects.exists()
    assert not PlatformCounter.objects.exists() and not ShopCounter.objects.exists()
    assert not Shop.objects.filter(active=True, name__startswith="压测").exists()


@pytest.mark.django_db(transaction=True)
def test_it_plans_with_several_planner_processes_next_to_one_and_several_copy_streams():
    out = io.StringIO()
    call_command("bench_send", recipients=[12000], breakdown=True, planners=2, stdout=out)
    text = out.getvalue()
    assert re.search(r"plan \(pipeline\): 12,000 message rows in 3 batches, .* with 2 planners", text)
    assert re.search(r"raw COPY\s+: 12,000 equivalent rows .* \(one COPY", text)
    assert re.search(r"raw COPY x2\s+: 12,000 rows in 2 concurrent COPY streams", text)
    assert re.search(r"ratio plan/COPY x2: [\d.]+%", text)
    cpu = re.search(r"CPU per recipient: Python ([\d.]+) us, PostgreSQL backend ([\d.]+) us", text)
    assert cpu and float(cpu[1]) > 0 and float(cpu[2]) > 0
    assert "(summed over the 2 planners and their backends)" in text
    assert not Message.objects.exists() and not Customer.objects.exists() and not Reservation.objects.exists()


@pytest.mark.django_db
def test_it_refuses_several_planners_inside_a_transaction():
    with pytest.raises(CommandError, match="--planners"):
        call_command("bench_send", recipients=[10], planners=2, stdout=io.StringIO())


@pytest.mark.django_db
def test_it_seeds_the_web_benchmark_set_based_and_prints_logged_in_cookies():
    out = io.StringIO()
    call_command("bench_web_seed", messages=1200, campaigns=4, reviews=30, stdout=out, stderr=io.StringIO())
    values = dict(line.split("=", 1) for line in out.getvalue().split())
    assert set(values) >= {"MERCHANT_COOKIE", "REVIEWER_COOKIE", "PAGE_DASHBOARD", "PAGE_REVIEW_QUEUE"}
    shop_id = int(values["PAGE_DASHBOARD"].strip("/").split("/")[1])
    assert Message.objects.filter(shop_id=shop_id).count() == 1200
    assert Campaign.objects.filter(shop_id=shop_id).count() == 4
    assert MessageTemplate.objects.filter(state="pending").count() == 30
    # The queue is measured as a platform reviewer sees it: staff in the reviewers group, no superuser.
    reviewer = Client()
    reviewer.cookies[settings.SESSION_COOKIE_NAME] = values["REVIEWER_COOKIE"]
    queue = reviewer.get(values["PAGE_REVIEW_QUEUE"])
    assert queue.status_code == 200 and queue.context["cl"].result_count == 30
    assert not queue.context["user"].is_superuser
    assert queue.context["user"].groups.filter(name=REVIEWER_GROUP).exists()


@pytest.mark.django_db
def test_it_funds_a_seed_beyond_the_grants_maximum_in_several_entries_and_reuses_a_seed(monkeypatch):
    """20,000,000 messages need 200,000,000 parts: more than one grant may give (10,000,000). The
    seed grants in several ledger entries (scaled down here), its counters reconcile, and
    ``--reuse`` prints the same pages with new cookies without seeding again."""

    monkeypatch.setattr(harness, "MAX_GRANT_UNITS", 5_000)
    out = io.StringIO()
    call_command("bench_web_seed", messages=1200, campaigns=2, reviews=1, stdout=out, stderr=io.StringIO())
    values = dict(line.split("=", 1) for line in out.getvalue().split())
    shop_id = int(values["PAGE_DASHBOARD"].strip("/").split("/")[1])
    account = SmsAccount.objects.get(shop_id=shop_id)
    grants = LedgerEntry.objects.filter(account=account, kind=LedgerEntry.Kind.GRANT)
    assert account.balance == 12_000
    assert sorted(grants.values_list("parts", flat=True)) == [2_000, 5_000, 5_000]
    check = io.StringIO()
    call_command("reconcile_stats", stdout=check)
    assert "0 discrepancies" in check.getvalue()
    again = io.StringIO()
    call_command("bench_web_seed", reuse=True, stdout=again, stderr=io.StringIO())
    reused = dict(line.split("=", 1) for line in again.getvalue().split())
    assert reused["PAGE_STATISTICS"] == values["PAGE_STATISTICS"]
    assert reused["MERCHANT_COOKIE"] != values["MERCHANT_COOKIE"]
    assert Message.objects.filter(shop_id=shop_id).count() == 1200


@pytest.mark.django_db(transaction=True)
def test_it_leaves_the_seeded_tables_vacuumed_as_autovacuum_would():
    """Outside a transaction (as web.sh runs it) the seed vacuums what it filled: the queue's count
    is then an index-only scan, as on a live table, not a scan of the whole table."""

    call_command("bench_web_seed", messages=1200, campaigns=4, reviews=5000, stdout=io.StringIO(),
                 stderr=io.StringIO())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, relallvisible FROM pg_class WHERE relname IN (%s, %s)",
            [Message._meta.db_table, MessageTemplate._meta.db_table],
        )
        visible = dict(cursor.fetchall())
        # The message table is partitioned by month (docs/RETENTION.md): its rows are in partitions.
        cursor.execute(
            """SELECT sum(c.relallvisible) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = to_regclass(%s)""",
            [Message._meta.db_table],
        )
        visible[Message._meta.db_table] = cursor.fetchone()[0]
        cursor.execute(
            f"EXPLAIN SELECT COUNT(*) FROM {MessageTemplate._meta.db_table} "
            "WHERE origin = 'custom' AND state = 'pending'"
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert visible[Message._meta.db_table] > 0 and visible[MessageTemplate._meta.db_table] > 0
    assert "Index Only Scan" in plan, plan


def test_the_cold_bench_settings_flush_the_cache_before_every_request(client, settings):
    """``COLD=1 bench/web.sh`` serves smsmarketing.settings_bench_cold: the bench settings with
    bench.middleware.ColdCacheMiddleware first; production's settings never have it."""
    cold = importlib.import_module("smsmarketing.settings_bench_cold")
    production = importlib.import_module("smsmarketing.settings")
    assert cold.MIDDLEWARE == ["bench.middleware.ColdCacheMiddleware", *production.MIDDLEWARE]
    assert "bench.middleware.ColdCacheMiddleware" not in production.MIDDLEWARE
    settings.MIDDLEWARE = cold.MIDDLEWARE
    cache.set("bench-cold-probe", 1)
    assert client.get("/accounts/login/").status_code == 200
    assert cache.get("bench-cold-probe") is None
