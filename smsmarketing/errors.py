"""Errors that carry a rule id and a message a merchant can act on."""

from __future__ import annotations


class SmsError(Exception):
    """A refusal with a stable rule id (see DOMAIN.md) and a Chinese message."""

    rule = "SMS-ERROR"

    def __init__(self, message: str, *, rule: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if rule is not None:
            self.rule = rule

    def __str__(self) -> str:
        return self.message


class CategoryRestricted(SmsError):
    rule = "CATEGORY-RESTRICTED"


# --- SMS account (短信账户) -------------------------------------------------


class AccountNotActive(SmsError):
    """The shop has not activated (开通) its SMS account."""

    rule = "ACCOUNT-INACTIVE"


class InsufficientBalance(SmsError):
    """The available balance (余量) does not cover the parts asked for."""

    rule = "INSUFFICIENT-BALANCE"


class TermsNotAccepted(SmsError):
    rule = "TERMS-NOT-ACCEPTED"


class InvalidUnits(SmsError):
    """A number of parts/units that is not a positive whole number."""

    rule = "UNITS-INVALID"


class ReasonRequired(SmsError):
    rule = "REASON-REQUIRED"


class UnknownShop(SmsError):
    rule = "SHOP-UNKNOWN"


class UnknownPackage(SmsError):
    rule = "PACKAGE-UNKNOWN"


class UnknownOrder(SmsError):
    rule = "ORDER-UNKNOWN"


class UnknownReservation(SmsError):
    rule = "RESERVATION-UNKNOWN"


class IdempotencyConflict(SmsError):
    """A reference or key was reused for a different reservation or shop (a caller bug)."""

    rule = "IDEMPOTENCY-CONFLICT"


class NotShopMember(SmsError):
    rule = "NOT-SHOP-MEMBER"


class PaymentFailed(SmsError):
    rule = "PAYMENT-FAILED"


class QuoteStale(SmsError):
    """The package or price changed between the confirmation page and the purchase."""

    rule = "QUOTE-STALE"


class SpendLimitReached(SmsError):
    """A reservation would take the account past its daily or monthly spending limit (消费上限).

    ``period`` is the cap that refused: "day" or "month" (docs/SPEND_LIMITS.md)."""

    rule = "SPEND-LIMIT"

    def __init__(self, message: str, *, period: str = "day") -> None:
        super().__init__(message)
        self.period = period
