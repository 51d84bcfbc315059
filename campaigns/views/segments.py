"""Merchant pages of segments (客户人群): the list with each one's count and the form creating
one, the live count, editing, deleting (after a confirmation page) and a segment's members."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _

from campaigns.forms import SegmentForm
from campaigns.models import Campaign, Segment
from campaigns.selectors import segment_count, shop_segments
from campaigns.selectors import segment_members as members_of
from campaigns.services.audience import (
    SEGMENT_BLOCKING_STATUSES,
    AudienceInvalid,
    segment_conditions,
    segment_delete,
    segment_save,
)
from smsmarketing.errors import SmsError
from smsmarketing.permissions import Capability
from smsmarketing.portal import render_portal, shop_view

MEMBERS_PAGE_SIZE = 50


def _segment(request: HttpRequest, segment_id: int) -> Segment:
    return get_object_or_404(Segment, pk=segment_id, shop=request.shop, archived_at__isnull=True)


@shop_view(post_requires=Capability.OPERATE)
def segment_list(request: HttpRequest) -> HttpResponse:
    shop = request.shop
    form = SegmentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            segment_save(shop=shop, user=request.user, **form.cleaned_data)
        except SmsError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("人群已保存。"))
            return redirect("campaigns:segments", shop.pk)
    segments = [(s, segment_count(segment=s)) for s in shop_segments(shop=shop)]
    return render_portal(
        request, "portal/segments.html", {"nav": "customers", "form": form, "segments": segments}
    )


@shop_view(requires=Capability.OPERATE)
def segment_edit(request: HttpRequest, segment_id: int) -> HttpResponse:
    shop = request.shop
    segment = _segment(request, segment_id)
    initial = {
        "name": segment.name,
        "tags_any": "，".join(segment.tags_any),
        "products_any": "，".join(segment.products_any),
        **{
            key: getattr(segment, key)
            for key in (
                "purchased_within_days",
                "not_purchased_within_days",
                "min_purchases",
                "max_purchases",
                "min_total_spent",
                "max_total_spent",
            )
        },
    }
    form = SegmentForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            segment_save(shop=shop, user=request.user, segment=segment, **form.cleaned_data)
        except SmsError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("人群“{name}”已保存。").format(name=form.cleaned_data["name"]))
            return redirect("campaigns:segments", shop.pk)
    using = Campaign.objects.filter(segment=segment, status__in=SEGMENT_BLOCKING_STATUSES).order_by("-id")
    return render_portal(
        request,
        "portal/segment_edit.html",
        {
            "nav": "customers",
            "form": form,
            "segment": segment,
            "using": list(using),
            "count": segment_count(segment=segment),
        },
        status=400 if request.method == "POST" else 200,
    )


@shop_view(requires=Capability.OPERATE)
def segment_delete_view(request: HttpRequest, segment_id: int) -> HttpResponse:
    """删除: a GET says what deleting does (or why it is refused); the POST deletes."""
    shop = request.shop
    segment = _segment(request, segment_id)
    if request.method == "POST":
        try:
            segment_delete(shop=shop, user=request.user, segment=segment)
        except SmsError as exc:
            messages.error(request, exc.message)
            return redirect("campaigns:segment_delete", shop.pk, segment.pk)
        messages.success(request, _("人群“{name}”已删除。").format(name=segment.name))
        return redirect("campaigns:segments", shop.pk)
    campaigns = list(Campaign.objects.filter(segment=segment).order_by("-id").only("id", "name", "status"))
    blocking = [c for c in campaigns if c.status in SEGMENT_BLOCKING_STATUSES]
    return render_portal(
        request,
        "portal/segment_delete.html",
        {"nav": "customers", "segment": segment, "campaigns": campaigns, "blocking": blocking},
    )


@shop_view
def segment_members(request: HttpRequest, segment_id: int) -> HttpResponse:
    """The customers a segment holds now, a page at a time, phones masked."""
    segment = _segment(request, segment_id)
    page = Paginator(members_of(segment=segment), MEMBERS_PAGE_SIZE).get_page(request.GET.get("page"))
    return render_portal(
        request, "portal/segment_members.html", {"nav": "customers", "segment": segment, "page": page}
    )


@shop_view(requires=Capability.OPERATE)
def segment_live_count(request: HttpRequest) -> HttpResponse:
    """The count of the segment being edited (htmx, on every change of the form); a condition
    that is wrong is named with its field."""
    form = SegmentForm({**request.GET.dict(), "name": "-"})
    count, errors = None, []
    if form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "name"}
        try:
            data = segment_conditions(**data)
        except AudienceInvalid as exc:
            errors = [exc.message]
        else:
            count = segment_count(segment=Segment(shop=request.shop, **data))
    else:
        errors = [
            _("“{field}”：{error}").format(field=form.fields[name].label, error="；".join(messages_))
            for name, messages_ in form.errors.items()
            if name in form.fields
        ]
    return render_portal(request, "portal/segment_count.html", {"count": count, "errors": errors})
