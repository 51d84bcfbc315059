"""Merchant pages of customers (客户管理): the list and the CSV import with its preview."""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from campaigns.forms import ImportUploadForm
from campaigns.models import Customer
from campaigns.services.importing import customers_import, customers_import_preview
from smsmarketing.errors import SmsError
from smsmarketing.portal import render_portal, shop_view
from smsmarketing.uploads import upload_too_large_message

# The uploaded file waits here between the preview and the import.
IMPORT_DIR = Path(tempfile.gettempdir()) / "sms-customer-imports"
PAGE_SIZE = 50


def _import_path(shop_id: int, token: str) -> Path:
    if not token.isalnum():
        raise Http404
    return IMPORT_DIR / f"{shop_id}-{token}.csv"


@shop_view
def customer_list(request: HttpRequest) -> HttpResponse:
    shop = request.shop
    customers = Customer.objects.filter(shop=shop).order_by("-id")
    query = request.GET.get("q", "").strip()
    if query:
        customers = customers.filter(phone__contains=query) | customers.filter(name__contains=query)
    page = Paginator(customers, PAGE_SIZE).get_page(request.GET.get("page"))
    return render_portal(
        request,
        "portal/customers.html",
        {
            "nav": "customers",
            "page": page,
            "query": query,
            "form": ImportUploadForm(),
            "total": Customer.objects.filter(shop=shop).count(),
        },
    )


@shop_view
@require_POST
def customer_import_preview(request: HttpRequest) -> HttpResponse:
    shop = request.shop
    form = ImportUploadForm(request.POST, request.FILES)
    if getattr(request, "upload_too_large", False):  # set while reading the body (smsmarketing.uploads)
        messages.error(request, upload_too_large_message())
        return redirect("campaigns:customers", shop.pk)
    if not form.is_valid():
        uploaded = "file" in request.FILES  # an empty file: say so rather than "choose a file"
        messages.error(request, " ".join(form.errors["file"]) if uploaded else "请选择要导入的 CSV 文件。")
        return redirect("campaigns:customers", shop.pk)
    IMPORT_DIR.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    path = _import_path(shop.pk, token)
    with open(path, "wb") as out:
        for chunk in form.cleaned_data["file"].chunks():
            out.write(chunk)
    try:
        with open(path, "rb") as stream:
            preview = customers_import_preview(shop=shop, stream=stream)
    except SmsError as exc:
        path.unlink(missing_ok=True)
        messages.error(request, exc.message)
        return redirect("campaigns:customers", shop.pk)
    return render_portal(
        request,
        "portal/customer_import_preview.html",
        {
            "nav": "customers",
            "preview": preview,
            "token": token,
            "filename": form.cleaned_data["file"].name,
        },
    )


@shop_view
@require_POST
def customer_import_confirm(request: HttpRequest) -> HttpResponse:
    shop = request.shop
    path = _import_path(shop.pk, request.POST.get("token", ""))
    if not path.exists():
        messages.error(request, "导入文件已失效，请重新上传。")
        return redirect("campaigns:customers", shop.pk)
    try:
        with open(path, "rb") as stream:
            report = customers_import(shop=shop, stream=stream)
    except SmsError as exc:
        messages.error(request, exc.message)
        return redirect("campaigns:customers", shop.pk)
    finally:
        path.unlink(missing_ok=True)
    return render_portal(
        request, "portal/customer_import_report.html", {"nav": "customers", "report": report}
    )
