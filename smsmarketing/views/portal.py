"""Portal shell views: home redirect and the dashboard."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import cache_control

from smsmarketing.portal import render_portal, shop_view
from smsmarketing.selectors import account_daily_usage, account_for_shop, shops_for_user


@login_required
def home(request: HttpRequest) -> HttpResponse:
    shop = shops_for_user(user=request.user).first()
    if shop is None:
        if request.user.is_staff:
            return redirect("admin:index")
        return render(request, "portal/no_shop.html", status=200)
    return redirect("portal:dashboard", shop_id=shop.pk)


@shop_view
def dashboard(request: HttpRequest) -> HttpResponse:
    """The shop at a glance: balance and its trend, the getting-started steps while any is
    left, open reviews and recent campaigns (those two from the apps above, through the
    ``portal_setup`` template tags)."""
    account = account_for_shop(shop=request.shop)
    charted = account.is_active and not request.shop.sms_restricted
    usage = account_daily_usage(account=account) if charted else None
    context = {"nav": "dashboard", "account": account, "usage": usage}
    return render_portal(request, "portal/dashboard.html", context)


@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers (and the admin's pages, which link none) ask for /favicon.ico."""
    return redirect(static("portal/favicon.svg"), permanent=True)
