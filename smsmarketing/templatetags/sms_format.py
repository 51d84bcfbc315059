"""Number formats of the portal, independent of the locale: 12,345 and ¥4,000.00.

``{% load sms_format %}`` then ``{{ n|thousands }}``, ``{{ n|signed }}``, ``{{ price|yuan }}``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template

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
