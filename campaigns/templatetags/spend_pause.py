"""The campaign page's spending-limit pause (docs/SPEND_LIMITS.md).

``{% load spend_pause %}{% spend_pause_notice campaign %}``: 已暂停（达到每日消费上限） with when it
continues by itself, and the owner's 继续发送 behind a confirmation (the caps' use now). One
query (the campaign's paused run), three for the owner of a paused one, whatever the audience;
nothing for a campaign that is not running.
"""

from __future__ import annotations

from django import template

from campaigns.models.sending import Campaign
from smsmarketing.models import SmsAccount
from smsmarketing.services.spend_limits import spend_limit_state

register = template.Library()


@register.inclusion_tag("portal/campaign_spend_pause.html", takes_context=True)
def spend_pause_notice(context, campaign: Campaign) -> dict:
    run = campaign.spend_paused_run
    can = context.get("can") or {}
    spend = None
    if run is not None and can.get("billing"):
        # The owner's confirmation of 继续发送 shows the caps' use now (two queries, paused runs
        # only). Not how many wait: batches not claimed yet have no SPEND-LIMIT rows to count.
        account_id = SmsAccount.objects.filter(shop_id=campaign.shop_id).values_list("pk", flat=True).first()
        spend = spend_limit_state(account_id=account_id) if account_id else None
    return {"run": run, "campaign": campaign, "shop": context.get("shop"), "can": can, "spend": spend}
