"""Merchant pages of the notifications (消息通知): the inbox, marking read, and each member's own
choice of channels per kind. Thin adapters over ``smsmarketing.services.notifications``."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from smsmarketing.notification_selectors import notification_choices, notifications_for_member
from smsmarketing.portal import render_portal, shop_view
from smsmarketing.services.notifications import (
    notification_mark_read,
    notification_preferences_set,
    notifications_mark_all_read,
)

PAGE_SIZE = 20


@shop_view
@require_http_methods(["GET"])
def inbox(request: HttpRequest) -> HttpResponse:
    rows = notifications_for_member(shop=request.shop, user=request.user)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render_portal(
        request, "portal/notifications.html", {"nav": "notifications", "title": _("消息通知"), "page": page}
    )


@shop_view
@require_POST
def mark_read(request: HttpRequest, notification_id: int) -> HttpResponse:
    """Mark the member's notification read; with ``open`` (its 「查看详情」) go on to its page."""
    # Another member's (or another shop's) notification: 404, as for one that does not exist.
    link = (
        notifications_for_member(shop=request.shop, user=request.user)
        .filter(pk=notification_id)
        .values_list("link", flat=True)
        .first()
    )
    if link is None:
        raise Http404
    notification_mark_read(shop=request.shop, user=request.user, notification_id=notification_id)
    # The link was written by the platform's emitters; only a path of this site is followed.
    if (
        "open" in request.POST
        and url_has_allowed_host_and_scheme(link, allowed_hosts=None)
        and link.startswith("/")
    ):
        return redirect(link)
    return redirect(_back(request))


@shop_view
@require_POST
def mark_all_read(request: HttpRequest) -> HttpResponse:
    count = notifications_mark_all_read(shop=request.shop, user=request.user)
    messages.success(request, _("已将 {count} 条消息标为已读。").format(count=count))
    return redirect("portal:notifications", request.shop.pk)


@shop_view
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        choices = {
            row.kind: (f"inbox_{row.kind}" in request.POST, f"email_{row.kind}" in request.POST)
            for row in notification_choices(shop=request.shop, user=request.user)
        }
        notification_preferences_set(shop=request.shop, user=request.user, choices=choices)
        messages.success(request, _("通知设置已保存。"))
        return redirect("portal:notification_settings", request.shop.pk)
    return render_portal(
        request,
        "portal/notifications_settings.html",
        {
            "nav": "notifications",
            "title": _("通知设置"),
            "rows": notification_choices(shop=request.shop, user=request.user),
            "has_email": bool(request.user.email),
        },
    )


def _back(request: HttpRequest) -> str:
    """Back to the inbox page the form was on (only that page number is kept)."""
    page = request.POST.get("page", "")
    url = reverse("portal:notifications", args=[request.shop.pk])
    return f"{url}?page={page}" if page.isdigit() else url
