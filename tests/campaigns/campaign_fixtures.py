"""Shared set-up of the campaign tests: a funded shop with a live signature and customers."""

from __future__ import annotations

import io
import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import connection

from campaigns.models import Customer
from campaigns.services.importing import customers_import
from reviews.services.signatures import signature_approve, signature_submit
from tests.factories import make_active_account

SH = ZoneInfo("Asia/Shanghai")
MORNING = datetime(2026, 6, 1, 10, 0, tzinfo=SH)  # a Monday, inside the marketing window
MARKETING_TEXT = "夏季新品上架，全场满199元减20元，欢迎进店选购。"


def phones(n: int, start: int = 0) -> list[str]:
    return [f"1380013{i:04d}" for i in range(start, start + n)]


def import_customers(shop, rows: list[str], header: str = "手机号,姓名,标签,商品,购买时间,金额") -> None:
    text = header + "\n" + "\n".join(rows) + "\n"
    report = customers_import(shop=shop, stream=io.BytesIO(text.encode()))
    assert report.rejected == 0, report.rejections


def live_signature_for(shop, user, reviewer, text: str = "爱丽丝服饰"):
    signature = signature_submit(shop=shop, text=text, by=user)
    return signature_approve(signature=signature, reviewer=reviewer)


def assert_ledger_clean() -> None:
    """The ledger, and the results counters (every pipeline test checks both where it checks the
    ledger: both must be exact after any run, crash or fault)."""
    out = io.StringIO()
    call_command("reconcile_ledger", stdout=out)
    assert "0 discrepancies" in out.getvalue()
    assert_stats_clean()


def assert_stats_clean() -> None:
    out = io.StringIO()
    try:
        call_command("reconcile_stats", stdout=out, stderr=out)
    except SystemExit:
        pass
    assert "0 discrepancies" in out.getvalue(), out.getvalue()


@pytest.fixture
def pipeline_settings(settings):
    settings.SMS_PIPELINE = {**settings.SMS_PIPELINE, "DISPATCH_RATE": 0, "DISPATCH_BATCH": 7}
    settings.SMS_GATEWAY = {
        "BACKEND": "campaigns.gateways.simulated.SimulatedGateway",
        "OPTIONS": {"fail_ratio": 0.3},
    }
    return settings


@pytest.fixture
def ready_shop(alice, alice_shop, reviewer, pipeline_settings):
    """Alice's shop: active account with 1,000 parts, live signature, 20 customers."""
    make_active_account(alice_shop, balance=1000, user=alice)
    live_signature_for(alice_shop, alice, reviewer)
    import_customers(
        alice_shop,
        [
            f"{p},客户{i},{'VIP' if i % 2 else ''},T恤,2026-05-{1 + i % 20:02d} 12:00,{i}9"
            for i, p in enumerate(phones(20))
        ],
    )
    assert Customer.objects.filter(shop=alice_shop).count() == 20
    return alice_shop


def run_in_threads(target, count: int) -> list:
    """``target(index)`` in ``count`` threads released at once (a barrier), each on its own
    database connection (closed after); their results in completion order. An exception in a
    thread fails the test, in the test's thread."""
    results: list = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(count)

    def run(index: int) -> None:
        barrier.wait()
        try:
            value = target(index)
            with lock:
                results.append(value)
        except BaseException as exc:  # surfaced below, in the test's thread
            with lock:
                errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return results
