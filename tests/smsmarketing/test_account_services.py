"""The SMS account services: activation, reserve/charge/release, grants, adjustments."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from smsmarketing.errors import (
    AccountNotActive,
    CategoryRestricted,
    IdempotencyConflict,
    InsufficientBalance,
    InvalidUnits,
    NotShopMember,
    ReasonRequired,
    TermsNotAccepted,
    UnknownReservation,
    UnknownShop,
)
from smsmarketing.models import LedgerEntry, Reservation, Settlement, SmsAccount
from smsmarketing.selectors import account_for_shop, ledger_reconcile
from smsmarketing.services import (
    SettleItem,
    account_activate,
    account_adjust,
    account_charge,
    account_grant,
    account_grant_many,
    account_release,
    account_reserve,
    account_settle_many,
)
from tests.factories import make_active_account

pytestmark = pytest.mark.django_db


def state(shop) -> tuple[int, int, int, int]:
    """(balance, reserved, ledger entries, reservations) of a shop's account."""
    account = SmsAccount.objects.filter(shop=shop).first()
    if account is None:
        return (0, 0, 0, 0)
    return (
        account.balance,
        account.reserved,
        LedgerEntry.objects.filter(account=account).count(),
        Reservation.objects.filter(account=account).count(),
    )


# --- activation ---------------------------------------------------------------


def test_it_activates_an_account_with_the_terms(alice, alice_shop):
    account = account_activate(shop=alice_shop, user=alice, accept_terms=True)
    account.refresh_from_db()
    assert account.status == SmsAccount.Status.ACTIVE
    assert account.activated_at is not None and account.activated_by == alice
    assert account.terms_version


def test_activating_twice_keeps_the_first_activation(alice, alice_shop):
    first = account_activate(shop=alice_shop, user=alice, accept_terms=True)
    second = account_activate(shop=alice_shop, user=alice, accept_terms=True)
    assert second.pk == first.pk and second.activated_at == first.activated_at
    assert SmsAccount.objects.count() == 1


def test_it_refuses_activation_without_accepting_the_terms(alice, alice_shop):
    with pytest.raises(TermsNotAccepted) as excinfo:
        account_activate(shop=alice_shop, user=alice, accept_terms=False)
    assert "协议" in excinfo.value.message
    assert not SmsAccount.objects.filter(status=SmsAccount.Status.ACTIVE).exists()


def test_it_refuses_activation_for_a_restricted_shop(charlie, charlie_shop):
    with pytest.raises(CategoryRestricted):
        account_activate(shop=charlie_shop, user=charlie, accept_terms=True)
    assert not SmsAccount.objects.exists()


def test_it_refuses_activation_by_a_user_of_another_shop(bob, alice_shop):
    with pytest.raises(NotShopMember):
        account_activate(shop=alice_shop, user=bob, accept_terms=True)
    assert not SmsAccount.objects.exists()


def test_the_selector_gives_an_unsaved_inactive_account_without_writing(alice_shop):
    account = account_for_shop(shop=alice_shop)
    assert account.pk is None and not account.is_active and account.balance == 0
    assert not SmsAccount.objects.exists()


# --- reserve --------------------------------------------------------------------


def test_it_reserves_parts_from_the_balance(alice_shop):
    make_active_account(alice_shop, balance=100)
    reservation = account_reserve(shop_id=alice_shop.pk, parts=30, reference="c1:b1")
    assert (reservation.parts, reservation.open_parts) == (30, 30)
    assert state(alice_shop) == (70, 30, 2, 1)
    entry = LedgerEntry.objects.latest("id")
    assert (entry.kind, entry.amount, entry.reserved_delta) == ("reserve", -30, 30)
    assert (entry.balance_after, entry.reserved_after, entry.reference) == (70, 30, "c1:b1")


def test_it_can_reserve_the_whole_balance_but_not_one_more(alice_shop):
    make_active_account(alice_shop, balance=10)
    account_reserve(shop_id=alice_shop.pk, parts=10, reference="all")
    with pytest.raises(InsufficientBalance):
        account_reserve(shop_id=alice_shop.pk, parts=1, reference="one-more")
    assert state(alice_shop) == (0, 10, 2, 1)


