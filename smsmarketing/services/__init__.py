"""Writes and guards of the merchant core, re-exported so callers import from here.

``shops``: the restricted-category guard every SMS service calls first.
``accounts``: the SMS account (activation, reserve/charge/release, grants, adjustments).
``recharge``: packages bought in the benefits centre and their payment.
"""

from smsmarketing.services.accounts import (
    MAX_GRANT_UNITS,
    TERMS_VERSION,
    SettleItem,
    account_activate,
    account_adjust,
    account_charge,
    account_grant,
    account_grant_many,
    account_release,
    account_reserve,
    account_set_low_balance_threshold,
    account_settle_many,
)
from smsmarketing.services.recharge import (
    RechargeQuote,
    package_fingerprint,
    recharge,
    recharge_order_complete,
    recharge_order_create,
    recharge_order_fail,
    recharge_order_pay,
    recharge_quote,
)
from smsmarketing.services.shops import RESTRICTED_MESSAGE, restricted_message, shop_ensure_sms_allowed

__all__ = [
    "MAX_GRANT_UNITS",
    "RESTRICTED_MESSAGE",
    "RechargeQuote",
    "TERMS_VERSION",
    "SettleItem",
    "account_activate",
    "account_adjust",
    "account_charge",
    "account_grant",
    "account_grant_many",
    "account_release",
    "account_reserve",
    "account_set_low_balance_threshold",
    "package_fingerprint",
    "account_settle_many",
    "recharge",
    "recharge_order_complete",
    "recharge_order_create",
    "recharge_order_fail",
    "recharge_order_pay",
    "recharge_quote",
    "restricted_message",
    "shop_ensure_sms_allowed",
]
