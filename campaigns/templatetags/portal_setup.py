"""The dashboard's parts that come from the apps above the portal shell.

``{% load portal_setup %}{% setup_steps shop account %}``: the getting-started card;
``{% dashboard_activity shop %}``: the shop's open reviews (pending, with their due time or
their delay; rejected, with the reason) and its recent campaigns with their results.

Template tags, so the portal shell's dashboard (smsmarketing) shows review- and campaign-side
facts without importing these apps (dependencies point campaigns → reviews → smsmarketing),
and the dashboard keeps its URL and view. Each tag runs a fixed number of queries.
"""

from __future__ import annotations

from django import template

from campaigns.selectors import campaigns_progress, shop_campaigns, shop_setup_steps
from reviews.selectors import shop_open_reviews

register = template.Library()


@register.inclusion_tag("portal/setup_steps.html", takes_context=True)
def setup_steps(context, shop, account=None) -> dict:
    steps = shop_setup_steps(shop=shop, account=account)
    # ``can``: the member's capabilities (render_portal), so a 只读 member gets no action links.
    left = sum(not s.done for s in steps)
    return {"shop": shop, "steps": steps, "left": left, "can": context.get("can", {})}


RECENT_CAMPAIGNS = 5
OPEN_REVIEWS = 5


@register.inclusion_tag("portal/dashboard_activity.html", takes_context=True)
def dashboard_activity(context, shop) -> dict:
    campaigns = list(shop_campaigns(shop=shop)[:RECENT_CAMPAIGNS])
    progress = campaigns_progress(campaigns=campaigns) if campaigns else {}
    return {
        "shop": shop,
        "reviews": shop_open_reviews(shop=shop, limit=OPEN_REVIEWS),
        "recent": [(campaign, progress.get(campaign.pk)) for campaign in campaigns],
        "can": context.get("can", {}),
    }