def test_insufficient_balance_changes_nothing_and_says_why(alice_shop):
    make_active_account(alice_shop, balance=5)
    before = state(alice_shop)
    with pytest.raises(InsufficientBalance) as excinfo:
        account_reserve(shop_id=alice_shop.pk, parts=6, reference="too-much")
    assert excinfo.value.rule == "INSUFFICIENT-BALANCE"
    assert "余量不足" in excinfo.value.message and "6" in excinfo.value.message
    assert state(alice_shop) == before
    assert not Reservation.objects.filter(reference="too-much").exists()


def test_a_failed_reservation_can_be_retried_under_the_same_reference(alice_shop):
    make_active_account(alice_shop, balance=5)
    with pytest.raises(InsufficientBalance):
        account_reserve(shop_id=alice_shop.pk, parts=8, reference="retry")
    account_grant(shop_id=alice_shop.pk, units=5, reason="补发", actor=None)
    account_reserve(shop_id=alice_shop.pk, parts=8, reference="retry")
    assert state(alice_shop)[:2] == (2, 8)


def test_the_same_reference_twice_reserves_once(alice_shop):
    make_active_account(alice_shop, balance=100)
    first = account_reserve(shop_id=alice_shop.pk, parts=40, reference="c1:b1")
    after_first = state(alice_shop)
    second = account_reserve(shop_id=alice_shop.pk, parts=40, reference="c1:b1")
    again_other_parts = account_reserve(shop_id=alice_shop.pk, parts=7, reference="c1:b1")
    assert first.pk == second.pk == again_other_parts.pk
    assert state(alice_shop) == after_first == (60, 40, 2, 1)


def test_a_reference_of_another_shop_is_refused(alice_shop, bob_shop):
    make_active_account(alice_shop, balance=10)
    make_active_account(bob_shop, balance=10)
    account_reserve(shop_id=alice_shop.pk, parts=1, reference="shared")
    with pytest.raises(IdempotencyConflict):
        account_reserve(shop_id=bob_shop.pk, parts=1, reference="shared")
    assert state(bob_shop) == (10, 0, 1, 0)


def test_it_refuses_to_reserve_before_activation(alice_shop):
    with pytest.raises(AccountNotActive) as excinfo:
        account_reserve(shop_id=alice_shop.pk, parts=1, reference="x")
    assert excinfo.value.rule == "ACCOUNT-INACTIVE"
    account_grant(shop_id=alice_shop.pk, units=10, reason="赠送", actor=None)  # credited, not activated
    with pytest.raises(AccountNotActive):
        account_reserve(shop_id=alice_shop.pk, parts=1, reference="x")
    assert state(alice_shop) == (10, 0, 1, 0)


def test_it_refuses_to_reserve_for_a_shop_that_became_restricted(alice_shop):
    make_active_account(alice_shop, balance=10)
    alice_shop.category.restricted = True
    alice_shop.category.save()
    with pytest.raises(CategoryRestricted):
        account_reserve(shop_id=alice_shop.pk, parts=1, reference="x")
    assert state(alice_shop) == (10, 0, 1, 0)


@pytest.mark.parametrize("parts", [0, -1, True, 1.5, "3", None])
def test_it_refuses_a_reservation_that_is_not_a_positive_integer(alice_shop, parts):
    make_active_account(alice_shop, balance=10)
    with pytest.raises(InvalidUnits):
        account_reserve(shop_id=alice_shop.pk, parts=parts, reference="bad")
    assert state(alice_shop) == (10, 0, 1, 0)


# --- charge and release -------------------------------------------------------------


@pytest.fixture
def reserved(alice_shop):
    """Alice: balance 100, then 50 reserved under "camp:1"."""
    make_active_account(alice_shop, balance=100)
    return account_reserve(shop_id=alice_shop.pk, parts=50, reference="camp:1")


def test_charging_moves_parts_out_of_reserved_and_keeps_the_balance(alice_shop, reserved):
    settlement = account_charge(reference="camp:1", parts=20, key="dlr:batch1")
    assert settlement.applied == 20
    assert state(alice_shop)[:2] == (50, 30)
    reserved.refresh_from_db()
    assert (reserved.charged, reserved.released, reserved.open_parts) == (20, 0, 30)


