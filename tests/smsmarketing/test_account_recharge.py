"""Recharge in the benefits centre: packages, orders, the pluggable payment step."""

from __future__ import annotations

from decimal import Decimal

import pytest

from smsmarketing.errors import (
    AccountNotActive,
    CategoryRestricted,
    PaymentFailed,
    UnknownOrder,
    UnknownPackage,
)
from smsmarketing.models import LedgerEntry, RechargeOrder, RechargePackage, SmsAccount
from smsmarketing.payments import PaymentOutcome
from smsmarketing.selectors import ledger_reconcile
from smsmarketing.services import recharge, recharge_order_complete
from tests.factories import make_active_account

pytestmark = pytest.mark.django_db


class DeferredPayment:
    """A provider that sends the payer away; the callback completes the order later."""

    code = "deferred"
    label = "延迟支付"

    def start(self, *, order):
        return PaymentOutcome(completed=False, redirect_url=f"https://pay.example/{order.order_no}")


class BrokenPayment:
    code = "broken"
    label = "故障支付"

    def start(self, *, order):
        raise ConnectionError("支付网关超时")


def package(units: int) -> RechargePackage:
    return RechargePackage.objects.get(units=units)


def test_the_migration_seeds_the_three_packages():
    rows = set(RechargePackage.objects.filter(active=True).values_list("units", "price"))
    assert {(1_000, Decimal("50.00")), (10_000, Decimal("450.00")), (100_000, Decimal("4000.00"))} <= rows


def test_a_simulated_payment_credits_the_account_at_once(alice, alice_shop):
    make_active_account(alice_shop)
    order = recharge(shop=alice_shop, user=alice, package_id=package(10_000).pk)
    assert order.status == RechargeOrder.Status.PAID and order.paid_at is not None
    assert (order.units, order.price, order.payment_provider) == (10_000, Decimal("450.00"), "simulated")
    assert SmsAccount.objects.get(shop=alice_shop).balance == 10_000
    entry = LedgerEntry.objects.get(kind="recharge")
    assert (entry.amount, entry.reference, entry.actor) == (10_000, order.order_no, alice)
    assert ledger_reconcile() == []


def test_the_order_keeps_its_price_when_the_package_changes_later(alice, alice_shop):
    make_active_account(alice_shop)
    p = package(1_000)
    order = recharge(shop=alice_shop, user=alice, package_id=p.pk)
    p.price, p.units = Decimal("60.00"), 1_200
    p.save()
    order.refresh_from_db()
    assert (order.units, order.price) == (1_000, Decimal("50.00"))


@pytest.mark.parametrize("package_id", [999_999, "abc", "", None, -1, 0])
def test_an_unknown_package_is_refused_and_nothing_is_written(alice, alice_shop, package_id):
    make_active_account(alice_shop)
    with pytest.raises(UnknownPackage) as excinfo:
        recharge(shop=alice_shop, user=alice, package_id=package_id)
    assert excinfo.value.rule == "PACKAGE-UNKNOWN" and "套餐不存在" in excinfo.value.message
    assert not RechargeOrder.objects.exists()
    assert SmsAccount.objects.get(shop=alice_shop).balance == 0


def test_a_package_taken_off_sale_cannot_be_bought(alice, alice_shop):
    make_active_account(alice_shop)
    p = package(1_000)
    p.active = False
    p.save()
    with pytest.raises(UnknownPackage):
        recharge(shop=alice_shop, user=alice, package_id=p.pk)
    assert not RechargeOrder.objects.exists()


def test_it_refuses_to_recharge_before_activation(alice, alice_shop):
    with pytest.raises(AccountNotActive):
        recharge(shop=alice_shop, user=alice, package_id=package(1_000).pk)
    assert not RechargeOrder.objects.exists()


def test_a_restricted_shop_cannot_recharge(charlie, charlie_shop):
    with pytest.raises(CategoryRestricted):
        recharge(shop=charlie_shop, user=charlie, package_id=package(1_000).pk)
    assert not RechargeOrder.objects.exists()


def test_a_deferred_payment_credits_once_when_its_callback_arrives_twice(alice, alice_shop, settings):
    settings.SMS_PAYMENT_PROVIDER = "tests.smsmarketing.test_account_recharge.DeferredPayment"
    make_active_account(alice_shop)
    order = recharge(shop=alice_shop, user=alice, package_id=package(1_000).pk)
    assert order.status == RechargeOrder.Status.PENDING
    assert SmsAccount.objects.get(shop=alice_shop).balance == 0
    recharge_order_complete(order_no=order.order_no, payment_reference="PAY-1")
    recharge_order_complete(order_no=order.order_no, payment_reference="PAY-1")
    assert SmsAccount.objects.get(shop=alice_shop).balance == 1_000
    assert LedgerEntry.objects.filter(kind="recharge").count() == 1
    order.refresh_from_db()
    assert (order.status, order.payment_reference) == (RechargeOrder.Status.PAID, "PAY-1")


def test_a_failed_payment_records_the_failure_and_credits_nothing(alice, alice_shop, settings):
    settings.SMS_PAYMENT_PROVIDER = "tests.smsmarketing.test_account_recharge.BrokenPayment"
    make_active_account(alice_shop)
    with pytest.raises(PaymentFailed) as excinfo:
        recharge(shop=alice_shop, user=alice, package_id=package(1_000).pk)
    assert "支付未完成" in excinfo.value.message
    order = RechargeOrder.objects.get()
    assert order.status == RechargeOrder.Status.FAILED and "超时" in order.failure_reason
    assert SmsAccount.objects.get(shop=alice_shop).balance == 0
    # The provider later reports the money as taken after all: credited once.
    recharge_order_complete(order_no=order.order_no, payment_reference="LATE")
    assert SmsAccount.objects.get(shop=alice_shop).balance == 1_000


def test_completing_an_unknown_order_is_refused():
    with pytest.raises(UnknownOrder):
        recharge_order_complete(order_no="CZ-NOPE", payment_reference="x")
    assert not LedgerEntry.objects.exists()
