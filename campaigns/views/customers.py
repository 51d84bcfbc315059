"""Merchant pages of customers (客户管理): the list and the CSV import.

An import is a job (``CustomerImport``) with one page, ``customers/import/<id>/``, that shows
whatever the job is at: the check's progress, then the preview (totals and every rejected line)
with the confirmation, then the import's progress, then the result. Every step is a GET of that
page (reloadable); the upload and the confirmation POST and redirect to it.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from campaigns.forms import ImportUploadForm
from campaigns.models import Customer, CustomerImport, CustomerImportRow
from campaigns.services.importing import (
    customer_import_cancel,
    customer_import_confirm,
    customer_import_start,
)
from smsmarketing.errors import SmsError
from smsmarketing.permissions import Capability
from smsmarketing.portal import render_portal, shop_view
from smsmarketing.uploads import upload_limit, upload_too_large_message

PAGE_SIZE = 50
REJECTED_PAGE_SIZE = 50
SAMPLE_ROWS = 10
RECENT_IMPORTS = 5


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
            "imports": list(CustomerImport.objects.filter(shop=shop)[:RECENT_IMPORTS]),
            "max_mb": upload_limit() // (1024 * 1024),
        },
    )


@shop_view(requires=Capability.OPERATE)
@require_POST
def customer_import_upload(request: HttpRequest) -> HttpResponse:
    shop = request.shop
    form = ImportUploadForm(request.POST, request.FILES)
    if getattr(request, "upload_too_large", False):  # set while reading the body (smsmarketing.uploads)
        messages.error(request, upload_too_large_message())
        return redirect("campaigns:customers", shop.pk)
    if not form.is_valid():
        uploaded = "file" in request.FILES  # an empty file: say so rather than "choose a file"
        messages.error(request, " ".join(form.errors["file"]) if uploaded else "请选择要导入的 CSV 文件。")
        return redirect("campaigns:customers", shop.pk)
    try:
        job = customer_import_start(shop=shop, user=request.user, upload=form.cleaned_data["file"])
    except SmsError as exc:
        messages.error(request, exc.message)
        return redirect("campaigns:customers", shop.pk)
    return redirect("campaigns:customers_import_job", shop.pk, job.pk)


def _job(request: HttpRequest, import_id: int) -> CustomerImport:
    return get_object_or_404(CustomerImport, pk=import_id, shop=request.shop)


@shop_view
def customer_import_job(request: HttpRequest, import_id: int) -> HttpResponse:
    job = _job(request, import_id)
    context: dict = {"nav": "customers", "job": job}
    if job.status in (CustomerImport.Status.READY, CustomerImport.Status.DONE):
        rejected = CustomerImportRow.objects.filter(job_id=job.pk, error__isnull=False).order_by("line")
        context["rejected"] = Paginator(rejected, REJECTED_PAGE_SIZE).get_page(request.GET.get("page"))
    if job.status == CustomerImport.Status.READY:
        context["sample"] = list(
            CustomerImportRow.objects.filter(job_id=job.pk, error__isnull=True).order_by("line")[:SAMPLE_ROWS]
        )
        return render_portal(request, "portal/customer_import_preview.html", context)
    return render_portal(request, "portal/customer_import_report.html", context)


@shop_view
def customer_import_progress(request: HttpRequest, import_id: int) -> HttpResponse:
    """The progress box (htmx polls it); once the step is over the whole page reloads to show
    what comes next (the preview, or the result)."""
    job = _job(request, import_id)
    if not job.running or request.GET.get("status", job.status) != job.status:
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    return render_portal(request, "portal/customer_import_progress.html", {"job": job})


@shop_view(requires=Capability.OPERATE)
@require_POST
def customer_import_confirm_view(request: HttpRequest, import_id: int) -> HttpResponse:
    job = _job(request, import_id)
    try:
        customer_import_confirm(job=job, figures=request.POST.get("figures", ""), user=request.user)
    except SmsError as exc:
        messages.error(request, exc.message)
    return redirect("campaigns:customers_import_job", request.shop.pk, job.pk)


@shop_view(requires=Capability.OPERATE)
@require_POST
def customer_import_cancel_view(request: HttpRequest, import_id: int) -> HttpResponse:
    job = _job(request, import_id)
    if customer_import_cancel(job=job, user=request.user):
        messages.success(request, "已取消导入，文件中的数据未导入。")
        return redirect("campaigns:customers", request.shop.pk)
    return redirect("campaigns:customers_import_job", request.shop.pk, job.pk)