def test_releasing_returns_parts_to_the_balance(alice_shop, reserved):
    settlement = account_release(reference="camp:1", parts=15, key="dlr:failed1")
    assert settlement.applied == 15
    assert state(alice_shop)[:2] == (65, 35)
    entry = LedgerEntry.objects.latest("id")
    assert (entry.kind, entry.amount, entry.reserved_delta, entry.balance_after) == ("release", 15, -15, 65)


def test_many_batches_settle_one_reservation(alice_shop, reserved):
    account_charge(reference="camp:1", parts=10, key="c1")
    account_release(reference="camp:1", parts=5, key="r1")
    account_charge(reference="camp:1", parts=30, key="c2")
    account_release(reference="camp:1", parts=5, key="r2")
    reserved.refresh_from_db()
    assert (reserved.charged, reserved.released, reserved.open_parts) == (40, 10, 0)
    assert state(alice_shop)[:2] == (60, 0)
    assert ledger_reconcile() == []


def test_the_same_charge_key_twice_charges_once(alice_shop, reserved):
    first = account_charge(reference="camp:1", parts=20, key="dlr:batch1")
    before = state(alice_shop)
    second = account_charge(reference="camp:1", parts=20, key="dlr:batch1")
    assert second.pk == first.pk
    assert state(alice_shop) == before
    assert Settlement.objects.count() == 1


def test_the_same_release_key_twice_releases_once(alice_shop, reserved):
    account_release(reference="camp:1", parts=10, key="expire:1")
    before = state(alice_shop)
    account_release(reference="camp:1", parts=10, key="expire:1")
    assert state(alice_shop) == before == (60, 40, 3, 1)


def test_a_key_settles_once_even_if_a_later_report_disagrees(alice_shop, reserved):
    account_charge(reference="camp:1", parts=1, key="msg:42")
    before = state(alice_shop)
    settlement = account_release(reference="camp:1", parts=1, key="msg:42")
    assert settlement.kind == "charge"
    assert state(alice_shop) == before


def test_it_never_charges_more_than_is_open(alice_shop, reserved):
    first = account_charge(reference="camp:1", parts=45, key="a")
    second = account_charge(reference="camp:1", parts=45, key="b")
    third = account_release(reference="camp:1", parts=45, key="c")
    assert (first.applied, second.applied, third.applied) == (45, 5, 0)
    assert state(alice_shop)[:2] == (50, 0)
    assert ledger_reconcile() == []


def test_it_refuses_to_settle_an_unknown_reservation(alice_shop, reserved):
    before = state(alice_shop)
    with pytest.raises(UnknownReservation):
        account_charge(reference="nope", parts=1, key="k")
    assert state(alice_shop) == before and not Settlement.objects.exists()


def test_it_refuses_a_key_reused_for_another_reservation(alice_shop, reserved):
    account_reserve(shop_id=alice_shop.pk, parts=10, reference="camp:2")
    account_charge(reference="camp:1", parts=1, key="k")
    before = state(alice_shop)
    with pytest.raises(IdempotencyConflict):
        account_charge(reference="camp:2", parts=1, key="k")
    assert state(alice_shop) == before


@pytest.mark.parametrize("parts", [0, -3])
def test_it_refuses_to_settle_a_non_positive_amount(alice_shop, reserved, parts):
    before = state(alice_shop)
    with pytest.raises(InvalidUnits):
        account_release(reference="camp:1", parts=parts, key="k")
    assert state(alice_shop) == before


# --- grants and adjustments ---------------------------------------------------------


def test_it_grants_units_with_a_reason_and_the_actor(alice_shop, reviewer):
    make_active_account(alice_shop)
    entry = account_grant(shop_id=alice_shop.pk, units=300, reason="活动补偿", actor=reviewer)
    assert (entry.kind, entry.amount, entry.balance_after) == ("grant", 300, 300)
    assert (entry.note, entry.actor, entry.actor_label) == ("活动补偿", reviewer, reviewer.username)
    assert state(alice_shop)[:2] == (300, 0)


@pytest.mark.parametrize("units", [0, -5, True, 2.5])
def test_a_zero_or_negative_grant_is_refused_and_changes_nothing(alice_shop, units):
    make_active_account(alice_shop, balance=10)
    with pytest.raises(InvalidUnits) as excinfo:
        account_grant(shop_id=alice_shop.pk, units=units, reason="x", actor=None)
    assert "大于 0 的整数" in excinfo.value.message
    assert state(alice_shop) == (10, 0, 1, 0)


