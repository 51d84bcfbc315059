"""Merchant pages of customers, segments, coupons and campaigns: thin adapters over services."""

from __future__ import annotations

import functools
import secrets
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString
from django.utils.translation import get_language
from django.views.decorators.http import require_POST

from campaigns.forms import (
    CampaignForm,
    CouponForm,
    ImportUploadForm,
    ScheduleForm,
    SegmentForm,
    TestPhoneForm,
    VerifyCodeForm,
)
from campaigns.models import Campaign, Coupon, Customer, Message, Segment
from campaigns.selectors import (
    CampaignReport,
    campaign_messages_for_export,
    campaign_page_facts,
    campaign_report,
    campaign_statistics,
    campaigns_progress,
    segment_count,
    shop_campaigns,
)
from campaigns.services import audience as audience_services
from campaigns.services import campaigns as campaign_services
from campaigns.services.importing import customers_import, customers_import_preview
from reviews.policy.memo import policy_memo, prime
from smsmarketing.csvexport import csv_response
from smsmarketing.errors import SmsError
from smsmarketing.portal import render_portal, shop_view
from smsmarketing.uploads import upload_too_large_message

IMPORT_DIR = Path(tempfile.gettempdir()) / "sms-customer-imports"
PAGE_SIZE = 50


def _import_path(shop_id: int, token: str) -> Path:
    if not token.isalnum():
        raise Http404
    return IMPORT_DIR / f"{shop_id}-{token}.csv"


# --- customers ---------------------------------------------------------------------


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


# --- segments and coupons ------------------------------------------------------------


@shop_view
def segment_list(request: HttpRequest) -> HttpResponse:
    shop = request.shop
    form = SegmentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            audience_services.segment_save(shop=shop, user=request.user, **form.cleaned_data)
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


@shop_view
def coupon_list(request: HttpRequest) -> HttpResponse:
    shop = request.shop
    form = CouponForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            audience_services.coupon_create(shop=shop, user=request.user, **form.cleaned_data)
        except SmsError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "优惠券已创建。")
            return redirect("campaigns:coupons", shop.pk)
    coupons = Coupon.objects.filter(shop=shop)
    return render_portal(
        request, "portal/campaign_coupons.html", {"nav": "campaigns", "form": form, "coupons": coupons}
    )


# --- campaigns --------------------------------------------------------------------------


def _campaign(request: HttpRequest, campaign_id: int) -> Campaign:
    campaign = get_object_or_404(
        Campaign.objects.select_related("segment", "coupon", "template"),
        pk=campaign_id,
        shop=request.shop,
    )
    campaign.shop = request.shop  # the same row, loaded with its category by shop_view
    return campaign


def _campaign_rows(shop_id: int, listed: list[Campaign], progress: dict) -> list[SafeString]:
    """The list's rows as HTML, formatted once per page: labels from one dict, one reverse(),
    numbers and dates in Python, text escaped here. Per-row template lookups, ``get_FOO_display``
    and ``{% url %}`` made the page cost 2.7x the dashboard for 50 rows (docs/PERFORMANCE.md)."""
    marker = 987654321
    detail = reverse("campaigns:detail", args=[shop_id, marker])
    # str() first: escape() of a lazy label stays lazy, translated again in every row.
    kinds = {value: escape(str(label)) for value, label in Campaign.Kind.choices}
    statuses = {value: escape(str(label)) for value, label in Campaign.Status.choices}
    rows = []
    for campaign in listed:
        stats = progress[campaign.pk]
        scheduled = campaign.scheduled_at
        when = timezone.localtime(scheduled).strftime("%Y-%m-%d %H:%M") if scheduled else "—"
        status = escape(campaign.status)
        bar = ""
        if stats.planned:
            pct = stats.progress_percent
            bar = f'<progress class="progress" max="100" value="{pct}">{pct}%</progress> {pct}%'
        rows.append(SafeString(
            f'<tr><td><a href="{escape(detail.replace(str(marker), str(campaign.pk)))}">'
            f"{escape(campaign.name)}</a></td><td>{kinds.get(campaign.kind) or escape(campaign.kind)}</td>"
            f'<td><span class="badge status-{status}">{statuses.get(campaign.status) or status}</span></td>\n'
            f'      <td>{when}</td><td class="num">{stats.sent:,}</td>'
            f'<td class="num">{stats.delivered:,}</td><td class="num">{stats.failed:,}</td>\n'
            f'      <td class="progress-cell">{bar}</td></tr>'
        ))
    return rows


