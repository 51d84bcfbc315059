"""Merchant pages of segments (客户人群): the list with each one's count, and the live count."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from campaigns.forms import SegmentForm
from campaigns.models import Segment
from campaigns.selectors import segment_count
from campaigns.services.audience import segment_save
from smsmarketing.errors import SmsError
from smsmarketing.portal import render_portal, shop_view


@shop_view
def segment_list(request: HttpRequest) -> HttpResponse:
    shop = request.shop
    form = SegmentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            segment_save(shop=shop, user=request.user, **form.cleaned_data)
        except SmsError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "人群已保存。")
            return redirect("campaigns:segments", shop.pk)
    segments = [(s, segment_count(segment=s)) for s in Segment.objects.filter(shop=shop)]
    return render_portal(
        request, "portal/segments.html", {"nav": "customers", "form": form, "segments": segments}
    )


@shop_view
def segment_live_count(request: HttpRequest) -> HttpResponse:
    """The count of the segment being edited (htmx, on every change of the form)."""
    form = SegmentForm({**request.GET.dict(), "name": "-"})
    count = None
    if form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "name"}
        count = segment_count(segment=Segment(shop=request.shop, **data))
    return render_portal(request, "portal/segment_count.html", {"count": count})
