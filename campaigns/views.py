"""Merchant pages of customers and campaigns (filled in by their issues)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from smsmarketing.portal import render_portal, shop_view


@shop_view
def customer_list(request: HttpRequest) -> HttpResponse:
    return render_portal(request, "portal/area.html", {"nav": "customers", "title": "客户管理"})


@shop_view
def campaign_list(request: HttpRequest) -> HttpResponse:
    return render_portal(request, "portal/area.html", {"nav": "campaigns", "title": "营销任务"})
