"""A template's text as a merchant reads it: ``${coupon_amount}`` shown as a chip 「优惠券面额」.

``{% load template_text %}{{ template.text|variable_chips:specs }}`` (``specs``: the page's
``variable_specs()``, read once, not once per text): the text is escaped, each known
``${name}`` token becomes ``<span class="var-chip" title="${name}">label</span>``; unknown
tokens stay as typed.
"""

from __future__ import annotations

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from reviews.policy.variables import TOKEN_RE, VariableSpec, variable_specs

register = template.Library()


@register.filter
def variable_chips(text: object, specs: dict[str, VariableSpec] | None = None) -> SafeString:
    text = str(text or "")
    if specs is None:
        specs = variable_specs()
    parts: list[str] = []
    last = 0
    for match in TOKEN_RE.finditer(text):
        spec = specs.get(match.group(1))
        if spec is None:
            continue
        parts.append(escape(text[last:match.start()]))
        parts.append(format_html('<span class="var-chip" title="{}">{}</span>', match.group(0), spec.label))
        last = match.end()
    parts.append(escape(text[last:]))
    return mark_safe("".join(parts))  # noqa: S308 (every piece escaped above)
