"""How the results pages show rates, ROI, probabilities and p-values (Chinese, with units)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template
from django.utils import timezone
from django.utils.translation import gettext as _

register = template.Library()


@register.filter
def rate(numerator: object, denominator: object) -> str:
    """12.5% (one decimal) of numerator / denominator; — without a denominator."""
    try:
        n, d = float(numerator), float(denominator)
    except (TypeError, ValueError):
        return "—"
    return f"{n / d * 100:.1f}%" if d else "—"


@register.filter
def money(value: object) -> str:
    """¥1,234.50, and a loss as −¥474.87 (the sign before the currency); — for None."""
    if value is None or value == "":
        return "—"
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return "—"
    return f"−¥{-amount:,.2f}" if amount < 0 else f"¥{amount:,.2f}"


@register.filter
def share(value: object) -> str:
    """A fraction (0–1) as a percentage with one decimal: 0.873 → 87.3%; — for None."""
    if value is None or value == "":
        return "—"
    return f"{float(value) * 100:.1f}%"


@register.filter
def roi_percent(value: object) -> str:
    """The ROI (a ratio, "3.25") as 325%; — when undefined (no cost)."""
    if value is None or value == "":
        return "—"
    try:
        return f"{Decimal(str(value)) * 100:,.0f}%"
    except InvalidOperation:
        return "—"


@register.filter
def p_value(value: object) -> str:
    """p = 0.004 (three decimals), p < 0.001 below that; — when undefined."""
    if value is None or value == "":
        return "—"
    number = float(value)
    return "p < 0.001" if number < 0.001 else f"p = {number:.3f}"


@register.filter
def price_per_part(value: object) -> str:
    """¥0.045/条 (three decimals): a part's average price."""
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return "—"
    return _("¥{amount}/条").format(amount=amount)


@register.filter
def window_label(value: object) -> str:
    """A window (timedelta) in days from two days on, else hours: 5 天, 24 小时."""
    if not isinstance(value, timedelta):
        return "—"
    hours = int(value.total_seconds() // 3600)
    if hours >= 48 and hours % 24 == 0:
        return _("{n} 天").format(n=hours // 24)
    return _("{n} 小时").format(n=hours)


@register.filter
def time_left(ends_at: datetime | None) -> str:
    """剩余 3 小时 20 分 until ``ends_at``; 即将结束 once it has passed."""
    if ends_at is None:
        return "—"
    left = ends_at - timezone.now()
    if left.total_seconds() <= 0:
        return _("即将结束（等待测试短信发送完毕）")
    minutes = int(left.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return _("剩余 {h} 小时 {m} 分").format(h=hours, m=minutes)
    return _("剩余 {m} 分钟").format(m=max(minutes, 1))
