"""Races on one account with real threads on real PostgreSQL connections.

Each thread uses its own database connection (Django opens one per thread) and
closes it when done. ``transaction=True`` so the threads see committed rows.
These tests build their own rows and rely on no migration data.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from smsmarketing.errors import InsufficientBalance
from smsmarketing.models import LedgerEntry, Reservation, Settlement, SmsAccount
from smsmarketing.selectors import ledger_reconcile
from smsmarketing.services import (
    SettleItem,
    account_charge,
    account_grant,
    account_grant_many,
    account_release,
    account_reserve,
    account_settle_many,
)
from tests.factories import make_active_account, make_shop, make_user

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8


def run_in_threads(count: int, work: Callable[[int], object]) -> list[object]:
    """Run ``work(i)`` in ``count`` threads released together; return results or exceptions."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def target(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as exc:  # reported to the test, never swallowed
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung (deadlock?)"
    return results


@pytest.fixture
def shop():
    owner = make_user("racer")
    return make_shop("并发测试店", owner=owner)


def test_it_never_reserves_more_than_the_balance_with_many_workers(shop, capsys):
    make_active_account(shop, balance=1000)

    def worker(i: int) -> int:
        taken = 0
        for n in range(1000):
            try:
                account_reserve(shop_id=shop.pk, parts=7, reference=f"t{i}:{n}")
            except InsufficientBalance:
                return taken
            taken += 7
        return taken

    results = run_in_threads(THREADS, worker)
    assert all(isinstance(r, int) for r in results), results
    account = SmsAccount.objects.get(shop=shop)
    reserved_total = sum(Reservation.objects.filter(account=account).values_list("parts", flat=True))
    assert sum(results) == reserved_total == account.reserved
    # 1000 // 7 = 142 reservations fit; the remaining 6 parts stay available.
    assert reserved_total == 142 * 7 and account.balance == 6
    assert LedgerEntry.objects.filter(account=account, kind="reserve").count() == 142
    assert ledger_reconcile() == []
    call_command("reconcile_ledger")
    assert "0 discrepancies" in capsys.readouterr().out


def test_the_same_reference_from_many_workers_reserves_once(shop):
    make_active_account(shop, balance=100)
    results = run_in_threads(THREADS, lambda i: account_reserve(shop_id=shop.pk, parts=30, reference="same"))
    assert all(isinstance(r, Reservation) for r in results), results
    assert len({r.pk for r in results}) == 1
    account = SmsAccount.objects.get(shop=shop)
    assert (account.balance, account.reserved) == (70, 30)
    assert ledger_reconcile() == []


def test_concurrent_settlements_never_exceed_the_reservation(shop):
    make_active_account(shop, balance=100)
    account_reserve(shop_id=shop.pk, parts=50, reference="camp")

    def settle(i: int):
        # Every worker asks for 9 parts; half charge, half release, each with its own key,
        # and each key is sent twice (a retried batch).
        fn = account_charge if i % 2 else account_release
        first = fn(reference="camp", parts=9, key=f"k{i}")
        again = fn(reference="camp", parts=9, key=f"k{i}")
        assert again.pk == first.pk
        return first.applied

    results = run_in_threads(THREADS, settle)
    assert all(isinstance(r, int) for r in results), results
    assert sum(results) == 50  # 8 × 9 = 72 asked, only 50 were open
    reservation = Reservation.objects.get(reference="camp")
    assert reservation.open_parts == 0
    assert Settlement.objects.count() == THREADS
    account = SmsAccount.objects.get(shop=shop)
    assert account.reserved == 0 and account.balance == 50 + reservation.released
    assert ledger_reconcile() == []


def test_reserves_grants_and_settlements_mixed_keep_the_ledger_exact(shop):
    make_active_account(shop, balance=200)

    def worker(i: int) -> None:
        for n in range(20):
            ref = f"w{i}:{n}"
            try:
                account_reserve(shop_id=shop.pk, parts=3, reference=ref)
            except InsufficientBalance:
                account_grant(shop_id=shop.pk, units=5, reason="补充", actor=None)
                continue
            account_charge(reference=ref, parts=2, key=f"{ref}:c")
            account_release(reference=ref, parts=1, key=f"{ref}:r")

    results = run_in_threads(THREADS, worker)
    assert all(r is None for r in results), results
    account = SmsAccount.objects.get(shop=shop)
    assert account.reserved == 0
    assert ledger_reconcile() == []


def test_grants_to_overlapping_shops_in_opposite_orders_do_not_deadlock():
    shops = [make_shop(f"店{i}", owner=make_user(f"owner{i}")) for i in range(4)]
    for s in shops:
        make_active_account(s)
    ids = [s.pk for s in shops]

    def worker(i: int) -> None:
        order = ids if i % 2 else list(reversed(ids))
        for _ in range(5):
            account_grant_many(shop_ids=order, units=1, reason="批量", actor=None)

    results = run_in_threads(8, worker)
    assert all(r is None for r in results), results
    assert set(SmsAccount.objects.values_list("balance", flat=True)) == {40}
    assert ledger_reconcile() == []


def test_settling_several_reservations_of_one_account_per_transaction_does_not_deadlock(shop):
    # Two workers each settle a different subset of the same reservations in one
    # transaction, in opposite orders: the account is locked before any reservation.
    make_active_account(shop, balance=10_000)
    refs = [f"batch:{n}" for n in range(6)]
    for ref in refs:
        account_reserve(shop_id=shop.pk, parts=100, reference=ref)

    def worker(i: int) -> None:
        mine = refs if i % 2 else list(reversed(refs[1:]))
        for round_ in range(5):
            with transaction.atomic():
                for ref in mine:
                    account_charge(reference=ref, parts=2, key=f"{i}:{round_}:{ref}")

    results = run_in_threads(THREADS, worker)
    assert all(r is None for r in results), results
    assert ledger_reconcile() == []


def test_settle_many_across_accounts_in_opposite_orders_does_not_deadlock():
    shops = [make_shop(f"多店{i}", owner=make_user(f"multi{i}")) for i in range(3)]
    refs = []
    for s in shops:
        make_active_account(s, balance=1_000)
        for n in range(2):
            refs.append(account_reserve(shop_id=s.pk, parts=100, reference=f"s{s.pk}:{n}").reference)

    def worker(i: int) -> None:
        mine = refs if i % 2 else list(reversed(refs))
        for round_ in range(5):
            kind = "charge" if round_ % 2 else "release"
            account_settle_many(items=[SettleItem(kind, ref, 3, f"{i}:{round_}:{ref}") for ref in mine])

    results = run_in_threads(THREADS, worker)
    assert all(r is None for r in results), results
    assert ledger_reconcile() == []


def test_the_same_purchase_submitted_by_many_requests_at_once_buys_once(shop):
    from smsmarketing.models import RechargeOrder, RechargePackage
    from smsmarketing.services import recharge

    make_active_account(shop)
    owner = shop.memberships.get().user
    package = RechargePackage.objects.create(name="测试套餐", units=100, price=5)
    results = run_in_threads(
        THREADS, lambda i: recharge(shop=shop, user=owner, package_id=package.pk, request_token="tok-1")
    )
    assert all(isinstance(r, RechargeOrder) for r in results), results
    assert RechargeOrder.objects.count() == 1
    assert SmsAccount.objects.get(shop=shop).balance == 100
    assert ledger_reconcile() == []
