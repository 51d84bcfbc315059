"""Bad CSV input: huge, empty, binary, GBK from Excel, malformed and duplicated rows, an
encoding error deep in the file; and formula injection, neutralised by every CSV export."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from campaigns.models import Customer, CustomerImport, Purchase
from campaigns.services.importing import ImportFileError, customers_import
from campaigns.services.optouts import optout_record
from smsmarketing.models import RechargeOrder
from smsmarketing.services import account_grant
from tests.security.test_permission_matrix import ROUTES, url_for

pytestmark = pytest.mark.django_db

HEADER = "手机号,姓名,标签,商品,购买时间,金额"


def upload(client, shop, content: bytes, name: str = "客户.csv"):
    return client.post(
        reverse("campaigns:customers_import", args=[shop.pk]), {"file": SimpleUploadedFile(name, content)}
    )


def flash(client_response) -> str:
    return " ".join(str(m) for m in get_messages(client_response.wsgi_request))


def import_files(shop) -> list:
    """The uploads kept for a shop (a refused file keeps none)."""
    return list(CustomerImport.objects.filter(shop=shop))


def test_it_refuses_a_file_over_the_size_limit_without_storing_it(client, alice, alice_shop, settings):
    settings.SMS_IMPORT_MAX_BYTES = 1024 * 1024
    client.force_login(alice)
    rows = "\n".join(f"1380013{i % 10000:04d},客户{i}" for i in range(90_000))
    content = (HEADER + "\n" + rows).encode()
    assert len(content) > 1.5 * 1024 * 1024
    response = upload(client, alice_shop, content)
    assert response.status_code == 302
    assert "文件超过 1 MB 的上限，未导入任何数据" in flash(response)
    assert not Customer.objects.exists() and not import_files(alice_shop)


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "所提交的是空文件"),
        (b"\xef\xbb\xbf", "文件是空的"),
        (b"\n\n\n", "缺少“手机号”列"),
        ("姓名,标签\n张三,VIP\n".encode(), "手机号"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 20, "无法识别文件编码"),
    ],
    ids=["zero bytes", "only a BOM", "only blank lines", "no phone column", "a PNG image"],
)
def test_it_answers_an_unusable_file_with_a_clear_message_and_writes_nothing(
    client, alice, alice_shop, content, message
):
    client.force_login(alice)
    response = upload(client, alice_shop, content)
    assert response.status_code == 302
    assert message in flash(response)
    assert not Customer.objects.exists() and not import_files(alice_shop)


def test_it_imports_an_excel_gbk_file_with_crlf_quotes_and_trailing_columns(
    client, alice, alice_shop, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    excel = (
        "手机号,姓名,标签,商品,购买时间,金额,,\r\n"
        '13800138000,"王，小明",VIP、老客,"T恤,白色",2026/5/1 12:00,99.00,,\r\n'
        "+86 138-0013-8001,李雷,,,,,,\r\n"
        "１３８００１３８００２,韩梅梅,,,,,,\r\n"
    ).encode("gbk")
    with django_capture_on_commit_callbacks(execute=True):  # the check task (synchronous in tests)
        uploaded = upload(client, alice_shop, excel)
    preview = client.get(uploaded["Location"])
    assert preview.status_code == 200 and preview.context["job"].valid == 3
    assert not Customer.objects.exists()  # nothing before the merchant confirms
    job = preview.context["job"]
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("campaigns:customers_import_confirm", args=[alice_shop.pk, job.pk]),
            {"figures": job.figures},
        )
    assert client.get(uploaded["Location"]).status_code == 200
    customers = dict(Customer.objects.filter(shop=alice_shop).values_list("phone", "name"))
    assert customers == {"13800138000": "王，小明", "13800138001": "李雷", "13800138002": "韩梅梅"}
    assert Purchase.objects.get().product == "T恤,白色"


def test_it_reports_malformed_rows_by_line_imports_the_good_ones_and_ignores_duplicates(alice_shop):
    content = "\n".join(
        [
            HEADER,
            "13800138000,张三,,T恤,2026-05-01 12:00,99",
            "13800138000,张三,,T恤,2026-05-01 12:00,99",  # the same purchase twice
            "13800138000,张三丰,,,,",  # the same customer again
            "12345,短号,,,,",
            "abcdefghijk,字母,,,,",
            "13800138001,坏日期,,T恤,2026-13-45 25:00,10",
            "13800138002,负金额,,T恤,2026-05-01 12:00,-5",
            "13800138003,非数,,T恤,2026-05-01 12:00,NaN",
            "13800138004,巨额,,T恤,2026-05-01 12:00,1e30",
            "13800138005," + "长" * 500 + ",,,,",
            "13800138006,多列,,,,,x,y,z",
            "13800138007,正常,,,,",
        ]
    ).encode()
    report = customers_import(shop=alice_shop, stream=io.BytesIO(content))
    rejected_lines = sorted(r.line for r in report.rejections)
    assert {5, 6, 7, 8, 9, 10, 11} <= set(rejected_lines)
    assert all(r.reason for r in report.rejections)
    phones = set(Customer.objects.filter(shop=alice_shop).values_list("phone", flat=True))
    assert "13800138000" in phones and "13800138007" in phones
    assert Purchase.objects.filter(customer__phone="13800138000").count() == 1


def test_an_encoding_error_deep_in_the_file_writes_nothing_at_all(alice_shop):
    good = "\n".join(f"1380013{i:04d},客户{i}" for i in range(5000))
    content = (HEADER + "\n" + good + "\n").encode("utf-8") + "13900139000,坏字节\n".encode("gbk")
    with pytest.raises(ImportFileError) as refused:
        customers_import(shop=alice_shop, stream=io.BytesIO(content))
    assert "编码无法识别" in refused.value.message
    assert not Customer.objects.exists()  # not even the 5,000 good rows before it


# --- every CSV export neutralises formulas --------------------------------------------------

DANGEROUS = ['=HYPERLINK("http://evil.example","点我")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


def assert_cells_are_inert(rows: list[list[str]], where: str) -> None:
    for row in rows:
        for cell in row:
            if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
                try:
                    float(cell)  # a plain negative number is data, not a formula
                except ValueError:
                    pytest.fail(f"{where}: formula cell {cell!r}")


def test_every_csv_export_neutralises_leading_formula_characters(client, alice, world):
    shop = world.alice_shop
    for value in DANGEROUS:
        account_grant(shop_id=shop.pk, units=1, reason=value, actor=None)
        optout_record(
            shop_id=shop.pk, phone=f"139001390{DANGEROUS.index(value):02d}", keyword=value, source="sms_reply"
        )
    RechargeOrder.objects.filter(pk=world.order.pk).update(package_name=DANGEROUS[0])
    client.force_login(alice)
    exports, cells = 0, set()
    for name, keywords in ROUTES:
        url = url_for(name, keywords, world.ids())
        for candidate in (url, url + "?export=csv"):
            response = client.get(candidate)
            if response.status_code != 200 or not response["Content-Type"].startswith("text/csv"):
                continue
            text = b"".join(response.streaming_content).decode("utf-8-sig")
            rows = list(csv.reader(io.StringIO(text)))
            assert rows, candidate
            assert_cells_are_inert(rows, candidate)
            exports += 1
            cells.update(cell for row in rows for cell in row)
    assert exports >= 5  # recharges, issuances, consumption, campaign messages, opt-outs
    for value in DANGEROUS:
        assert {"'" + value, "'" + value.strip()} & cells, value  # it reached an export, neutralised
