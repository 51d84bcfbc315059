"""Merchant pages of campaigns (营销任务): the list, a campaign's page and what it offers
(dry run, schedule, cancel, stop, test SMS, progress, export). Writing one (new, edit, copy)
is in ``editor``."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campaigns.forms import ScheduleConfirmForm, ScheduleForm, TestPhoneForm, VerifyCodeForm
from campaigns.models import Campaign, CampaignRun, CampaignVariant
from campaigns.models.orders import Order
from campaigns.models.sending import AbMetric
from campaigns.phones import normalize_phone
from campaigns.results import (
    campaign_clicks_for_export,
    campaign_orders_for_export,
    campaign_results_for_page,
    campaign_results_forget,
    campaigns_money,
    shop_price_per_part,
    yuan_of,
)
from campaigns.selectors import (
    MESSAGE_EXPORT_HEADER,
    campaign_archived_months,
    campaign_messages_for_export,
    campaign_next_run,
    campaign_report,
    campaign_runs,
    campaign_sent_text,
    campaign_statistics,
    campaign_test_messages,
    campaigns_progress,
    message_export_rows,
    shop_campaigns,
    shop_test_phones,
)
from campaigns.services import campaigns as campaign_services
from campaigns.services import scheduling
from campaigns.services.ab_testing import ab_test_ends_at
from campaigns.services.attribution import attribution_windows
from campaigns.services.campaigns import AB_KINDS
from campaigns.services.variants import ab_winner_pick
from smsmarketing.csvexport import csv_response
from smsmarketing.errors import SmsError
from smsmarketing.permissions import Capability, role_allows
from smsmarketing.portal import render_portal, shop_view

LIST_PAGE_SIZE = 20  # campaigns a page of the list shows, newest first (the rows are the page's cost)


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
    page = Paginator(shop_campaigns(shop=request.shop), LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    listed = list(page)
    progress = campaigns_progress(campaigns=listed)
    settled = {c.pk for c in listed if _settled(c, progress[c.pk])}
    money = campaigns_money(shop_id=request.shop.pk, campaigns=listed, settled=settled)
    return render_portal(
        request,
        "portal/campaigns.html",
        {
            "nav": "campaigns",
            "rows": [(campaign, progress[campaign.pk], money[campaign.pk]) for campaign in listed],
            "page": page,
            "kinds": Campaign.Kind.choices,
            "windows": attribution_windows(),
        },
    )


def _settled(campaign: Campaign, stats) -> bool:
    """Over, nothing waiting, every message sent has its final report: its charges are final."""
    if campaign.status not in {Campaign.Status.COMPLETED, Campaign.Status.STOPPED, Campaign.Status.CANCELLED}:
        return False
    return not stats.waiting and stats.sent == stats.delivered + stats.failed + stats.expired


# What each state of a campaign offers (the page shows only what fits it).
S = Campaign.Status
BEFORE_SEND = {S.DRAFT, S.SCHEDULED}  # a dry run still tells what a send would do
WITH_STATISTICS = {S.SCHEDULED, S.RUNNING, S.COMPLETED, S.STOPPED}
STARTED = {S.RUNNING, S.COMPLETED, S.STOPPED}
DEMO_CODE_KEY = "campaigns-demo-verify-code"  # session: {"phone", "code"} (demo set-ups only)


def _detail(shop_id: int, campaign_id: int, anchor: str = "") -> str:
    return reverse("campaigns:detail", args=[shop_id, campaign_id]) + (f"#{anchor}" if anchor else "")


@shop_view
def campaign_detail(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    status, daily = campaign.status, campaign.kind == Campaign.Kind.REPURCHASE
    runs = campaign_runs(campaign=campaign, counts=daily) if status in STARTED else []
    sent_signature = next((r.run.signature for r in runs if r.run.signature), "")
    sent_text = campaign_sent_text(runs=[r.run for r in runs]) if runs else ""
    preview, preview_parts = sent_text, 0
    if not sent_text:  # what was sent is shown as it was; else the message as it would go out
        try:
            preview, preview_parts = campaign_services.campaign_preview(
                campaign=campaign, signature=sent_signature or None
            )
        except SmsError as exc:
            preview, preview_parts = exc.message, 0
    report = campaign_report(campaign=campaign) if status in WITH_STATISTICS else None
    results, results_kept = None, False
    if status in STARTED:
        recipients = report.stats.planned + report.stats.holdout if report else 0
        results, results_kept = campaign_results_for_page(campaign=campaign, recipients=recipients)
    # Dry run, scheduling and test SMS are 运营's and 店主's; 只读 sees the campaign without them.
    can_operate = role_allows(request.shop_role, Capability.OPERATE)
    testable = can_operate and (status in BEFORE_SEND or (daily and status == S.RUNNING))
    names = _variant_names(campaign, results)
    context = {
        "nav": "campaigns",
        "campaign": campaign,
        "daily": daily,
        "preview": preview,
        "preview_parts": preview_parts,
        "sent_signature": sent_signature,
        "sent_text": sent_text,
        "dry_runnable": can_operate and status in BEFORE_SEND,
        "operate_hint": not can_operate and status in BEFORE_SEND,
        "stats": report.stats if report else None,
        "timeline": report.timeline if report else None,
        "runs": runs if daily else [],
        "archived_months": campaign_archived_months(runs=[r.run for r in runs]),
        "next_run": campaign_next_run(campaign=campaign) if daily else None,
        "schedule_form": ScheduleForm() if status == S.DRAFT and can_operate else None,
        "test_messages": campaign_test_messages(campaign=campaign),
        "testable": testable,
        "results": results,
        "results_kept": results_kept,
        "variant_names": names,
        "variants": list(campaign.variants.select_related("template").order_by("position")) if names else [],
        "holdout_groups": [(_("发送组"), results.sent_group), (_("对照组（未发送）"), results.holdout_group)]
        if results
        else [],
        "ab_test": _ab_test_state(campaign, results) if results and results.variants else None,
    }
    if testable:
        context.update(_test_phone_context(request))
    return render_portal(request, "portal/campaign_detail.html", context)


def _variant_names(campaign: Campaign, results) -> list[str]:
    """The A/B test's versions (A, B, …) the page names; read with the results once started."""
    if results is not None:
        return [v.name for v in results.variants]
    if campaign.kind not in AB_KINDS:
        return []
    return list(campaign.variants.order_by("position").values_list("name", flat=True))


