"""Number formats of the portal, independent of the locale: 12,345 and ¥4,000.00.

``{% load sms_format %}`` then ``{{ n|thousands }}``, ``{{ n|signed }}``, ``{{ price|yuan }}``,
``{{ reason_id|reason_label }}``, ``{{ phone|mask_phone }}``.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from django import template
from django.utils.translation import gettext_lazy as _

register = template.Library()


@register.filter
def thousands(value: object) -> object:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return value


@register.filter
def signed(value: object) -> object:
    """+1,000 / -9 / 0."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return value
    return f"{number:+,}" if number else "0"


@register.filter
def yuan(value: object) -> object:
    try:
        return f"¥{Decimal(str(value)):,.2f}"
    except (InvalidOperation, ValueError):
        return value


MASKED_PHONE_LENGTH = 11


@register.filter
def mask_phone(value: object) -> object:
    """138****8000: how merchant lists show a customer's phone (as platforms do). Exports keep
    the whole number; anything that is not an 11-digit number is shown as it is."""
    phone = str(value or "")
    if len(phone) != MASKED_PHONE_LENGTH or not phone.isdigit():
        return value
    return f"{phone[:3]}****{phone[-4:]}"


# Why a recipient was not sent to (reason ids are part of the interface, see DOMAIN.md):
# the portal shows the merchant a Chinese explanation with the id beside it.
REASON_LABELS = {
    "OPTED-OUT": _("客户已退订"),
    "QUIET-HOURS": _("免打扰时段，顺延发送"),
    "CATEGORY-RESTRICTED": _("店铺类目不可发送短信"),
    "INVALID-PHONE": _("手机号无效"),
    "INSUFFICIENT-BALANCE": _("余量不足"),
    "NO-SIGNATURE": _("没有审核通过的签名"),
    "SIGNATURE-CHANGED": _("签名已变更"),
    "TEMPLATE-NOT-APPROVED": _("模板未审核通过"),
    "SHOP-INACTIVE": _("短信服务未开通"),
    "COUPON-EXHAUSTED": _("优惠券已发完"),
    "SPEND-LIMIT": _("超出消费上限"),
    "GATEWAY-REJECTED": _("运营商拒收"),
    "GATEWAY-ERROR": _("通道故障"),
    "NO-REPORT": _("72 小时无回执，已退回"),
    "DLR-FAILED": _("运营商回执：发送失败"),
    "DLR-REJECTED": _("运营商回执：拒收"),
    "FREQ-PLATFORM-DAY": _("超过全平台每日营销短信上限"),
    "FREQ-PLATFORM-2DAY": _("超过全平台两日营销短信上限"),
    "FREQ-SHOP-2DAY": _("本店两日内已发过营销短信"),
    "FREQ-SHOP-NOTIFY-UNSUB-DAY": _("超过本店每日通知上限（可退订）"),
    "FREQ-SHOP-NOTIFY-DAY": _("超过本店每日通知上限"),
}


@register.filter
def reason_label(value: object) -> str:
    """"客户已退订" for OPTED-OUT; an unknown id is shown as it is."""
    return str(REASON_LABELS.get(str(value), value))


_CAMPAIGN_REFERENCE = re.compile(r"^campaign:(\d+):")
_SETTLEMENT_KEY = re.compile(r"^settle:")


@register.filter
def ledger_reference(entry: object) -> str:
    """What a merchant reads for a ledger entry's reference and note.

    The entry's label when its writer gave one (营销任务「双11会员券」); otherwise a send's
    internal references (``campaign:23:run:23:batch:1``, settlement keys ``settle:charge:…``)
    become 营销任务 #23; order numbers and reasons stay as they are.
    """
    reference = str(getattr(entry, "reference", "") or "")
    note = str(getattr(entry, "note", "") or "")
    label = str(getattr(entry, "label", "") or "")
    match = _CAMPAIGN_REFERENCE.match(reference)
    if label:  # what the writer named it (营销任务「双11会员券」)
        reference = label
    elif match:
        reference = str(_("营销任务 #{id}")).format(id=match.group(1))
    if _SETTLEMENT_KEY.match(note):
        note = ""
    return " · ".join(part for part in (reference, note) if part)
