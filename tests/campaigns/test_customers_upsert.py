"""customers_upsert: a batch of customers pushed by the open API, validated like the import."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from campaigns.models import Customer
from campaigns.services.customers import MAX_TAGS, customers_upsert
from smsmarketing.errors import SmsError
from tests.campaigns.campaign_fixtures import import_customers


def test_it_creates_new_phones_and_updates_known_ones(alice_shop):
    import_customers(alice_shop, ["13800138000,王芳,老客,T恤,2026-05-01,99"])
    report = customers_upsert(
        shop=alice_shop,
        rows=[
            {"phone": "+86 138-0013-8000", "name": "王芳芳", "tags": ["会员"]},
            {"phone": "13900139000", "tags": "新客|夏季"},
        ],
    )
    assert (report.created, report.updated, report.rejected) == (1, 1, [])
    known = Customer.objects.get(shop=alice_shop, phone="13800138000")
    assert known.name == "王芳芳"
    assert known.tags == ["会员", "老客"]
    assert known.purchase_count == 1  # its purchases are kept
    new = Customer.objects.get(shop=alice_shop, phone="13900139000")
    assert (new.name, new.tags, new.purchase_count) == ("", ["夏季", "新客"], 0)


def test_it_keeps_the_name_when_a_row_has_none_and_never_removes_tags(alice_shop):
    customers_upsert(shop=alice_shop, rows=[{"phone": "13800138000", "name": "李雷", "tags": ["a", "b"]}])
    report = customers_upsert(shop=alice_shop, rows=[{"phone": "13800138000", "tags": ["c"]}])
    assert (report.created, report.updated) == (0, 1)
    customer = Customer.objects.get(shop=alice_shop, phone="13800138000")
    assert (customer.name, customer.tags) == ("李雷", ["a", "b", "c"])


def test_it_reports_bad_rows_by_index_and_writes_the_good_ones(alice_shop):
    rows = [
        {"phone": "12345"},
        {"phone": "13800138000", "name": "王" * 65},
        {"phone": "13800138001", "tags": ["x" * 33]},
        "not a mapping",
        {"phone": 13800138002},
        {"phone": "13800138003", "tags": [f"t{i}" for i in range(MAX_TAGS + 1)]},
        {"phone": "13800138004", "name": "ok\x00"},
        {"phone": "13800138005", "name": "韩梅梅"},
    ]
    report = customers_upsert(shop=alice_shop, rows=rows)
    codes = [(r.index, r.code) for r in report.rejected]
    assert codes == [
        (0, "BAD-PHONE"),
        (1, "TOO-LONG"),
        (2, "TOO-LONG"),
        (3, "BAD-ROW"),
        (4, "BAD-PHONE"),
        (5, "TOO-MANY-TAGS"),
        (6, "BAD-ROW"),
    ]
    assert all(r.message and r.message != r.code for r in report.rejected)
    assert (report.created, report.updated) == (1, 0)
    assert list(Customer.objects.filter(shop=alice_shop).values_list("phone", flat=True)) == ["13800138005"]


def test_it_merges_the_same_phone_twice_in_a_batch(alice_shop):
    report = customers_upsert(
        shop=alice_shop,
        rows=[
            {"phone": "13800138000", "name": "甲", "tags": ["a"]},
            {"phone": "138 0013 8000", "name": "", "tags": ["b"]},
            {"phone": "13800138000", "name": "乙"},
        ],
    )
    assert (report.created, report.updated) == (1, 2)
    customer = Customer.objects.get(shop=alice_shop, phone="13800138000")
    assert (customer.name, customer.tags) == ("乙", ["a", "b"])


def test_it_never_touches_another_shops_customer_of_the_same_phone(alice_shop, bob_shop):
    customers_upsert(shop=bob_shop, rows=[{"phone": "13800138000", "name": "鲍勃的客户", "tags": ["b"]}])
    report = customers_upsert(shop=alice_shop, rows=[{"phone": "13800138000", "name": "爱丽丝的客户"}])
    assert report.created == 1
    bobs = Customer.objects.get(shop=bob_shop, phone="13800138000")
    assert (bobs.name, bobs.tags) == ("鲍勃的客户", ["b"])


def test_it_refuses_a_restricted_shop(charlie_shop):
    with pytest.raises(SmsError) as refused:
        customers_upsert(shop=charlie_shop, rows=[{"phone": "13800138000"}])
    assert refused.value.rule == "CATEGORY-RESTRICTED"
    assert not Customer.objects.filter(shop=charlie_shop).exists()


@pytest.mark.django_db(transaction=True)
def test_it_creates_one_customer_when_two_batches_push_the_same_phones_at_once(alice_shop):
    phones = [f"1380013{i:04d}" for i in range(300)]
    barrier = threading.Barrier(2)
    reports, errors = [], []

    def push(order):
        try:
            barrier.wait()
            rows = [{"phone": p, "tags": [order]} for p in phones]
            reports.append(customers_upsert(shop=alice_shop, rows=rows))
        except Exception as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=push, args=(tag,)) for tag in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(r.created for r in reports) == 300
    assert sum(r.updated for r in reports) == 300
    assert Customer.objects.filter(shop=alice_shop).count() == 300
    tags = Customer.objects.filter(shop=alice_shop).values_list("tags", flat=True)
    assert all(t == ["a", "b"] for t in tags)
