"""The operators' commands: grant_units and reconcile_ledger."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from smsmarketing.models import LedgerEntry, Reservation, SmsAccount
from smsmarketing.services import account_charge, account_reserve
from tests.factories import make_active_account

pytestmark = pytest.mark.django_db


def test_grant_units_credits_the_shop(alice_shop, capsys):
    make_active_account(alice_shop)
    call_command("grant_units", str(alice_shop.pk), "250", "--reason", "新店礼包")
    assert SmsAccount.objects.get(shop=alice_shop).balance == 250
    entry = LedgerEntry.objects.get(note="新店礼包")
    assert (entry.kind, entry.amount, entry.actor_label) == ("grant", 250, "命令行")
    assert "250" in capsys.readouterr().out


@pytest.mark.parametrize("units", ["0", "-10"])
def test_grant_units_refuses_zero_or_negative(alice_shop, units):
    make_active_account(alice_shop, balance=5)
    with pytest.raises(CommandError, match="UNITS-INVALID"):
        call_command("grant_units", str(alice_shop.pk), units, "--reason", "x")
    assert SmsAccount.objects.get(shop=alice_shop).balance == 5
    assert LedgerEntry.objects.count() == 1


def test_grant_units_refuses_an_unknown_shop(alice_shop):
    with pytest.raises(CommandError, match="SHOP-UNKNOWN"):
        call_command("grant_units", str(alice_shop.pk + 1000), "10", "--reason", "x")
    assert not SmsAccount.objects.exists() and not LedgerEntry.objects.exists()


def test_grant_units_requires_a_reason(alice_shop):
    with pytest.raises(CommandError):
        call_command("grant_units", str(alice_shop.pk), "10")
    with pytest.raises(CommandError, match="REASON-REQUIRED"):
        call_command("grant_units", str(alice_shop.pk), "10", "--reason", " ")
    assert not LedgerEntry.objects.exists()


def test_reconcile_is_clean_after_ordinary_work(alice_shop, bob_shop, capsys):
    make_active_account(alice_shop, balance=100)
    make_active_account(bob_shop, balance=50)
    account_reserve(shop_id=alice_shop.pk, parts=30, reference="a")
    account_charge(reference="a", parts=10, key="a1")
    call_command("reconcile_ledger")
    assert "2 accounts checked, 0 discrepancies" in capsys.readouterr().out


def test_reconcile_reports_every_discrepancy_and_exits_non_zero(alice_shop, bob_shop, capsys):
    alice = make_active_account(alice_shop, balance=100)
    bob = make_active_account(bob_shop, balance=50)
    account_reserve(shop_id=bob_shop.pk, parts=20, reference="b")
    # Tampering behind the services' back: a balance edited by hand, a reservation settled
    # without touching the account.
    SmsAccount.objects.filter(pk=alice.pk).update(balance=130)
    Reservation.objects.filter(reference="b").update(charged=5)
    with pytest.raises(SystemExit) as excinfo:
        call_command("reconcile_ledger")
    assert excinfo.value.code == 1
    captured = capsys.readouterr()
    assert f"account {alice.pk}" in captured.out and "BALANCE-LEDGER" in captured.out
    assert "LAST-ENTRY" in captured.out
    assert f"account {bob.pk}" in captured.out and "RESERVED-OPEN" in captured.out
    assert "discrepancies" in captured.err


def test_reconcile_finds_a_broken_running_balance(alice_shop, capsys):
    make_active_account(alice_shop, balance=100)
    account_reserve(shop_id=alice_shop.pk, parts=10, reference="r")
    first = LedgerEntry.objects.order_by("id").first()
    LedgerEntry.objects.filter(pk=first.pk).update(balance_after=90)
    with pytest.raises(SystemExit):
        call_command("reconcile_ledger")
    assert "LEDGER-CHAIN" in capsys.readouterr().out
