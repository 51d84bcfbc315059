"""The customer import as a merchant uses it: upload, the check's preview (totals and every
rejected line), confirmation, the background import in batches and its reloadable result."""

from __future__ import annotations

import io
import threading
from datetime import timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from campaigns.models import Customer, CustomerImport, CustomerImportRow, Purchase
from campaigns.services import importing
from campaigns.services.importing import (
    customer_import_check,
    customer_import_confirm,
    customer_import_run,
    customers_import,
)
from campaigns.tasks import purge_stale_customer_imports

HEADER = "手机号,姓名,标签,商品,购买时间,金额"


def csv_bytes(rows: list[str]) -> bytes:
    return (HEADER + "\n" + "\n".join(rows) + "\n").encode()


def good_rows(n: int, start: int = 0) -> list[str]:
    return [f"1380013{i:04d},客户{i},VIP,连衣裙,2024-06-18 20:30,199" for i in range(start, start + n)]


def upload(client, shop, content: bytes, capture, name: str = "会员.csv") -> str:
    """Upload a file; the check runs (synchronously in tests); the page it redirects to."""
    with capture(execute=True):
        response = client.post(
            reverse("campaigns:customers_import", args=[shop.pk]), {"file": SimpleUploadedFile(name, content)}
        )
    assert response.status_code == 302, response
    return response["Location"]


def confirm(client, shop, job, capture, figures: str | None = None):
    with capture(execute=True):
        return client.post(
            reverse("campaigns:customers_import_confirm", args=[shop.pk, job.pk]),
            {"figures": job.figures if figures is None else figures},
        )


def new_job(shop, rows: list[str]) -> CustomerImport:
    """A checked job (ready to confirm), without the portal."""
    job = CustomerImport.objects.create(shop=shop, filename="c.csv")
    customer_import_check(job_id=job.pk, stream=io.BytesIO(csv_bytes(rows)))
    job.refresh_from_db()
    assert job.status == CustomerImport.Status.READY
    return job