@shop_view
def campaign_list(request: HttpRequest) -> HttpResponse:
    listed = list(shop_campaigns(shop=request.shop)[:100])
    progress = campaigns_progress(campaigns=listed)
    return render_portal(
        request,
        "portal/campaigns.html",
        {
            "nav": "campaigns",
            "campaigns": _campaign_rows(request.shop.pk, listed, progress),
            "kinds": Campaign.Kind.choices,
        },
    )


@shop_view
def campaign_new(request: HttpRequest) -> HttpResponse:
    from reviews.selectors import usable_templates

    shop = request.shop
    kind = request.GET.get("kind", Campaign.Kind.MARKETING)
    if kind not in Campaign.Kind.values:
        raise Http404
    form = CampaignForm(
        request.POST or None, shop=shop, kind=kind, templates=usable_templates(shop=shop, use=kind)
    )
    if request.method == "POST" and form.is_valid():
        try:
            campaign = campaign_services.campaign_create(
                shop=shop, user=request.user, kind=kind, **form.cleaned_data
            )
        except campaign_services.CampaignContentRejected as exc:
            form.add_error("text" if "text" in form.fields else None, exc.message)
        except SmsError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "任务已创建，请预览并试算后排期发送。")
            return redirect("campaigns:detail", shop.pk, campaign.pk)
    return render_portal(
        request,
        "portal/campaign_new.html",
        {
            "nav": "campaigns",
            "form": form,
            "kind": kind,
            "kind_label": Campaign.Kind(kind).label,
        },
    )