def _ab_test_state(campaign: Campaign, results) -> dict:
    """The A/B test on the campaign's page: its end, the winner, and whether the merchant may
    still pick one (running, no winner yet)."""
    winner = next((v for v in results.variants if v.winner), None)
    best = max(v.rate for v in results.variants)
    return {
        "leader": next(v.name for v in results.variants if v.rate == best),  # ties: lowest position
        "ends_at": ab_test_ends_at(campaign=campaign),
        "winner": winner,
        "won_by": campaign.variants.filter(won_at__isnull=False).values_list("won_by", flat=True).first(),
        "pickable": winner is None and campaign.status == S.RUNNING,
        "metric": campaign.get_ab_metric_display(),
        "by_orders": campaign.ab_metric == AbMetric.ORDERS,
    }


@shop_view(requires=Capability.OPERATE)
def campaign_ab_pick(request: HttpRequest, campaign_id: int, variant_id: int) -> HttpResponse:
    """GET: what picking this variant as the winner sends, to how many, at what cost (the dry
    run's rest with this variant's parts); POST: pick it (``ab_winner_pick``)."""
    campaign = _campaign(request, campaign_id)
    variants = CampaignVariant.objects.select_related("template")
    variant = get_object_or_404(variants, pk=variant_id, campaign=campaign)
    if request.method == "POST":
        try:
            ab_winner_pick(campaign=campaign, user=request.user, variant=variant)
            campaign_results_forget(campaign_id=campaign.pk)
        except SmsError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request, _("已选择版本 {name} 为胜出版本，正在发给其余客户。").format(name=variant.name)
            )
        return redirect(_detail(request.shop.pk, campaign.pk, "ab-test"))
    if campaign.status != S.RUNNING or campaign.variants.filter(won_at__isnull=False).exists():
        messages.error(request, _("A/B 测试已结束，胜出版本已确定。"))
        return redirect(_detail(request.shop.pk, campaign.pk, "ab-test"))
    try:
        dry = campaign_services.campaign_dry_run(campaign=campaign)
    except SmsError as exc:
        messages.error(request, exc.message)
        return redirect(_detail(request.shop.pk, campaign.pk, "ab-test"))
    parts = dry.ab_rest_parts[variant.position] if variant.position < len(dry.ab_rest_parts) else 0
    price = shop_price_per_part(shop_id=campaign.shop_id)
    content = campaign_services.variant_content(campaign=campaign, variant=variant)
    try:
        preview, _parts = campaign_services.campaign_preview(campaign=content)
    except SmsError as exc:
        preview = exc.message
    return render_portal(
        request,
        "portal/campaign_ab_pick.html",
        {
            "nav": "campaigns",
            "campaign": campaign,
            "variant": variant,
            "preview": preview,
            "rest": dry.ab_rest_sendable,
            "parts": parts,
            "cost": yuan_of(parts * price),
            "price": price,
            "balance": dry.balance,
            "ends_at": ab_test_ends_at(campaign=campaign),
        },
    )


