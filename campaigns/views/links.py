"""Short links: ``/t/<code>`` (public, no login), and the merchant's page of the shop's landing URL."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from campaigns.forms import ShopLandingForm
from campaigns.services.campaigns import PREVIEW_LINK_CODE, short_link
from campaigns.services.links import link_follow, link_policy, shop_landing_set
from smsmarketing.errors import SmsError
from smsmarketing.permissions import Capability
from smsmarketing.portal import render_portal, shop_view
from smsmarketing.security import client_ip


@never_cache  # every tap must reach us (and be counted), never a cached redirect
@require_http_methods(["GET", "HEAD"])
def follow(request: HttpRequest, code: str) -> HttpResponse:
    """302 to the landing page; a Chinese 404 page for an unknown or expired code, or when no
    allowed landing page is set (the click is recorded then all the same)."""
    result = link_follow(
        code=code,
        method=request.method,
        user_agent=request.headers.get("User-Agent", ""),
        client=client_ip(request),
    )
    if result is None or not result.target:
        return render(request, "campaigns/link_missing.html", {"live": result is not None}, status=404)
    return HttpResponseRedirect(result.target)


@shop_view(post_requires=Capability.OPERATE)
def shop_landing(request: HttpRequest) -> HttpResponse:
    """The shop's default landing page: where ``${shop_link}`` and coupons without one lead."""
    shop = request.shop
    form = ShopLandingForm(request.POST or None, initial={"landing_url": shop.landing_url})
    if request.method == "POST" and form.is_valid():
        try:
            shop_landing_set(shop=shop, user=request.user, landing_url=form.cleaned_data["landing_url"])
        except SmsError as exc:
            form.add_error("landing_url", exc.message)
        else:
            messages.success(request, "店铺落地页已保存。")
            return redirect("campaigns:links", shop.pk)
    return render_portal(
        request,
        "portal/links.html",
        {
            "nav": "links",
            "form": form,
            "domains": link_policy(fresh=True).domains,
            "example_link": short_link(PREVIEW_LINK_CODE),
            "link_days": settings.SMS_SHORT_LINK_DAYS,
        },
    )
