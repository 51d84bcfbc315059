"""The campaign page's spending-limit pause (docs/SPEND_LIMITS.md).

``{% load spend_pause %}{% spend_pause_notice campaign %}``: 已暂停（达到每日消费上限） with when it
continues by itself, and the owner's 继续发送 button. One query (the campaign's paused run),
whatever the audience; nothing for a campaign that is not running.
"""

from __future__ import annotations

from django import template

from campaigns.models.sending import Campaign
from campaigns.services.spend_pause import paused_run

register = template.Library()


@register.inclusion_tag("portal/campaign_spend_pause.html", takes_context=True)
def spend_pause_notice(context, campaign: Campaign) -> dict:
    run = paused_run(campaign=campaign) if campaign.status == Campaign.Status.RUNNING else None
    return {"run": run, "campaign": campaign, "shop": context.get("shop"), "can": context.get("can")}
