"""Merchant pages of signatures and templates (filled in by their issues)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from smsmarketing.portal import render_portal, shop_view


@shop_view
def signature_page(request: HttpRequest) -> HttpResponse:
    return render_portal(request, "portal/area.html", {"nav": "signature", "title": "短信签名"})


@shop_view
def template_list(request: HttpRequest) -> HttpResponse:
    return render_portal(request, "portal/area.html", {"nav": "templates", "title": "短信模板"})
