"""Merchant pages of webhooks (开放接口 › Webhook): endpoints, their deliveries and attempts.

Thin adapters over ``campaigns.services.webhooks``: parse the form, call one service, show the
result or its Chinese error. Every member sees the pages; only the owner adds, deletes and
resends (the service refuses others; the pages hide the forms).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from campaigns.forms import WebhookEndpointForm
from campaigns.models.webhooks import WebhookDelivery, WebhookEndpoint, WebhookEventType
from campaigns.selectors import shop_webhook_endpoints, webhook_endpoint_deliveries
from campaigns.services.webhooks import (
    webhook_delivery_resend,
    webhook_endpoint_create,
    webhook_endpoint_delete,
)
from smsmarketing.errors import SmsError
from smsmarketing.permissions import Capability, role_allows
from smsmarketing.portal import render_portal, shop_view

DELIVERIES_PER_PAGE = 20


def _is_owner(request: HttpRequest) -> bool:
    """The member may manage webhooks (INTEGRATIONS: the owner); from the request, no query."""
    return role_allows(request.shop_role, Capability.INTEGRATIONS)


def _endpoint(request: HttpRequest, webhook_id: int) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(shop=request.shop, pk=webhook_id).first()
    if endpoint is None:
        raise Http404
    endpoint.shop = request.shop
    return endpoint


def _list_page(
    request: HttpRequest, *, form: WebhookEndpointForm, created=None, status: int = 200
) -> HttpResponse:
    endpoints = list(shop_webhook_endpoints(shop_id=request.shop.pk))
    for endpoint in endpoints:
        endpoint.event_labels = [WebhookEventType(event).label for event in endpoint.events]
    context = {
        "nav": "api",
        "title": _("Webhook 推送"),
        "endpoints": endpoints,
        "failing": [e for e in endpoints if e.status == WebhookEndpoint.Status.FAILING],
        "form": form,
        "created": created,
        "is_owner": _is_owner(request),
    }
    return render_portal(request, "campaigns/webhooks.html", context, status=status)


@shop_view(post_requires=Capability.INTEGRATIONS)
@require_http_methods(["GET", "POST"])
def webhook_list(request: HttpRequest) -> HttpResponse:
    """The endpoints and the form to add one; after adding, the secret is shown this once."""
    if request.method == "GET":
        return _list_page(request, form=WebhookEndpointForm())
    form = WebhookEndpointForm(request.POST)
    if not form.is_valid():
        return _list_page(request, form=form, status=400)
    try:
        endpoint, secret = webhook_endpoint_create(
            shop=request.shop,
            user=request.user,
            url=form.cleaned_data["url"],
            events=form.cleaned_data["events"],
            description=form.cleaned_data["description"],
        )
    except SmsError as exc:
        form.add_error("url" if exc.rule == "WEBHOOK-URL" else None, exc.message)
        return _list_page(request, form=form, status=400)
    # Rendered, not redirected: the secret exists in this answer only.
    return _list_page(request, form=WebhookEndpointForm(), created={"endpoint": endpoint, "secret": secret})


@shop_view
@require_GET
def webhook_detail(request: HttpRequest, webhook_id: int) -> HttpResponse:
    """An endpoint's deliveries, newest first, each with its attempts and a resend button."""
    endpoint = _endpoint(request, webhook_id)
    page = Paginator(webhook_endpoint_deliveries(endpoint=endpoint), DELIVERIES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    context = {
        "nav": "api",
        "title": _("推送记录"),
        "endpoint": endpoint,
        "page": page,
        "is_owner": _is_owner(request),
    }
    return render_portal(request, "campaigns/webhook_detail.html", context)


@shop_view(requires=Capability.INTEGRATIONS)
@require_http_methods(["GET", "POST"])
def webhook_delete(request: HttpRequest, webhook_id: int) -> HttpResponse:
    """GET: what deleting removes, and the confirmation; POST: delete."""
    endpoint = _endpoint(request, webhook_id)
    if request.method == "GET":
        pending = endpoint.deliveries.filter(status=WebhookDelivery.Status.PENDING).count()
        context = {"nav": "api", "title": _("删除接收地址"), "endpoint": endpoint, "pending": pending}
        return render_portal(request, "campaigns/webhook_delete.html", context)
    try:
        webhook_endpoint_delete(endpoint=endpoint, user=request.user)
    except SmsError as exc:
        messages.error(request, exc.message)
        return redirect("campaigns:webhooks", shop_id=request.shop.pk)
    messages.success(request, _("已删除接收地址 {url}，不再向它推送。").format(url=endpoint.url))
    return redirect("campaigns:webhooks", shop_id=request.shop.pk)


@shop_view(requires=Capability.INTEGRATIONS)
@require_POST
def webhook_resend(request: HttpRequest, webhook_id: int, delivery_id: int) -> HttpResponse:
    endpoint = _endpoint(request, webhook_id)
    delivery = endpoint.deliveries.filter(pk=delivery_id).first()
    if delivery is None:
        raise Http404
    delivery.endpoint = endpoint
    try:
        webhook_delivery_resend(delivery=delivery, user=request.user)
    except SmsError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, _("已重新发送事件 {event}，结果见下方推送记录。").format(event=delivery.event_id)
        )
    return redirect("campaigns:webhook_detail", shop_id=request.shop.pk, webhook_id=endpoint.pk)
