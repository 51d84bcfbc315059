"""Customer and purchase import: line-numbered rejections, encodings, dialects, bounded memory."""

from __future__ import annotations

import io
import tracemalloc
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from campaigns.models import Customer, CustomerImport, CustomerImportRow, Purchase
from campaigns.services.importing import (
    BAD_AMOUNT,
    BAD_DATE,
    BAD_PHONE,
    DUPLICATE,
    ImportFileError,
    customer_import_check,
    customers_import,
)
from smsmarketing.errors import CategoryRestricted

GOOD = (
    "手机号,姓名,标签,商品,购买时间,金额\n"
    "13800138000,张三,VIP|老客,连衣裙,2024-06-18 20:30,199.00\n"
    "13800138000,张三,,T恤,2024-07-01,59.9\n"
    "+86 139 0013 9000,李四,新客,,,\n"
)


def run_import(shop, text: str, encoding: str = "utf-8"):
    return customers_import(shop=shop, stream=io.BytesIO(text.encode(encoding)))


def test_it_imports_customers_and_purchases_with_their_summaries(alice_shop):
    report = run_import(alice_shop, GOOD)
    assert (report.rows, report.imported, report.rejected) == (3, 3, 0)
    zhang = Customer.objects.get(shop=alice_shop, phone="13800138000")
    assert zhang.name == "张三" and zhang.tags == ["VIP", "老客"]
    assert zhang.purchase_count == 2 and zhang.total_spent == Decimal("258.90")
    assert timezone.localtime(zhang.last_purchase_at).date().isoformat() == "2024-07-01"
    li = Customer.objects.get(shop=alice_shop, phone="13900139000")
    assert li.purchase_count == 0 and li.tags == ["新客"]
    assert Purchase.objects.filter(shop=alice_shop).count() == 2


def test_it_reports_rejected_rows_with_their_line_numbers_and_reasons(alice_shop):
    text = (
        "phone,name,product,time,amount\n"
        "13800138000,A,连衣裙,2024-06-18,10\n"
        "12345,B,,,\n"  # line 3: bad phone
        "13800138001,C,连衣裙,2024-13-45,10\n"  # line 4: bad date
        "13800138000,A,连衣裙,2024-06-18,10\n"  # line 5: duplicate of line 2
        '"13800138002","D, junior",,,\n'  # line 6: fine, quoted comma
    )
    report = run_import(alice_shop, text)
    assert [(r.line, r.reason) for r in report.rejections] == [(3, BAD_PHONE), (4, BAD_DATE), (5, DUPLICATE)]
    assert (report.imported, report.rejected) == (2, 3)
    assert set(Customer.objects.filter(shop=alice_shop).values_list("phone", flat=True)) == {
        "13800138000",
        "13800138002",
    }
    assert Customer.objects.get(phone="13800138002").name == "D, junior"


def test_it_adds_nothing_when_the_same_file_is_imported_again(alice_shop):
    run_import(alice_shop, GOOD)
    again = run_import(alice_shop, GOOD)
    assert [r.reason for r in again.rejections] == [DUPLICATE, DUPLICATE]
    assert Purchase.objects.filter(shop=alice_shop).count() == 2
    assert Customer.objects.get(phone="13800138000").purchase_count == 2


def test_it_reads_gbk_and_utf8_with_bom_and_semicolons(alice_shop, bob_shop):
    gbk = GOOD.replace(",", ";")
    report = run_import(alice_shop, gbk, encoding="gbk")
    assert report.encoding == "gb18030" and report.imported == 3
    assert Customer.objects.get(shop=alice_shop, phone="13800138000").name == "张三"
    report = customers_import(shop=bob_shop, stream=io.BytesIO(b"\xef\xbb\xbf" + GOOD.encode()))
    assert report.encoding == "utf-8-sig" and report.imported == 3


def test_it_refuses_a_file_without_a_phone_column_and_writes_nothing(alice_shop):
    with pytest.raises(ImportFileError):
        run_import(alice_shop, "姓名,商品\n张三,裙子\n")
    assert not Customer.objects.exists()


def test_it_refuses_a_restricted_shop(charlie_shop):
    with pytest.raises(CategoryRestricted):
        run_import(charlie_shop, GOOD)
    assert not Customer.objects.exists()


def test_it_checks_the_whole_file_before_importing_anything(alice_shop):
    """The check (the preview) reads every row: totals, and each rejected line with its value."""
    rows = [f"1380013{i:04d},客户{i},,连衣裙,2024-06-18,10" for i in range(30)]
    rows[21] = "1380013-bad,坏号,,,,"  # line 23
    rows[25] = "13800130025,坏金额,,连衣裙,2024-06-18,十元"  # line 27
    job = CustomerImport.objects.create(shop=alice_shop, filename="c.csv")
    text = "手机号,姓名,标签,商品,购买时间,金额\n" + "\n".join(rows) + "\n"
    assert customer_import_check(job_id=job.pk, stream=io.BytesIO(text.encode())) == "ready"
    job.refresh_from_db()
    assert (job.rows, job.valid, job.rejected, job.customers, job.purchases) == (30, 28, 2, 28, 28)
    rejected = CustomerImportRow.objects.filter(job=job, error__isnull=False).order_by("line")
    assert [(r.line, r.error, r.value) for r in rejected] == [
        (23, BAD_PHONE, "1380013-bad"),
        (27, BAD_AMOUNT, "十元"),
    ]
    assert rejected[0].reason_text.startswith("手机号格式不正确")
    assert not Customer.objects.exists()


def test_it_exits_0_when_all_rows_import_and_1_when_some_are_rejected(alice_shop, tmp_path, capsys):
    good = tmp_path / "good.csv"
    good.write_text(GOOD, encoding="utf-8")
    call_command("import_customers", str(alice_shop.pk), str(good), "--quiet-progress")
    assert "导入 3 行，拒绝 0 行" in capsys.readouterr().out
    bad = tmp_path / "bad.csv"
    bad.write_text("手机号,商品,购买时间\n13800138009,裙子,昨天\n", encoding="gbk")
    with pytest.raises(SystemExit) as exit_:
        call_command("import_customers", str(alice_shop.pk), str(bad), "--quiet-progress")
    assert exit_.value.code == 1
    out = capsys.readouterr().out
    assert "第 2 行：BAD-DATE" in out


def test_it_imports_a_large_file_in_bounded_memory(alice_shop, tmp_path):
    rows = 100_000
    path = tmp_path / "big.csv"
    with open(path, "w", encoding="utf-8") as out:
        out.write("phone,name,tags,product,time,amount\n")
        for i in range(rows):
            out.write(
                f"1380{i % 50_000:07d},客户{i},A|B,商品{i % 7},2024-05-{1 + i % 28:02d} 10:00,{i % 300}.5\n"
            )
    tracemalloc.start()
    with open(path, "rb") as stream:
        report = customers_import(shop=alice_shop, stream=stream)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert report.rows == rows and report.rejected + report.imported == rows
    assert Customer.objects.filter(shop=alice_shop).count() == 50_000
    # Python memory stays flat (streamed COPY): far below the file's size in rows.
    assert peak < 30 * 1024 * 1024, peak
