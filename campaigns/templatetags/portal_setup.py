"""The dashboard's getting-started card: ``{% load portal_setup %}{% setup_steps shop account %}``.

A template tag, so the portal shell's dashboard (smsmarketing) shows campaign-side facts
without importing the campaigns app (dependencies point campaigns → reviews → smsmarketing).
"""

from __future__ import annotations

from django import template

from campaigns.selectors import shop_setup_steps

register = template.Library()


@register.inclusion_tag("portal/setup_steps.html")
def setup_steps(shop, account=None) -> dict:
    steps = shop_setup_steps(shop=shop, account=account)
    return {"shop": shop, "steps": steps, "left": sum(not s.done for s in steps)}
