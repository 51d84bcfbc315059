"""Merchant pages of campaigns (营销任务): the list, a campaign's page and what it offers
(dry run, schedule, cancel, stop, test SMS, progress, export). Writing one (new, edit, copy)
is in ``editor``."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from campaigns.forms import ScheduleForm, TestPhoneForm, VerifyCodeForm
from campaigns.models import Campaign, Message
from campaigns.selectors import (
    campaign_messages_for_export,
    campaign_report,
    campaign_statistics,
    campaign_test_messages,
    campaigns_progress,
    shop_campaigns,
    shop_verified_phones,
)
from campaigns.services import campaigns as campaign_services
from smsmarketing.csvexport import csv_response
from smsmarketing.errors import SmsError
from smsmarketing.portal import render_portal, shop_view

LIST_SIZE = 100  # the newest campaigns the list shows


def _campaign(request: HttpRequest, campaign_id: int) -> Campaign:
    campaign = get_object_or_404(
        Campaign.objects.select_related("segment", "coupon", "template"),
        pk=campaign_id,
        shop=request.shop,
    )
    campaign.shop = request.shop  # the same row, loaded with its category by shop_view
    return campaign


@shop_view
def campaign_list(request: HttpRequest) -> HttpResponse:
    listed = list(shop_campaigns(shop=request.shop)[:LIST_SIZE])
    progress = campaigns_progress(campaigns=listed)
    return render_portal(
        request,
        "portal/campaigns.html",
        {
            "nav": "campaigns",
            "rows": [(campaign, progress[campaign.pk]) for campaign in listed],
            "kinds": Campaign.Kind.choices,
        },
    )


@shop_view
def campaign_detail(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
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
            "schedule_form": ScheduleForm() if campaign.status == Campaign.Status.DRAFT else None,
            "test_phone_form": TestPhoneForm(),
            "verify_code_form": VerifyCodeForm(),
            "verified_phones": shop_verified_phones(shop=request.shop),
            "test_messages": campaign_test_messages(campaign=campaign),
        },
    )


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