def _test_phone_context(request: HttpRequest) -> dict:
    """The test SMS section: the verified phones, and the phone awaiting its code (typed once)."""
    since = timezone.now() - campaign_services.VERIFY_CODE_TTL
    phones = shop_test_phones(shop=request.shop, pending_since=since)
    demo = request.session.get(DEMO_CODE_KEY) if scheduling.verification_code_shown() else None
    new_phone = request.GET.get("verify") == "new"
    pending = None if new_phone else phones.pending
    return {
        "verified_phones": phones.verified,
        "pending_phone": pending,
        "verify_open": bool(pending) or new_phone or not phones.verified,
        "test_phone_form": TestPhoneForm(),
        "verify_code_form": VerifyCodeForm(initial={"phone": pending}) if pending else None,
        "demo_code": demo["code"] if demo and pending and demo.get("phone") == pending else "",
    }


@shop_view(requires=Capability.OPERATE)
def campaign_dry_run(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    # A scheduled campaign is tried at the time it will go out; a draft now.
    at = campaign.scheduled_at if campaign.status == S.SCHEDULED else None
    if at is not None and at < timezone.now():
        at = None
    try:
        dry = campaign_services.campaign_dry_run(campaign=campaign, at=at)
    except SmsError as exc:
        return render_portal(request, "portal/campaign_dry_run.html", {"error": exc.message})
    return render_portal(
        request,
        "portal/campaign_dry_run.html",
        {
            "dry": dry,
            "campaign": campaign,
            "sendable_again": scheduling.sendable_again(dry),
            "ab_plan": _ab_plan(campaign, dry),
        },
    )


def _ab_plan(campaign: Campaign, dry) -> dict | None:
    """An A/B campaign's two sends in a dry run: the test share now (each their variant) and the
    winner to the rest after the test, with their parts and cost at the shop's price per part
    (the rest's at most: the winner is not known yet). None without variants."""
    if not dry.ab_rest_parts:
        return None
    price = shop_price_per_part(shop_id=campaign.shop_id)
    return {
        "variants": len(dry.ab_rest_parts),
        "percent": campaign.ab_test_percent,
        "hours": campaign.ab_test_hours,
        "metric": campaign.get_ab_metric_display(),
        "test": dry.ab_test_sendable,
        "test_parts": dry.ab_test_parts,
        "test_cost": yuan_of(dry.ab_test_parts * price),
        "rest": dry.ab_rest_sendable,
        "rest_parts": dry.ab_rest_parts_most,
        "rest_cost": yuan_of(dry.ab_rest_parts_most * price),
        "price": price,
    }


@shop_view
def campaign_progress(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    return render_portal(
        request,
        "portal/campaign_progress.html",
        {
            "campaign": campaign,
            "daily": campaign.kind == Campaign.Kind.REPURCHASE,
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


def _first_error(form) -> str:
    for errors in form.errors.values():
        return errors[0]
    return _("请选择发送时间。")


@shop_view(requires=Capability.OPERATE)
def campaign_schedule(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """GET: the confirmation (the dry run at the real send time); POST: schedule as confirmed."""
    campaign = _campaign(request, campaign_id)
    shop = request.shop
    if request.method == "POST":
        form = ScheduleConfirmForm(request.POST)
        if not form.is_valid():
            messages.error(request, _first_error(form))
            return redirect(_detail(shop.pk, campaign.pk, "schedule"))
        try:
            scheduled, check = scheduling.campaign_schedule_confirmed(
                campaign=campaign, user=request.user, at=form.send_at, figures=form.cleaned_data["figures"]
            )
        except scheduling.CampaignFiguresStale as exc:
            # Back to the confirmation, with the figures as they are now.
            messages.error(request, exc.message)
            query = urlencode({"when": form.cleaned_data["when"], "at": request.POST.get("at", "")})
            return redirect(reverse("campaigns:schedule", args=[shop.pk, campaign.pk]) + "?" + query)
        except SmsError as exc:
            messages.error(request, exc.message)
            return redirect(_detail(shop.pk, campaign.pk))
        when = scheduling.send_time_label(check.send_at)
        if check.daily:
            text = _("已排期：每天执行，首次在 {when} 发送。").format(when=when)
        elif check.deferred:
            text = _("已排期：所选时间在免打扰时段，将于 {when} 发送。").format(when=when)
        elif check.requested is None:
            text = _("已开始发送（{when}）。").format(when=when)
        else:
            text = _("已排期：将于 {when} 发送。").format(when=when)
        messages.success(request, text)
        return redirect(_detail(shop.pk, scheduled.pk))
    form = ScheduleForm(request.GET)
    if not form.is_valid():
        messages.error(request, _first_error(form))
        return redirect(_detail(shop.pk, campaign.pk, "schedule"))
    try:
        check = scheduling.campaign_schedule_check(campaign=campaign, at=form.send_at)
    except SmsError as exc:
        messages.error(request, exc.message)
        return redirect(_detail(shop.pk, campaign.pk))
    confirm = ScheduleConfirmForm(
        initial={"when": form.cleaned_data["when"], "at": form.data.get("at", ""), "figures": check.token}
    )
    return render_portal(
        request,
        "portal/campaign_schedule_confirm.html",
        {
            "nav": "campaigns",
            "campaign": campaign,
            "check": check,
            "dry": check.dry,
            "sendable_again": check.sendable_again,
            "confirm_form": confirm,
            "ab_plan": _ab_plan(campaign, check.dry),
        },
    )


def _release_confirmation(request: HttpRequest, campaign: Campaign, action: str) -> HttpResponse:
    return render_portal(
        request,
        "portal/campaign_release_confirm.html",
        {
            "nav": "campaigns",
            "campaign": campaign,
            "action": action,
            "release": scheduling.campaign_release_preview(campaign=campaign),
        },
    )


@shop_view(requires=Capability.OPERATE)
def campaign_cancel(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """GET: what cancelling releases, and the confirmation; POST: cancel."""
    campaign = _campaign(request, campaign_id)
    if request.method != "POST":
        if not campaign.cancellable:
            messages.error(request, _("任务已开始发送，不能取消。"))
            return redirect(_detail(request.shop.pk, campaign.pk))
        return _release_confirmation(request, campaign, "cancel")
    return _run_service(
        request,
        campaign,
        campaign_services.campaign_cancel,
        _("任务已取消：不会再发送，也不会扣费。"),
    )


@shop_view(requires=Capability.OPERATE)
def campaign_stop(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """GET: what stopping a repurchase reminder does, and the confirmation; POST: stop."""
    campaign = _campaign(request, campaign_id)
    if request.method != "POST":
        if campaign.status not in {S.SCHEDULED, S.RUNNING}:
            messages.error(request, _("任务未在运行，无需停止。"))
            return redirect(_detail(request.shop.pk, campaign.pk))
        return _release_confirmation(request, campaign, "stop")
    return _run_service(
        request,
        campaign,
        campaign_services.campaign_stop,
        _("已停止每日提醒：不再生成新的发送名单。"),
    )


@shop_view(requires=Capability.OPERATE)
@require_POST
def campaign_send_test(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    try:
        campaign_services.campaign_send_test(
            campaign=campaign, user=request.user, phone=request.POST.get("phone", "")
        )
    except SmsError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("测试短信已提交发送。"))
    return redirect(_detail(request.shop.pk, campaign.pk, "test-sms"))


@shop_view(requires=Capability.OPERATE)
@require_POST
def test_phone_request(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(request, campaign_id)
    phone = request.POST.get("phone", "")
    try:
        code = campaign_services.verified_phone_request(shop=request.shop, user=request.user, phone=phone)
    except SmsError as exc:
        messages.error(request, exc.message)
        detail = reverse("campaigns:detail", args=[request.shop.pk, campaign.pk])
        return redirect(detail + "?verify=new#test-sms")
    if scheduling.verification_code_shown():
        # Demo and development only: the code reaches no phone, the page shows it.
        request.session[DEMO_CODE_KEY] = {"phone": normalize_phone(phone), "code": code}
    messages.success(request, _("验证码已发送，请在 10 分钟内填写。"))
    return redirect(_detail(request.shop.pk, campaign.pk, "test-sms"))


@shop_view(requires=Capability.OPERATE)
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
        request.session.pop(DEMO_CODE_KEY, None)
        messages.success(request, _("手机号已验证，可以发送测试短信。"))
    return redirect(_detail(request.shop.pk, campaign.pk, "test-sms"))


@shop_view
def campaign_export(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """Every message of the campaign; the test SMS marked (类型), which the statistics leave out."""
    campaign = _campaign(request, campaign_id)
    messages = campaign_messages_for_export(campaign=campaign).iterator(chunk_size=2000)
    return csv_response(
        f"campaign-{campaign.pk}-messages.csv", MESSAGE_EXPORT_HEADER, message_export_rows(messages)
    )


CLICK_METHODS = {"GET": _("打开链接"), "HEAD": _("预取（不计入）")}


@shop_view
def campaign_export_clicks(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """Every request of the campaign's links: people's taps and previewers' fetches (真人点击 否)."""
    campaign = _campaign(request, campaign_id)
    kinds = dict(CampaignRun.Kind.choices)
    clicks = campaign_clicks_for_export(campaign=campaign).iterator(chunk_size=2000)
    rows = (
        (at, phone, message, kinds.get(kind, kind), variant or "", human, CLICK_METHODS.get(how, how), agent)
        for at, phone, message, kind, variant, human, how, agent in clicks
    )
    header = ["点击时间", "手机号", "短信ID", "类型", "版本", "真人点击", "方式", "浏览器标识"]
    return csv_response(f"campaign-{campaign.pk}-clicks.csv", header, rows)


@shop_view
def campaign_export_orders(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The orders attributed to the campaign, with the touch each was attributed to."""
    campaign = _campaign(request, campaign_id)
    touches = dict(Order.Touch.choices)
    orders = campaign_orders_for_export(campaign=campaign).iterator(chunk_size=2000)
    rows = (
        (order_no, phone, amount, placed_at, coupon, message, touches.get(touch, touch), touch_at)
        for order_no, phone, amount, placed_at, coupon, message, touch, touch_at in orders
    )
    header = ["订单号", "手机号", "金额(元)", "下单时间", "优惠券码", "归因短信ID", "归因方式", "触达时间"]
    return csv_response(f"campaign-{campaign.pk}-orders.csv", header, rows)
