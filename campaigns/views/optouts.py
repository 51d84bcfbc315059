"""Merchant pages of opt-outs (退订管理): the list, its CSV export, re-subscribing with consent.

Thin adapters: parse the form, call one service, show the result or its Chinese error.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from campaigns.forms import ResubscribeForm
from campaigns.selectors import shop_optout_events, shop_optouts
from campaigns.services.optouts import optout_resubscribe
from smsmarketing.csvexport import csv_response
from smsmarketing.errors import SmsError
from smsmarketing.permissions import Capability
from smsmarketing.portal import render_portal, shop_view

PAGE_SIZE = 50


def _page(request: HttpRequest, *, form: ResubscribeForm, status: int = 200) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    page = Paginator(shop_optouts(shop_id=request.shop.pk, phone_query=query), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "nav": "optouts",
        "title": _("退订管理"),
        "page": page,
        "q": query,
        "form": form,
        "events": shop_optout_events(shop_id=request.shop.pk),
    }
    return render_portal(request, "campaigns/optouts.html", context, status=status)


@shop_view
@require_GET
def optout_list(request: HttpRequest) -> HttpResponse:
    return _page(request, form=ResubscribeForm(initial={"phone": request.GET.get("resubscribe", "")}))


@shop_view
@require_GET
def optout_export(request: HttpRequest) -> HttpResponse:
    optouts = shop_optouts(shop_id=request.shop.pk, phone_query=request.GET.get("q", ""))
    rows = (
        (optout.phone, optout.keyword, optout.get_source_display(), optout.created_at)
        for optout in optouts.iterator(chunk_size=2000)
    )
    filename = f"optouts-{request.shop.pk}-{timezone.localdate():%Y%m%d}.csv"
    return csv_response(filename, [_("手机号"), _("回复内容"), _("来源"), _("退订时间")], rows)


@shop_view(requires=Capability.OPERATE)
@require_POST
def optout_resubscribe_view(request: HttpRequest) -> HttpResponse:
    form = ResubscribeForm(request.POST)
    if not form.is_valid():
        return _page(request, form=form, status=400)
    try:
        optout_resubscribe(
            shop_id=request.shop.pk,
            phone=form.cleaned_data["phone"],
            consent_note=form.cleaned_data["consent_note"],
            actor=request.user,
        )
    except SmsError as exc:
        form.add_error(None, exc.message)
        return _page(request, form=form, status=400)
    messages.success(request, _("已恢复订阅：{phone}。").format(phone=form.cleaned_data["phone"]))
    return redirect("campaigns:optouts", shop_id=request.shop.pk)
