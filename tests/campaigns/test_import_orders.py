"""manage.py import_orders: encodings, rejected lines with reasons, exit codes 0/1/2."""

from __future__ import annotations

import codecs
import io
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command

from campaigns.models import Order

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 6, 10, 12, 0, tzinfo=SH)


def run(shop, path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import_orders", str(shop.pk), str(path), stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    return code, out.getvalue(), err.getvalue()


@time_machine.travel(NOW, tick=False)
def test_it_imports_a_gbk_file_with_chinese_headers_and_exits_0(alice_shop, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(
        "订单号,手机号,金额,下单时间,优惠券码,商品\n"
        "JD001,13800138000,199.00,2026-06-09 20:30,SUMMER20,连衣裙\n"
        "JD002,138 0013 8001,￥59,2026/6/9,,\n".encode("gbk")
    )
    code, out, _err = run(alice_shop, path)
    assert code == 0, out
    assert "2 lines: 2 orders created, 0 updated, 0 rejected (encoding gb18030)." in out
    first = Order.objects.get(shop=alice_shop, order_no="JD001")
    assert (first.amount, first.coupon_code, first.product) == (Decimal("199.00"), "SUMMER20", "连衣裙")
    assert first.placed_at == datetime(2026, 6, 9, 20, 30, tzinfo=SH)


@time_machine.travel(NOW, tick=False)
def test_it_reports_each_rejected_line_and_updates_a_repeated_order_no_then_exits_1(alice_shop, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_bytes(
        codecs.BOM_UTF8
        + (
            b"order_no,phone,amount,placed_at\n"
            b"A1,13800138000,10,2026-06-09 10:00\n"
            b"A2,12345,10,2026-06-09 10:00\n"
            b"\n"
            b"A3,13800138000,abc,2026-06-09 10:00\n"
            b"A1,13800138000,12.5,2026-06-09 10:00\n"
        )
    )
    code, out, _err = run(alice_shop, path)
    assert code == 1
    assert "line 3: BAD-PHONE 手机号格式不正确" in out
    assert "line 5: BAD-AMOUNT 金额格式不正确" in out
    assert "4 lines: 1 orders created, 1 updated, 2 rejected (encoding utf-8-sig)." in out
    assert list(Order.objects.values_list("order_no", "amount")) == [("A1", Decimal("12.50"))]
    code, out, _err = run(alice_shop, path)  # the same file again: updates, no second order
    assert "4 lines: 0 orders created, 2 updated, 2 rejected" in out
    assert Order.objects.count() == 1


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "文件是空的"),
        ("手机号,金额,下单时间\n13800138000,1,2026-06-09\n".encode(), "缺少列：订单号"),
        (
            "订单号,手机号,金额,下单时间\nA1,13800138000,1,2026-06-09\n".encode()
            + b"A2,\xff\xfe\xfa,1,2026-06-09\n",
            None,
        ),
    ],
)
@time_machine.travel(NOW, tick=False)
def test_it_imports_nothing_from_a_file_it_cannot_read_and_exits_2(alice_shop, tmp_path, content, reason):
    path = tmp_path / "orders.csv"
    path.write_bytes(content)
    code, _out, err = run(alice_shop, path)
    assert code == 2 and err.startswith("Nothing imported: ")
    if reason:
        assert reason in err
    assert not Order.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_it_imports_nothing_when_a_later_line_cannot_be_decoded(alice_shop, tmp_path):
    good = "".join(f"B{i},13800138000,1,2026-06-09\n" for i in range(6_000)).encode()
    path = tmp_path / "orders.csv"
    path.write_bytes("订单号,手机号,金额,下单时间\n".encode() + good + b"B-bad,\xff\xfe,1,2026-06-09\n")
    code, _out, err = run(alice_shop, path)
    assert code == 2 and "编码或格式错误" in err
    assert not Order.objects.exists()
