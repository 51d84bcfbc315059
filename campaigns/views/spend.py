"""The owner's 继续发送 of a campaign a spending limit paused (docs/SPEND_LIMITS.md)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campaigns.models.sending import Campaign
from campaigns.services.spend_pause import campaign_resume as resume_service
from smsmarketing.errors import SmsError
from smsmarketing.permissions import Capability
from smsmarketing.portal import shop_view


@shop_view(requires=Capability.BILLING)
@require_POST
def campaign_resume(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = get_object_or_404(Campaign, pk=campaign_id, shop=request.shop)
    try:
        resume_service(campaign=campaign, user=request.user)
    except SmsError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("已继续发送：超出上限的客户将按新的上限重新计划发送。"))
    return redirect(reverse("campaigns:detail", args=[request.shop.pk, campaign.pk]))