def test_an_absurd_grant_is_refused(alice_shop):
    with pytest.raises(InvalidUnits):
        account_grant(shop_id=alice_shop.pk, units=10**12, reason="x", actor=None)
    assert not SmsAccount.objects.exists()


def test_a_grant_to_an_unknown_shop_is_refused(alice_shop):
    with pytest.raises(UnknownShop) as excinfo:
        account_grant(shop_id=alice_shop.pk + 999, units=10, reason="x", actor=None)
    assert "不存在" in excinfo.value.message
    assert not SmsAccount.objects.exists() and not LedgerEntry.objects.exists()


def test_a_grant_without_a_reason_is_refused(alice_shop):
    with pytest.raises(ReasonRequired):
        account_grant(shop_id=alice_shop.pk, units=10, reason="   ", actor=None)
    assert not LedgerEntry.objects.exists()


def test_a_grant_to_a_restricted_shop_is_refused(charlie_shop):
    with pytest.raises(CategoryRestricted):
        account_grant(shop_id=charlie_shop.pk, units=10, reason="x", actor=None)
    assert not LedgerEntry.objects.exists()


def test_grant_many_is_all_or_nothing(alice_shop, bob_shop):
    with pytest.raises(UnknownShop):
        account_grant_many(shop_ids=[alice_shop.pk, bob_shop.pk, 10**9], units=5, reason="x", actor=None)
    assert not LedgerEntry.objects.exists()
    account_grant_many(shop_ids=[bob_shop.pk, alice_shop.pk], units=5, reason="x", actor=None)
    assert state(alice_shop)[0] == state(bob_shop)[0] == 5


def test_a_negative_adjustment_cannot_overdraw(alice_shop):
    make_active_account(alice_shop, balance=10)
    with pytest.raises(InsufficientBalance):
        account_adjust(shop_id=alice_shop.pk, amount=-11, reason="更正", actor=None)
    entry = account_adjust(shop_id=alice_shop.pk, amount=-10, reason="更正", actor=None)
    assert (entry.kind, entry.amount, entry.balance_after) == ("adjust", -10, 0)
    assert ledger_reconcile() == []


def test_the_database_refuses_a_negative_balance_whatever_the_code_does(alice_shop):
    account = make_active_account(alice_shop, balance=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        SmsAccount.objects.filter(pk=account.pk).update(balance=-1)
    with pytest.raises(IntegrityError), transaction.atomic():
        SmsAccount.objects.filter(pk=account.pk).update(reserved=-1)


def test_the_database_refuses_to_settle_more_than_reserved(alice_shop, reserved):
    with pytest.raises(IntegrityError), transaction.atomic():
        Reservation.objects.filter(pk=reserved.pk).update(charged=30, released=30)


def test_settle_many_applies_every_item_once_and_keeps_the_order(alice_shop, bob_shop, reserved):
    make_active_account(bob_shop, balance=40)
    account_reserve(shop_id=bob_shop.pk, parts=40, reference="bob:1")
    items = [
        SettleItem("release", "camp:1", 10, "a"),
        SettleItem("charge", "bob:1", 40, "b"),
        SettleItem("charge", "camp:1", 10, "c"),
    ]
    first = account_settle_many(items=items)
    assert [s.key for s in first] == ["a", "b", "c"] and [s.applied for s in first] == [10, 40, 10]
    before = (state(alice_shop), state(bob_shop))
    again = account_settle_many(items=items)
    assert [s.pk for s in again] == [s.pk for s in first]
    assert (state(alice_shop), state(bob_shop)) == before
    assert state(alice_shop)[:2] == (60, 30) and state(bob_shop)[:2] == (0, 0)


def test_settle_many_is_all_or_nothing(alice_shop, reserved):
    before = state(alice_shop)
    with pytest.raises(UnknownReservation):
        account_settle_many(
            items=[SettleItem("charge", "camp:1", 10, "ok"), SettleItem("charge", "missing", 1, "bad")]
        )
    assert state(alice_shop) == before and not Settlement.objects.exists()
