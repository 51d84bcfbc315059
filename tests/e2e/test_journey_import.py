"""Journey: a merchant imports 200,000 rows in the background and watches it get done.

She uploads a CSV of 200,000 rows with 120 bad lines. The page shows the check running, then
the preview: the totals and every rejected line (line, value, Chinese reason), a page at a
time. She confirms; the import runs as a django-q2 task in batches while the page's progress
bar moves (htmx polling, the page reloading itself at the end); the result page reloads with a
GET; the customer list shows the phones masked. Every page is checked at 1440x900 and 390x844.

The cluster is played by the test: tasks are queued in the ORM broker (not run in the request,
as ``settings_test``'s synchronous mode would) and the test runs them, the import first one
batch window at a time (``customer_import_run(max_batches=...)``, as a worker would between two
polls), so the bar is seen part way, then the queued task to the end. The check and the import
are timed; the figures are printed (``-s``).
"""

from __future__ import annotations

import re
import time

import pytest
from django.utils.module_loading import import_string
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.signing import SignedPackage

from campaigns.models import Customer, CustomerImport, Purchase
from campaigns.services.importing import IMPORT_BATCH_ROWS, customer_import_run
from tests.factories import PASSWORD, make_active_account, make_shop, make_user

JOURNEY = "import"
ROWS = 200_000
BAD_EVERY = 1_700  # 118 bad lines spread through the file, plus three near the top

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def write_csv(path) -> set[int]:
    """200,000 rows (100,000 customers with two purchases each); the lines that are bad.

    Near the top: a bad phone on line 23 (past the 20 rows the old preview showed), a bad
    amount on line 26, a bad date on line 29; then one bad line every 1,700 rows."""
    bad: set[int] = set()
    lines = ["手机号,姓名,标签,商品,购买时间,金额"]
    for i in range(ROWS):
        line = i + 2
        phone = f"139{i // 2:08d}"
        row = f"{phone},会员{i // 2},VIP|老客,香薰蜡烛,2025-11-{11 + i % 2} 20:00,{59 + i % 200}.90"
        kind = {23: 0, 26: 1, 29: 2}.get(line, (i // BAD_EVERY) % 3 if i % BAD_EVERY == 1_000 else None)
        if kind is not None:
            # Only one row of a customer's two is bad: every customer still has a valid row.
            row = (
                f"139{i // 2:07d}x,坏号码,,,,",
                f"{phone},坏金额,VIP,香薰蜡烛,2025-11-11 20:00,五十元",
                f"{phone},坏日期,VIP,香薰蜡烛,2025-13-45,10",
            )[kind]
            bad.add(line)
        lines.append(row)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return bad


def run_queued_tasks() -> list[str]:
    """Play the django-q2 cluster once: run every task waiting in the broker."""
    broker, done = get_broker(), []
    while broker.queue_size():
        for ack_id, payload in broker.dequeue() or []:
            task = SignedPackage.loads(payload)
            import_string(task["func"])(*task["args"], **task["kwargs"])
            broker.acknowledge(ack_id)
            done.append(task["func"])
    return done


@pytest.fixture
def queued_tasks(monkeypatch):
    """Tasks go to the broker's queue instead of running in the request."""
    monkeypatch.setattr(Conf, "SYNC", False)


def test_it_imports_200000_rows_in_the_background_with_a_progress_bar(journey, queued_tasks, tmp_path):
    mei = make_user("mei")
    shop = make_shop("美家生活馆", owner=mei)
    make_active_account(shop, balance=1000, user=mei)
    upload = tmp_path / "会员名单.csv"
    started = time.monotonic()
    bad = write_csv(upload)
    generated = time.monotonic() - started

    merchant = journey.open()
    journey.login(merchant, "mei", PASSWORD)
    journey.visit_both(merchant, f"/shop/{shop.pk}/customers/", "customers-empty")

    # Upload: the file is kept and its check queued; the page shows the check waiting.
    merchant.set_input_files("#import input[type=file]", str(upload))
    assert merchant.inner_text("#import-file-name") == "会员名单.csv"  # beside the Chinese 选择 CSV 文件
    merchant.click("#import button[type=submit]")
    merchant.locator("#import-progress[data-status=checking]").wait_for()
    job = CustomerImport.objects.get(shop=shop)
    page_url = f"/shop/{shop.pk}/customers/import/{job.pk}/"
    assert merchant.url.endswith(page_url)
    assert merchant.inner_text("#import-percent") == "0%"
    journey.check_both(merchant, "import-checking")

    started = time.monotonic()
    assert "campaigns.tasks.check_customer_import" in run_queued_tasks()
    checked = time.monotonic() - started
    # The polling box sees the check over and the page reloads itself into the preview.
    merchant.locator("#import-totals").wait_for()
    job.refresh_from_db()
    assert (job.rows, job.rejected, job.valid) == (ROWS, len(bad), ROWS - len(bad))
    assert job.customers == ROWS // 2 and job.purchases == ROWS - len(bad)
    assert merchant.inner_text("#total-rows") == "200,000 行"
    assert merchant.inner_text("#total-rejected").startswith(f"{len(bad)} 行")
    first = merchant.locator("#rejected-rows tbody tr").first
    assert "第 23 行" in first.inner_text() and "手机号格式不正确" in first.inner_text()
    assert "1390000010x" in first.inner_text()  # the value as typed
    second = merchant.locator("#rejected-rows tbody tr").nth(1).inner_text()
    assert "第 26 行" in second and "五十元" in second and "金额格式不正确" in second
    third = merchant.locator("#rejected-rows tbody tr").nth(2).inner_text()
    assert "第 29 行" in third and "2025-13-45" in third and "购买时间格式不正确" in third
    assert merchant.locator("#rejected-rows tbody tr").count() == 50
    assert merchant.locator("#sample-rows tbody tr").count() == 10
    assert "139****0000" in merchant.inner_text("#sample-rows")
    journey.check_both(merchant, "import-preview")
    # Every rejected line can be read before confirming: page through them.
    seen = set()
    while True:
        for row in merchant.locator("#rejected-rows tbody tr td:first-child").all_inner_texts():
            seen.add(int(row.removeprefix("第 ").removesuffix(" 行")))
        if not merchant.locator("#rejected-next").count():
            break
        with merchant.expect_navigation():
            merchant.click("#rejected-next")
    assert seen == bad
    journey.check_both(merchant, "import-preview-last-page")

    # Confirm: post/redirect/get to the same page, the import queued; the bar at 0%.
    merchant.click("#import-confirm button[type=submit]")
    merchant.locator("#import-progress[data-status=importing]").wait_for()
    assert merchant.url.endswith(page_url)
    assert merchant.inner_text("#import-percent") == "0%"
    assert not Customer.objects.filter(shop=shop).exists()

    # A worker merges the first three batches; the page, polling, shows the bar part way.
    started = time.monotonic()
    assert customer_import_run(job_id=job.pk, max_batches=3) == "paused"
    partial = time.monotonic() - started
    job.refresh_from_db()
    assert job.rows_done == 3 * IMPORT_BATCH_ROWS
    expected = f"{100 * job.rows_done // job.rows}%"
    merchant.locator("#import-percent", has_text=expected).wait_for()
    assert 0 < int(merchant.get_attribute("#import-bar", "value")) < 100
    journey.check_both(merchant, "import-progress")

    # The queued task resumes after those batches and finishes; the page reloads into the result.
    started = time.monotonic()
    assert "campaigns.tasks.run_customer_import" in run_queued_tasks()
    imported = partial + time.monotonic() - started
    merchant.locator("#import-report").wait_for()
    job.refresh_from_db()
    assert job.status == CustomerImport.Status.DONE
    assert (job.imported, job.customers_created) == (ROWS - len(bad), ROWS // 2)
    assert Customer.objects.filter(shop=shop).count() == ROWS // 2
    assert Purchase.objects.filter(shop=shop).count() == ROWS - len(bad)
    report = merchant.inner_text("#import-report")
    assert f"成功导入 {ROWS - len(bad):,} 行" in report and f"拒绝 {len(bad)} 行" in report
    assert merchant.inner_text("#import-percent") == "100%"
    journey.check_both(merchant, "import-report")

    # The result is a page like any other: reloading it (GET) shows it again.
    response = merchant.reload()
    assert response.status == 200
    merchant.locator("#import-report").wait_for()
    journey.visit_both(merchant, f"/shop/{shop.pk}/customers/", "customers-imported")
    listed = merchant.inner_text("#customers")
    assert re.search(r"139\*{4}\d{4}", listed) and not re.search(r"\d{11}", listed)
    assert "导入完成" in merchant.inner_text("#recent-imports")
    journey.assert_console_clean()
    print(
        f"\n200,000-row import: CSV written in {generated:.1f}s, checked in {checked:.1f}s, "
        f"imported in {imported:.1f}s ({IMPORT_BATCH_ROWS:,} rows a batch)"
    )
