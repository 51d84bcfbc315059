"""Recharge (充值) in the benefits centre: order a package, pay, credit the account once.

Nothing is bought on one click: the portal first shows ``recharge_quote`` (the package, its
price and parts, the balance after, the payment method) with a fingerprint of those
figures, and ``recharge(..., quote=...)`` refuses (``QUOTE-STALE``) if the package changed
since. The flow is ``recharge_order_create`` → ``recharge_order_pay`` (the configured payment
provider, see ``smsmarketing.payments``) → ``recharge_order_complete``. Only
``recharge_order_complete`` credits the ledger, and only when it moves the order
to "paid", so a payment reported twice credits once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from smsmarketing.errors import AccountNotActive, PaymentFailed, QuoteStale, UnknownOrder, UnknownPackage
from smsmarketing.models import RechargeOrder, RechargePackage, Shop, SmsAccount
from smsmarketing.payments import payment_provider
from smsmarketing.selectors import account_for_shop
from smsmarketing.services.accounts import _ensure_billing, account_credit_recharge
from smsmarketing.services.shops import shop_ensure_sms_allowed

ORDER_NO_PREFIX = "CZ"


def _new_order_no() -> str:
    # Time for humans, randomness for uniqueness (the column is unique anyway).
    return f"{ORDER_NO_PREFIX}{timezone.localtime():%Y%m%d%H%M%S}{secrets.randbelow(10**6):06d}"


def _package_or_error(package_id: object) -> RechargePackage:
    try:
        pk = int(str(package_id))
    except (TypeError, ValueError):
        pk = None
    package = RechargePackage.objects.filter(pk=pk, active=True).first() if pk and pk > 0 else None
    if package is None:
        raise UnknownPackage(_("所选套餐不存在或已下架，请刷新页面后重新选择。"))
    return package


def package_fingerprint(package: RechargePackage) -> str:
    """A short digest of what a merchant confirms: the package, its name, parts and price.

    Not a secret (it authorises nothing): it only tells the purchase that the figures on
    the confirmation page are still the package's figures.
    """
    shown = f"{package.pk}|{package.name}|{package.units}|{package.price}|{package.active}"
    return hashlib.sha256(shown.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class RechargeQuote:
    """The confirmation of a purchase: what is bought, what it costs, the balance after."""

    package: RechargePackage
    balance: int
    balance_after: int
    payment_label: str
    fingerprint: str


def recharge_quote(*, shop: Shop, package_id: object) -> RechargeQuote:
    """What buying ``package_id`` would do, for the confirmation page. Writes nothing.

    Raises ``UnknownPackage`` for a package not on sale and ``AccountNotActive`` before
    activation (the same refusals as the purchase itself).
    """
    shop_ensure_sms_allowed(shop=shop)
    package = _package_or_error(package_id)
    account = account_for_shop(shop=shop)
    if not account.is_active:
        raise AccountNotActive(_("请先开通短信服务，再购买套餐。"))
    return RechargeQuote(
        package=package,
        balance=account.balance,
        balance_after=account.balance + package.units,
        payment_label=str(payment_provider().label),
        fingerprint=package_fingerprint(package),
    )


def _order_place(
    *, shop: Shop, user: AbstractBaseUser, package_id: int, request_token: str = "", quote: str | None = None
) -> tuple[RechargeOrder, bool]:
    _ensure_billing(shop=shop, user=user)
    shop_ensure_sms_allowed(shop=shop)
    package = _package_or_error(package_id)
    account = SmsAccount.objects.filter(shop_id=shop.pk).first()
    if account is None or not account.is_active:
        raise AccountNotActive(_("请先开通短信服务，再购买套餐。"))
    token = (request_token or "")[:64]
    if token:
        existing = RechargeOrder.objects.filter(account=account, request_token=token).first()
        if existing is not None:
            return existing, False
    if quote is not None and quote != package_fingerprint(package):
        # The merchant confirmed other figures (the package was edited in the admin since).
        raise QuoteStale(_("套餐“{name}”的内容或价格已变化，请核对最新价格后重新确认，本次未扣款。").format(
            name=package.name
        ))
    try:
        # Race: the same form submitted twice at once (double click); the partial unique
        # constraint on (account, request_token) lets one insert win, the other reads it.
        with transaction.atomic():
            order = RechargeOrder.objects.create(
                order_no=_new_order_no(),
                account=account,
                package=package,
                package_name=package.name,
                units=package.units,
                price=package.price,
                payment_provider=payment_provider().code,
                created_by=user if user.pk else None,
                request_token=token,
            )
    except IntegrityError:
        if not token:
            raise
        return RechargeOrder.objects.get(account=account, request_token=token), False
    return order, True


def recharge_order_create(
    *, shop: Shop, user: AbstractBaseUser, package_id: int, request_token: str = ""
) -> RechargeOrder:
    """Place an order for a package on sale. The account must be activated.

    With a ``request_token`` (the form's), placing the same request again returns the
    first order instead of a second one.
    """
    order, _created = _order_place(shop=shop, user=user, package_id=package_id, request_token=request_token)
    return order


def recharge_order_complete(*, order_no: str, payment_reference: str) -> RechargeOrder:
    """Mark the order paid and credit its units. Idempotent: a repeat changes nothing.

    A payment reported after the order was marked failed still credits (the money was
    taken). Raises ``UnknownOrder`` for an order number that does not exist.
    """
    with transaction.atomic():
        # Race: the provider's callback delivered twice, or concurrently with a retry.
        # The conditional UPDATE lets exactly one caller move the order to paid and
        # credit it; the order row is locked before the account row (fixed order).
        moved = RechargeOrder.objects.filter(
            order_no=order_no, status__in=[RechargeOrder.Status.PENDING, RechargeOrder.Status.FAILED]
        ).update(
            status=RechargeOrder.Status.PAID,
            paid_at=timezone.now(),
            payment_reference=payment_reference[:64],
            failure_reason="",
        )
        order = RechargeOrder.objects.select_related("created_by").filter(order_no=order_no).first()
        if order is None:
            raise UnknownOrder(_("充值订单 {no} 不存在。").format(no=order_no))
        if moved:
            account_credit_recharge(
                account_id=order.account_id,
                units=order.units,
                order_no=order.order_no,
                actor=order.created_by,
            )
    return order


def recharge_order_fail(*, order_no: str, reason: str) -> RechargeOrder:
    """Mark a pending order failed (no credit). A paid order stays paid."""
    RechargeOrder.objects.filter(order_no=order_no, status=RechargeOrder.Status.PENDING).update(
        status=RechargeOrder.Status.FAILED, failure_reason=reason[:200]
    )
    order = RechargeOrder.objects.filter(order_no=order_no).first()
    if order is None:
        raise UnknownOrder(_("充值订单 {no} 不存在。").format(no=order_no))
    return order


def recharge_order_pay(*, order: RechargeOrder) -> RechargeOrder:
    """Start the payment with the configured provider; complete it if the provider did."""
    try:
        outcome = payment_provider().start(order=order)
    except Exception as exc:  # any provider failure: record it on the order, credit nothing
        recharge_order_fail(order_no=order.order_no, reason=str(exc) or exc.__class__.__name__)
        raise PaymentFailed(_("支付未完成：{reason}。订单已记录，可稍后重试。").format(reason=exc)) from exc
    if outcome.completed:
        return recharge_order_complete(order_no=order.order_no, payment_reference=outcome.reference)
    return order


def recharge(
    *, shop: Shop, user: AbstractBaseUser, package_id: int, request_token: str = "", quote: str | None = None
) -> RechargeOrder:
    """Buy a package: place the order, then pay. Returns the order (paid if payment completed).

    A repeated request (same ``request_token``) returns the first order without paying again.
    With ``quote`` (the ``RechargeQuote.fingerprint`` the merchant confirmed), a package
    changed since is refused with ``QuoteStale`` and nothing is ordered.
    """
    order, created = _order_place(
        shop=shop, user=user, package_id=package_id, request_token=request_token, quote=quote
    )
    if not created:
        return order
    return recharge_order_pay(order=order)
