"""Merchant pages of the SMS account (短信账户): overview, activation, recharge, records.

Thin adapters: parse the form, call one service, show the result or the service's
Chinese error. Every record page is paginated, filterable by local date and
exportable as CSV (``?export=csv`` with the same filters).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from smsmarketing.csvexport import csv_response
from smsmarketing.errors import SmsError
from smsmarketing.forms import ActivationForm, DateRangeForm, RechargeForm, SpendLimitsForm, ThresholdForm
from smsmarketing.models import RechargeOrder, RechargePackage
from smsmarketing.payments import payment_label
from smsmarketing.permissions import Capability
from smsmarketing.portal import render_portal, shop_view
from smsmarketing.selectors import (
    account_daily_usage,
    account_for_shop,
    ledger_consumption,
    ledger_issuances,
    ledger_recent,
    recharge_orders,
)
from smsmarketing.services import (
    TERMS_VERSION,
    account_activate,
    account_set_low_balance_threshold,
    recharge,
    recharge_quote,
)
from smsmarketing.services.spend_limits import SpendLimitState, account_set_spend_limits, spend_limit_state
from smsmarketing.templatetags.sms_format import ledger_reference

PAGE_SIZE = 20
RECENT_ENTRIES = 10


def _render(
    request: HttpRequest, template: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    return render_portal(request, template, {"nav": "account", **context}, status=status)


def _overview(
    request: HttpRequest, *, activation_form: ActivationForm | None = None, status: int = 200
) -> HttpResponse:
    account = account_for_shop(shop=request.shop)
    context = {
        "title": _("短信账户"),
        "tab": "overview",
        "account": account,
        "recent": ledger_recent(account=account, limit=RECENT_ENTRIES),
        "usage": account_daily_usage(account=account),
        "activation_form": activation_form or ActivationForm(),
        "threshold_form": ThresholdForm(initial={"threshold": account.low_balance_threshold}),
        "terms_version": TERMS_VERSION,
        # The spending limits and today's / this month's use (one query).
        "spend": spend_limit_state(account_id=account.pk) if account.pk else SpendLimitState(),
        "spend_form": SpendLimitsForm(
            initial={"daily": account.daily_spend_limit, "monthly": account.monthly_spend_limit}
        ),
    }
    return _render(request, "portal/account.html", context, status=status)


@shop_view
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    return _overview(request)


@shop_view(requires=Capability.BILLING)
@require_POST
def activate(request: HttpRequest) -> HttpResponse:
    form = ActivationForm(request.POST)
    form.is_valid()
    try:
        account_activate(
            shop=request.shop, user=request.user, accept_terms=form.cleaned_data.get("accept_terms") is True
        )
    except SmsError as exc:
        form.add_error("accept_terms", exc.message)
        return _overview(request, activation_form=form, status=400)
    messages.success(request, _("短信服务已开通。充值后即可发送短信。"))
    return redirect("portal:account", shop_id=request.shop.pk)


@shop_view(requires=Capability.BILLING)
@require_POST
def threshold(request: HttpRequest) -> HttpResponse:
    form = ThresholdForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("portal:account", shop_id=request.shop.pk)
    try:
        account_set_low_balance_threshold(
            shop=request.shop, user=request.user, threshold=form.cleaned_data["threshold"]
        )
    except SmsError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("余量提醒阈值已保存。"))
    return redirect("portal:account", shop_id=request.shop.pk)


@shop_view(requires=Capability.BILLING)
@require_POST
def spend_limits(request: HttpRequest) -> HttpResponse:
    form = SpendLimitsForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect(reverse("portal:account", args=[request.shop.pk]) + "#spend-limits")
    try:
        account_set_spend_limits(
            shop=request.shop,
            user=request.user,
            daily=form.cleaned_data["daily"],
            monthly=form.cleaned_data["monthly"],
        )
    except SmsError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("消费上限已保存。"))
    return redirect(reverse("portal:account", args=[request.shop.pk]) + "#spend-limits")


def _packages_page(request: HttpRequest, *, error: str = "", status: int = 200) -> HttpResponse:
    context = {
        "title": _("权益中心 · 充值"),
        "tab": "recharge",
        "account": account_for_shop(shop=request.shop),
        "packages": list(RechargePackage.objects.filter(active=True)),
        "error": error,
    }
    return _render(request, "portal/account_recharge.html", context, status=status)


@shop_view(requires=Capability.BILLING)
@require_GET
def recharge_page(request: HttpRequest) -> HttpResponse:
    """权益中心: the packages on sale; 购买 opens the confirmation (nothing is charged here)."""
    return _packages_page(request)


@shop_view(requires=Capability.BILLING)
@require_http_methods(["GET", "POST"])
def recharge_confirm(request: HttpRequest) -> HttpResponse:
    """The confirmation of a purchase: GET shows what it does, POST (with the figures' token) buys."""
    if request.method == "GET" and "package" not in request.GET:
        return redirect("portal:account_recharge", shop_id=request.shop.pk)  # pick a package first
    data = request.POST if request.method == "POST" else request.GET
    form = RechargeForm(data)
    valid = form.is_valid()
    package_id = form.cleaned_data["package"] if valid else ""
    error, status = "", 200
    if request.method == "POST":
        try:
            order = recharge(
                shop=request.shop,
                user=request.user,
                package_id=package_id,
                request_token=form.cleaned_data.get("token", "") if valid else "",
                quote=form.cleaned_data.get("quote", "") if valid else "",
            )
        except SmsError as exc:
            error, status = exc.message, 400
        else:
            if order.status == RechargeOrder.Status.PAID:
                messages.success(
                    request,
                    _("充值成功：{units:,} 条已到账（订单号 {no}）。").format(
                        units=order.units, no=order.order_no
                    ),
                )
            else:
                messages.info(request, _("订单 {no} 已提交，支付完成后自动到账。").format(no=order.order_no))
            return redirect("portal:account_recharges", shop_id=request.shop.pk)
    try:
        quote = recharge_quote(shop=request.shop, package_id=package_id)
    except SmsError as exc:
        # The package is gone (or the account cannot buy): back to the packages, saying why.
        return _packages_page(request, error=exc.message, status=400)
    context = {
        "title": _("确认购买"),
        "tab": "recharge",
        "quote": quote,
        "error": error,
        # One token per confirmation shown: a double click or a resubmitted page places
        # one order (see recharge_order_create); a new confirmation is a new purchase.
        "request_token": secrets.token_urlsafe(16),
    }
    return _render(request, "portal/account_recharge_confirm.html", context, status=status)


# --- record pages -------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[Any], object]
    numeric: bool = False
    # On the page, the entry's subject linked to its campaign (ledger_links.ledger_subject);
    # in the CSV, ``value``.
    subject: bool = False
    # Only in the CSV export (internal references kept for reconciliation).
    on_page: bool = True
    # Names as people typed them (user names): shown as they are (translate="no").
    verbatim: bool = False


def _display(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, Decimal):
        return f"¥{value:,.2f}"
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _records(
    request: HttpRequest,
    *,
    tab: str,
    title: str,
    filename: str,
    query: Callable[..., QuerySet],
    columns: Sequence[Column],
    empty: str,
) -> HttpResponse:
    account = account_for_shop(shop=request.shop)
    form = DateRangeForm(request.GET or None)
    start = end = None
    if form.is_bound and form.is_valid():
        start, end = form.cleaned_data.get("start"), form.cleaned_data.get("end")
    rows = query(account=account, start=start, end=end)
    if request.GET.get("export") == "csv":
        stamp = timezone.localtime().strftime("%Y%m%d")
        return csv_response(
            f"{filename}-{request.shop.pk}-{stamp}.csv",
            [c.header for c in columns],
            ([c.value(obj) for c in columns] for obj in rows.iterator(chunk_size=2000)),
        )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    shown = [c for c in columns if c.on_page]
    table = [
        (obj, [(_display(c.value(obj)), c.numeric, c.subject, c.verbatim) for c in shown])
        for obj in page.object_list
    ]
    filters = request.GET.copy()
    filters.pop("page", None)
    filters.pop("export", None)
    context = {
        "title": title,
        "tab": tab,
        "account": account,
        "form": form,
        "columns": shown,
        "table": table,
        "page": page,
        "filter_query": filters.urlencode(),
        "empty": empty,
    }
    return _render(request, "portal/account_records.html", context)


ORDER_COLUMNS = [
    Column(_("订单号"), lambda o: o.order_no),
    Column(_("套餐"), lambda o: o.package_name),
    Column(_("条数"), lambda o: o.units, numeric=True),
    Column(_("金额"), lambda o: o.price, numeric=True),
    Column(_("状态"), lambda o: o.get_status_display()),
    Column(_("支付方式"), lambda o: payment_label(o.payment_provider)),
    Column(_("下单时间"), lambda o: o.created_at),
    Column(_("到账时间"), lambda o: o.paid_at),
]

ISSUANCE_COLUMNS = [
    Column(_("时间"), lambda e: e.created_at),
    Column(_("类型"), lambda e: e.get_kind_display()),
    Column(_("发放条数"), lambda e: e.parts, numeric=True),
    Column(_("发放后余量"), lambda e: e.balance_after, numeric=True),
    Column(_("关联单号"), lambda e: e.reference),
    Column(_("说明"), lambda e: e.note),
    Column(_("操作方"), lambda e: e.actor_label, verbatim=True),
]

CONSUMPTION_COLUMNS = [
    Column(_("时间"), lambda e: e.created_at),
    Column(_("类型"), lambda e: e.get_kind_display()),
    Column(_("用途"), ledger_reference, subject=True),
    Column(_("条数"), lambda e: e.parts, numeric=True),
    Column(_("可用余量变化"), lambda e: e.amount, numeric=True),
    Column(_("冻结变化"), lambda e: e.reserved_delta, numeric=True),
    Column(_("变化后余量"), lambda e: e.balance_after, numeric=True),
    Column(_("变化后冻结"), lambda e: e.reserved_after, numeric=True),
    Column(_("关联单号"), lambda e: e.reference, on_page=False),
]


@shop_view
@require_GET
def recharge_records(request: HttpRequest) -> HttpResponse:
    return _records(
        request,
        tab="recharges",
        title=_("充值记录"),
        filename="recharges",
        query=recharge_orders,
        columns=ORDER_COLUMNS,
        empty=_("还没有充值记录。到“权益中心”选择套餐充值。"),
    )


@shop_view
@require_GET
def issuance_records(request: HttpRequest) -> HttpResponse:
    return _records(
        request,
        tab="issuances",
        title=_("发放记录"),
        filename="issuances",
        query=ledger_issuances,
        columns=ISSUANCE_COLUMNS,
        empty=_("还没有发放记录。充值到账和平台赠送的条数会显示在这里。"),
    )


@shop_view
@require_GET
def consumption_records(request: HttpRequest) -> HttpResponse:
    return _records(
        request,
        tab="consumption",
        title=_("消费记录"),
        filename="consumption",
        query=ledger_consumption,
        columns=CONSUMPTION_COLUMNS,
        empty=_("还没有消费记录。发送短信时的冻结、扣费和退回会显示在这里。"),
    )
