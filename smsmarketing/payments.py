"""Payment of recharge orders: a pluggable step between "order placed" and "credited".

A provider's ``start`` is called once per order. It either completes at once (the
simulated default) or returns where to send the merchant; a real provider then
reports the payment from its callback by calling
``smsmarketing.services.recharge_order_complete(order_no=..., payment_reference=...)``,
which credits the account exactly once. Providers never touch the ledger.

Choose the provider with the setting ``SMS_PAYMENT_PROVIDER`` (a dotted path to a
class with no constructor arguments); the default is ``SimulatedPayment``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from smsmarketing.models import RechargeOrder

DEFAULT_PAYMENT_PROVIDER = "smsmarketing.payments.SimulatedPayment"


@dataclass(frozen=True)
class PaymentOutcome:
    """What starting a payment gave: completed now, or a page to send the payer to."""

    completed: bool
    reference: str = ""
    redirect_url: str = ""


class PaymentProvider(Protocol):
    code: str
    label: str

    def start(self, *, order: RechargeOrder) -> PaymentOutcome: ...


class SimulatedPayment:
    """Completes every payment immediately (local runs, demos and tests)."""

    code = "simulated"
    label = _("模拟支付（演示）")

    def start(self, *, order: RechargeOrder) -> PaymentOutcome:
        return PaymentOutcome(completed=True, reference=f"SIM-{order.order_no}")


def payment_provider() -> PaymentProvider:
    """The configured provider instance."""
    path = getattr(settings, "SMS_PAYMENT_PROVIDER", DEFAULT_PAYMENT_PROVIDER)
    return import_string(path)()


def payment_label(code: str) -> str:
    """The Chinese name of the provider an order was paid with (充值记录's 支付方式).

    Orders keep the provider's code; the configured provider and the simulated one are
    named; a code of a provider no longer configured reads as 其他支付方式.
    """
    for provider in (payment_provider(), SimulatedPayment()):
        if provider.code == code:
            return str(provider.label)
    return str(_("其他支付方式"))
