"""Writes and guards of the merchant core."""

from __future__ import annotations

from django.utils.translation import gettext as _

from smsmarketing.errors import CategoryRestricted
from smsmarketing.models import Shop

RESTRICTED_MESSAGE = _(
    "您的店铺主营类目“{category}”属于敏感类目，根据平台规定不能使用短信服务"
    "（开通、充值、签名、模板、营销任务均不可用）。如类目有误，请联系平台客服修改主营类目。"
)


def restricted_message(*, shop: Shop) -> str:
    return RESTRICTED_MESSAGE.format(category=shop.category.name)


def shop_ensure_sms_allowed(*, shop: Shop) -> None:
    """Raise ``CategoryRestricted`` if the shop may not use any SMS feature.

    Every SMS service calls this first, so no SMS action succeeds for a shop
    in a restricted category, whatever route it comes by.
    """
    if shop.category.restricted:
        raise CategoryRestricted(restricted_message(shop=shop))