def test_it_shows_the_totals_and_every_rejected_line_before_importing(
    client, alice, alice_shop, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    rows = good_rows(30)
    rows[21] = "1380013008x,坏号码,,,,"  # line 23: a bad phone, past the first 20 rows
    rows[25] = "13800130025,坏金额,VIP,连衣裙,2024-06-18 20:30,十元"  # line 27
    rows[26] = "13800130026,坏日期,VIP,连衣裙,2024-13-45,10"  # line 28
    rows.append("13800130000,张三,,连衣裙,2024-06-18 20:30,199")  # line 32: the purchase of line 2 again
    page_url = upload(client, alice_shop, csv_bytes(rows), django_capture_on_commit_callbacks)
    page = client.get(page_url)
    body = page.content.decode()
    job = page.context["job"]
    assert page.status_code == 200 and job.status == CustomerImport.Status.READY
    assert (job.rows, job.valid, job.rejected, job.customers, job.purchases) == (31, 27, 4, 27, 27)
    assert "31 行" in body and "27 行" in body and "4 行" in body and "27 条" in body
    for line, value, reason in [
        (23, "1380013008x", "手机号格式不正确"),
        (27, "十元", "金额格式不正确"),
        (28, "2024-13-45", "购买时间格式不正确"),
        (32, "138****0000", "重复的行"),
    ]:
        assert f"第 {line} 行" in body and value in body and reason in body, line
    for tag in ("BAD-PHONE", "BAD-AMOUNT", "BAD-DATE", "DUPLICATE"):
        assert tag in body
    # The first valid rows are shown with masked phones; nothing is imported yet.
    assert len(page.context["sample"]) == 10 and "138****0001" in body and "13800130001" not in body
    assert not Customer.objects.exists()


def test_it_pages_through_every_rejected_line(client, alice, alice_shop, django_capture_on_commit_callbacks):
    client.force_login(alice)
    rows = good_rows(200)
    bad_lines = set()
    for index in range(0, 200, 3):  # 67 bad phones: two pages of rejected lines
        rows[index] = f"12{index:03d},坏号,,,,"
        bad_lines.add(index + 2)
    page_url = upload(client, alice_shop, csv_bytes(rows), django_capture_on_commit_callbacks)
    seen, page_number = [], 1
    while True:
        page = client.get(page_url, {"page": page_number})
        rejected = page.context["rejected"]
        seen += [row.line for row in rejected.object_list]
        if not rejected.has_next():
            break
        assert "下一页" in page.content.decode()
        page_number += 1
    assert page_number == 2 and set(seen) == bad_lines and len(seen) == len(bad_lines)


def test_it_imports_after_confirmation_and_the_result_page_reloads(
    client, alice, alice_shop, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    rows = [*good_rows(5), "123,坏号,,,,"]
    page_url = upload(client, alice_shop, csv_bytes(rows), django_capture_on_commit_callbacks)
    job = client.get(page_url).context["job"]
    confirmed = confirm(client, alice_shop, job, django_capture_on_commit_callbacks)
    assert confirmed.status_code == 302 and confirmed["Location"] == page_url  # post/redirect/get
    for _reload in range(2):
        result = client.get(page_url)
        assert result.status_code == 200
        text = result.content.decode()
        assert "成功导入 <strong>5</strong> 行" in text and "拒绝 <strong>1</strong> 行" in text
        assert "第 7 行" in text and "BAD-PHONE" in text
    job.refresh_from_db()
    assert job.status == CustomerImport.Status.DONE and job.customers_created == 5
    assert Customer.objects.filter(shop=alice_shop).count() == 5 and Purchase.objects.count() == 5
    # The valid rows are gone once merged; the rejected ones stay for the report.
    assert list(CustomerImportRow.objects.filter(job=job).values_list("line", flat=True)) == [7]
    # A second confirmation (a double click, a resubmitted form) imports nothing more.
    confirm(client, alice_shop, job, django_capture_on_commit_callbacks)
    assert Purchase.objects.count() == 5
    customers = client.get(reverse("campaigns:customers", args=[alice_shop.pk])).content.decode()
    assert "最近导入" in customers and "导入完成" in customers


def test_it_refuses_a_confirmation_of_other_figures(
    client, alice, alice_shop, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    page_url = upload(client, alice_shop, csv_bytes(good_rows(3)), django_capture_on_commit_callbacks)
    job = client.get(page_url).context["job"]
    refused = confirm(client, alice_shop, job, django_capture_on_commit_callbacks, figures="9-9-0-9-9")
    assert refused.status_code == 302
    page = client.get(page_url)
    assert "导入预览已过期" in page.content.decode()
    job.refresh_from_db()
    assert job.status == CustomerImport.Status.READY and not Customer.objects.exists()


def test_it_cancels_a_preview_and_keeps_nothing_of_it(
    client, alice, alice_shop, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    page_url = upload(client, alice_shop, csv_bytes(good_rows(3)), django_capture_on_commit_callbacks)
    job = client.get(page_url).context["job"]
    client.post(reverse("campaigns:customers_import_cancel", args=[alice_shop.pk, job.pk]))
    job.refresh_from_db()
    assert job.status == CustomerImport.Status.CANCELLED
    assert not CustomerImportRow.objects.filter(job=job).exists() and not Customer.objects.exists()
    assert confirm(client, alice_shop, job, django_capture_on_commit_callbacks).status_code == 302
    assert not Customer.objects.exists()


def test_it_moves_the_progress_batch_by_batch_and_a_retried_batch_imports_once(
    client, alice, alice_shop, monkeypatch
):
    monkeypatch.setattr(importing, "IMPORT_BATCH_ROWS", 10)
    client.force_login(alice)
    job = new_job(alice_shop, good_rows(35))
    customer_import_confirm(job=job, figures=job.figures, enqueue=False)
    progress_url = reverse("campaigns:customers_import_progress", args=[alice_shop.pk, job.pk])
    assert 'value="0"' in client.get(progress_url).content.decode()
    assert customer_import_run(job_id=job.pk, max_batches=1) == "paused"
    job.refresh_from_db()
    assert (job.rows_done, job.imported, job.percent) == (10, 10, 28)
    box = client.get(progress_url)
    assert (
        box.status_code == 200 and 'value="28"' in box.content.decode() and "hx-get" in box.content.decode()
    )
    # A worker dies in the middle of the next batch: its transaction is rolled back whole.
    with pytest.raises(RuntimeError), transaction.atomic():
        customer_import_run(job_id=job.pk, max_batches=1)
        raise RuntimeError("worker killed")
    job.refresh_from_db()
    assert (job.last_line, job.rows_done, Purchase.objects.count()) == (11, 10, 10)
    # The retried task resumes after the last batch that committed, and a copy run after it does nothing.
    assert customer_import_run(job_id=job.pk) == CustomerImport.Status.DONE
    assert customer_import_run(job_id=job.pk) == CustomerImport.Status.DONE
    job.refresh_from_db()
    assert (job.imported, job.customers_created, job.purchases_created, job.percent) == (35, 35, 35, 100)
    assert Purchase.objects.count() == 35 and Customer.objects.filter(purchase_count=1).count() == 35
    done = client.get(progress_url)
    assert done.status_code == 204 and done["HX-Refresh"] == "true"  # the page reloads to the result


@pytest.mark.django_db(transaction=True)
def test_two_copies_of_the_import_task_at_once_import_every_row_once(alice_shop, monkeypatch):
    monkeypatch.setattr(importing, "IMPORT_BATCH_ROWS", 50)
    job = new_job(alice_shop, good_rows(400))
    customer_import_confirm(job=job, figures=job.figures, enqueue=False)
    results, start = [], threading.Barrier(2)

    def worker() -> None:
        try:
            start.wait()
            results.append(customer_import_run(job_id=job.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    job.refresh_from_db()
    assert results == ["done", "done"]
    assert (job.imported, job.customers_created, job.purchases_created) == (400, 400, 400)
    assert Purchase.objects.filter(shop=alice_shop).count() == 400


def test_the_customer_list_masks_phones(client, alice, alice_shop):
    customers_import(shop=alice_shop, stream=io.BytesIO(csv_bytes(good_rows(3))))
    client.force_login(alice)
    body = client.get(reverse("campaigns:customers", args=[alice_shop.pk])).content.decode()
    assert "138****0001" in body and "13800130001" not in body
    assert "import_customers" not in body
    found = client.get(reverse("campaigns:customers", args=[alice_shop.pk]), {"q": "13800130002"})
    assert "138****0002" in found.content.decode()  # searching by the whole number still works


def count_queries(client, url: str, params: dict | None = None) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, params or {}).status_code == 200
    return len(queries)


def test_the_customer_list_reads_a_fixed_number_of_queries(client, alice, alice_shop, bob, bob_shop):
    customers_import(shop=alice_shop, stream=io.BytesIO(csv_bytes(good_rows(2))))
    customers_import(shop=bob_shop, stream=io.BytesIO(csv_bytes(good_rows(80))))
    for _ in range(4):
        customers_import(shop=bob_shop, stream=io.BytesIO(csv_bytes(good_rows(3, 100))))
    client.force_login(alice)
    few = count_queries(client, reverse("campaigns:customers", args=[alice_shop.pk]))
    client.force_login(bob)
    many = count_queries(client, reverse("campaigns:customers", args=[bob_shop.pk]))
    assert few == many, (few, many)


def test_the_import_pages_read_a_fixed_number_of_queries(client, alice, alice_shop):
    few_rows = [*good_rows(3), "123,坏号,,,,"]
    many_rows = [*good_rows(100), *[f"12{i:03d},坏号,,,," for i in range(80)]]
    client.force_login(alice)
    counts = {}
    for label, rows in (("few", few_rows), ("many", many_rows)):
        preview = new_job(alice_shop, rows)
        counts[f"preview-{label}"] = count_queries(
            client, reverse("campaigns:customers_import_job", args=[alice_shop.pk, preview.pk])
        )
        customer_import_confirm(job=preview, figures=preview.figures, enqueue=False)
        counts[f"progress-{label}"] = count_queries(
            client, reverse("campaigns:customers_import_progress", args=[alice_shop.pk, preview.pk])
        )
        done = customers_import(shop=alice_shop, stream=io.BytesIO(csv_bytes(rows)))
        counts[f"result-{label}"] = count_queries(
            client, reverse("campaigns:customers_import_job", args=[alice_shop.pk, done.job_id])
        )
    assert counts["preview-few"] == counts["preview-many"], counts
    assert counts["result-few"] == counts["result-many"], counts
    assert counts["progress-few"] == counts["progress-many"], counts


def test_previews_left_unconfirmed_for_a_day_are_cancelled_overnight(alice_shop):
    with time_machine.travel(timezone.now() - timedelta(days=2)):
        old = new_job(alice_shop, good_rows(3))
    fresh = new_job(alice_shop, good_rows(3, 10))
    assert purge_stale_customer_imports() == 1
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.status == CustomerImport.Status.CANCELLED and fresh.status == CustomerImport.Status.READY
    assert not CustomerImportRow.objects.filter(job=old).exists()
    assert CustomerImportRow.objects.filter(job=fresh).count() == 3
    schedule = Schedule.objects.get(name="campaigns-purge-stale-customer-imports")
    assert schedule.func == "campaigns.tasks.purge_stale_customer_imports" and schedule.schedule_type == "D"
