"""Writing a campaign (营销任务): a new draft, editing a draft, copying any campaign into a new
draft. The 短信营销 text is checked as it is typed by the template editor's own check
(``reviews:template_check`` and its panel), so both editors show the same findings, preview and
counters."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campaigns.forms import CampaignForm, campaign_initial
from campaigns.models import Campaign
from campaigns.selectors import pending_templates
from campaigns.services import campaigns as campaign_services
from campaigns.services.campaigns import AB_KINDS
from campaigns.services.variants import VARIANT_NAMES, campaign_holdout_set, campaign_variants_set
from reviews.choices import ContentUse, MessageClass
from reviews.selectors import usable_templates
from reviews.views.templates import editor_state
from smsmarketing.errors import SmsError
from smsmarketing.permissions import Capability
from smsmarketing.portal import render_portal, shop_view

# What the live check of a 短信营销 text is told (the template editor's check, for this use).
CHECK_USE, CHECK_CLASS = ContentUse.MARKETING, MessageClass.MARKETING


def _campaign(request: HttpRequest, campaign_id: int) -> Campaign:
    campaign = get_object_or_404(
        Campaign.objects.select_related("segment", "coupon", "template"), pk=campaign_id, shop=request.shop
    )
    campaign.shop = request.shop  # the same row, loaded with its category by shop_view
    return campaign


@shop_view(requires=Capability.OPERATE)
def campaign_new(request: HttpRequest) -> HttpResponse:
    """A new draft of ``?kind=``; ``?template=<id>`` preselects a template (the templates
    page's 使用), ``?coupon=<id>`` a coupon (the coupons page)."""
    kind = request.GET.get("kind", Campaign.Kind.MARKETING)
    if kind not in Campaign.Kind.values:
        raise Http404
    initial = {}
    for name in ("template", "coupon"):
        value = request.GET.get(name, "")
        if value.isdigit():
            initial[name] = int(value)
    return _editor(request, kind=kind, initial=initial)


@shop_view(requires=Capability.OPERATE)
def campaign_edit(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """Change a draft; anything else is refused (copy it into a new draft instead)."""
    campaign = _campaign(request, campaign_id)
    if campaign.status != Campaign.Status.DRAFT:
        messages.error(
            request,
            _("“{status}”的任务不能修改，只有草稿可以修改。如需调整，请点击“复制为新任务”。").format(
                status=campaign.get_status_display()
            ),
        )
        return redirect("campaigns:detail", request.shop.pk, campaign.pk)
    return _editor(request, kind=campaign.kind, campaign=campaign, initial=campaign_initial(campaign))


@shop_view(requires=Capability.OPERATE)
def campaign_copy(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """A new draft prefilled from any campaign of the shop (saved only when submitted)."""
    source = _campaign(request, campaign_id)
    return _editor(request, kind=source.kind, source=source, initial=campaign_initial(source, copy=True))


def _editor(
    request: HttpRequest,
    *,
    kind: str,
    initial: dict,
    campaign: Campaign | None = None,
    source: Campaign | None = None,
) -> HttpResponse:
    shop = request.shop
    origin = campaign or source
    form = CampaignForm(
        request.POST or None,
        initial=initial,
        shop=shop,
        kind=kind,
        templates=usable_templates(shop=shop, use=kind),
        pending_templates=pending_templates(shop=shop, use=kind),
        segment=origin.segment if origin is not None else None,
    )
    variant_findings: dict[str, list] = {}
    if request.method == "POST" and form.is_valid():
        try:
            saved = _save(request, form, kind=kind, campaign=campaign)
        except campaign_services.CampaignContentRejected as exc:
            field = _variant_field(form, exc.message)
            if field is None:
                # The findings themselves are in the check panel beside the text, with their hints.
                form.add_error("text", _("短信内容未通过检查，请按“内容检查”中的提示修改。"))
            else:  # a variant's findings under its own text, as the check panel shows them
                form.add_error(field, _("此版本未通过内容检查，请按下方提示修改。"))
                variant_findings[field] = exc.findings
        except SmsError as exc:
            field = _variant_field(form, exc.message)
            form.add_error(field, exc.message)
        else:
            if campaign is None:
                messages.success(request, _("任务已创建，请预览并试算后排期发送。"))
            else:
                messages.success(request, _("草稿已保存。"))
            return redirect("campaigns:detail", shop.pk, saved.pk)
    context = {
        "nav": "campaigns",
        "form": form,
        "kind": kind,
        "kind_label": Campaign.Kind(kind).label,
        "campaign": campaign,
        "source": source,
        "missing": _missing(form, initial),
    }
    form.variant_findings = variant_findings
    if kind == Campaign.Kind.MARKETING:
        text = form.data.get("text", "") if form.is_bound else initial.get("text") or ""
        context.update(editor_state(shop=shop, text=text, use=CHECK_USE, message_class=CHECK_CLASS))
        context.update(check_use=CHECK_USE, check_class=CHECK_CLASS)
    status = 400 if request.method == "POST" else 200
    return render_portal(request, "portal/campaign_new.html", context, status=status)


@shop_view(requires=Capability.OPERATE)
@require_POST
def variant_check(request: HttpRequest) -> HttpResponse:
    """htmx: the content check of one A/B variant's text as it is typed (版本 B–E of a 短信营销
    draft): the same check, findings and counts as the campaign's own text."""
    names = [f"variant_{name.lower()}" for name in VARIANT_NAMES[1:]]
    field = next((name for name in names if name in request.POST), None)
    if field is None:
        return HttpResponse(status=400)
    text = request.POST.get(field, "")
    state = editor_state(shop=request.shop, text=text, use=CHECK_USE, message_class=CHECK_CLASS)
    return render(request, "portal/campaign_variant_check.html", {"field": field, **state})


def _save(request: HttpRequest, form: CampaignForm, *, kind: str, campaign: Campaign | None) -> Campaign:
    """The campaign, then its holdout share and A/B test, in one transaction: a variant refused
    by the content rules leaves nothing written (not a new draft without its test)."""
    shop, user = request.shop, request.user
    fields, tests = form.campaign_fields(), form.test_settings()
    with transaction.atomic():
        if campaign is None:
            saved = campaign_services.campaign_create(shop=shop, user=user, kind=kind, **fields)
        else:
            saved = campaign_services.campaign_update(campaign=campaign, user=user, **fields)
        saved.shop = shop
        saved = campaign_holdout_set(campaign=saved, user=user, percent=tests["holdout_percent"])
        if kind in AB_KINDS:
            settings = {k: tests[k] for k in ("test_percent", "test_hours", "metric") if k in tests}
            campaign_variants_set(campaign=saved, user=user, variants=tests["variants"], **settings)
    return saved


def _variant_field(form: CampaignForm, message: str) -> str | None:
    """The form field of the variant an error names (``版本 B：…``), or None. The service names
    the variants A, B, … in the order given: A the campaign's own content, then the filled ones."""
    if "ab_enabled" not in form.fields or not form.is_valid():
        return None
    own = "template" if form.kind == Campaign.Kind.COUPON else "text"
    fields = [own] + [f"variant_{name.lower()}" for name, _value in form.extra_variants(form.cleaned_data)]
    for name, field in zip(VARIANT_NAMES, fields, strict=False):
        if message.startswith(_("版本 {name}").format(name=name) + "："):
            return field
    return None


def _missing(form: CampaignForm, initial: dict) -> list[str]:
    """What a copy (or a preselected template) asked for that can no longer be chosen, said
    rather than silently replaced by the select's first option."""
    if form.is_bound:
        return []
    missing = []
    field = form.fields.get("template")
    if field is not None and initial.get("template") is not None:
        if not field.queryset.filter(pk=initial["template"]).exists():
            pending = any(str(value) == str(initial["template"]) for value, _label in field.widget.pending)
            missing.append(
                _("所选模板正在审核中，审核通过后才能使用；请先选择其他模板。")
                if pending
                else _("所选模板已不可用（未审核通过、已被新版本替换或不适用于此类任务），请重新选择模板。")
            )
    field = form.fields.get("coupon")
    if field is not None and initial.get("coupon") is not None:
        if not field.queryset.filter(pk=initial["coupon"]).exists():
            missing.append(_("所选优惠券已过期或不存在，请重新选择优惠券。"))
    return missing