@shop_view
def campaign_detail(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    facts = campaign_page_facts(campaign=campaign)
    with policy_memo():  # the preview's signature: the one just read with the page's facts
        prime(("live_signature", campaign.shop_id), facts.live_signature)
        try:
            preview, preview_parts = campaign_services.campaign_preview(campaign=campaign)
        except SmsError as exc:
            preview, preview_parts = exc.message, 0
    report = campaign_report(campaign=campaign)
    return render_portal(
        request,
        "portal/campaign_detail.html",
        {
            "nav": "campaigns",
            "campaign": campaign,
            "preview": preview,
            "preview_parts": preview_parts,
            "stats": report.stats,
            "timeline": report.timeline,
            "statistics_section": _settled_statistics_section(request, campaign, report),
            "schedule_form": ScheduleForm() if campaign.status == Campaign.Status.DRAFT else None,
            "test_phone_inputs": _test_phone_inputs(),
            "verified_phones": facts.verified_phones,
            "test_messages": facts.test_messages,
        },
    )


# The statistics section of a campaign that is over and settled, rendered once per process for
# each of its opt-out counts: nothing else it shows ever changes again (its counts and chart
# are kept for good, campaigns.selectors.PROGRESS_CACHE_KEY; its status is final; the key
# holds every other value the section reads). Rendering it cost ~0.35 ms of CPU per view.
_SETTLED_SECTIONS: OrderedDict[tuple, SafeString] = OrderedDict()
_SETTLED_SECTIONS_MAX = 512  # campaigns per process (~5 kB each)
_settled_sections_lock = threading.Lock()


def _settled_statistics_section(
    request: HttpRequest, campaign: Campaign, report: CampaignReport
) -> SafeString | None:
    """The rendered statistics section of a settled campaign (None: rendered with the page)."""
    if not report.settled or request.htmx:
        return None
    key = (
        campaign.pk, campaign.created_at, campaign.shop_id, campaign.status, campaign.coupon_id,
        report.stats.optouts_after, get_language(),
    )  # fmt: skip
    with _settled_sections_lock:
        if (html := _SETTLED_SECTIONS.get(key)) is not None:
            _SETTLED_SECTIONS.move_to_end(key)
            return html
    html = render_to_string(
        "portal/campaign_statistics.html",
        {"shop": request.shop, "campaign": campaign, "stats": report.stats, "timeline": report.timeline},
    )
    with _settled_sections_lock:
        _SETTLED_SECTIONS[key] = html
        while len(_SETTLED_SECTIONS) > _SETTLED_SECTIONS_MAX:
            _SETTLED_SECTIONS.popitem(last=False)
    return html


@functools.cache
def _test_phone_inputs() -> dict[str, SafeString]:
    """The inputs of the (always unbound) forms verifying a test phone, rendered once per process:
    they never change, and the form renderer's templates cost ~0.3 ms of CPU per view."""
    phone, code = TestPhoneForm(), VerifyCodeForm()
    return {
        "request_phone": str(phone["phone"]), "confirm_phone": str(code["phone"]), "code": str(code["code"])
    }


@shop_view
def campaign_dry_run(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    try:
        dry = campaign_services.campaign_dry_run(campaign=campaign)
    except SmsError as exc:
        return render_portal(request, "portal/campaign_dry_run.html", {"error": exc.message})
    return render_portal(request, "portal/campaign_dry_run.html", {"dry": dry, "campaign": campaign})


@shop_view
def campaign_progress(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    return render_portal(
        request,
        "portal/campaign_progress.html",
        {
            "campaign": campaign,
            "stats": campaign_statistics(campaign=campaign),
        },
    )


def _run_service(request: HttpRequest, campaign: Campaign, action, success: str, **kwargs) -> HttpResponse:
    try:
        action(campaign=campaign, user=request.user, **kwargs)
    except SmsError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success)
    return redirect("campaigns:detail", request.shop.pk, campaign.pk)


@shop_view
@require_POST
def campaign_schedule(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    form = ScheduleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "请选择发送时间。")
        return redirect("campaigns:detail", request.shop.pk, campaign.pk)
    at = form.cleaned_data["at"] if form.cleaned_data["when"] == "at" else None
    when = timezone.localtime(at).strftime("%Y-%m-%d %H:%M") if at else "立即"
    return _run_service(
        request, campaign, campaign_services.campaign_schedule, f"已排期：{when}发送。", at=at
    )


@shop_view
@require_POST
def campaign_cancel(request: HttpRequest, campaign_id: int) -> HttpResponse:
    return _run_service(
        request, _campaign(request, campaign_id), campaign_services.campaign_cancel, "任务已取消。"
    )


@shop_view
@require_POST
def campaign_stop(request: HttpRequest, campaign_id: int) -> HttpResponse:
    return _run_service(
        request, _campaign(request, campaign_id), campaign_services.campaign_stop, "任务已停止。"
    )


@shop_view
@require_POST
def campaign_send_test(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    return _run_service(
        request,
        campaign,
        campaign_services.campaign_send_test,
        "测试短信已提交发送。",
        phone=request.POST.get("phone", ""),
    )


@shop_view
@require_POST
def test_phone_request(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    try:
        campaign_services.verified_phone_request(
            shop=request.shop, user=request.user, phone=request.POST.get("phone", "")
        )
    except SmsError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "验证码已发送，请在 10 分钟内填写。")
    return redirect("campaigns:detail", request.shop.pk, campaign.pk)


@shop_view
@require_POST
def test_phone_confirm(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    try:
        campaign_services.verified_phone_confirm(
            shop=request.shop,
            user=request.user,
            phone=request.POST.get("phone", ""),
            code=request.POST.get("code", ""),
        )
    except SmsError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "手机号已验证，可以发送测试短信。")
    return redirect("campaigns:detail", request.shop.pk, campaign.pk)


@shop_view
def campaign_export(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    statuses = dict(Message.Status.choices)
    settlements = dict(Message.Settlement.choices)
    rows = (
        (
            m.id,
            m.phone,
            statuses.get(m.status, m.status),
            m.reason,
            m.parts,
            settlements.get(m.settlement, ""),
            m.sent_at,
            m.final_at,
            m.text,
        )
        for m in campaign_messages_for_export(campaign=campaign).iterator(chunk_size=2000)
    )
    header = ["短信ID", "手机号", "状态", "原因", "计费条数", "结算", "提交时间", "回执时间", "内容"]
    return csv_response(f"campaign-{campaign.pk}-messages.csv", header, rows)
