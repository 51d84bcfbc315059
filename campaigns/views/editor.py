"""Writing a campaign (营销任务): a new draft, editing a draft, copying any campaign into a new
draft. The 短信营销 text is checked as it is typed by the template editor's own check
(``reviews:template_check`` and its panel), so both editors show the same findings, preview and
counters."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _

from campaigns.forms import CampaignForm, campaign_initial
from campaigns.models import Campaign
from campaigns.selectors import pending_templates
from campaigns.services import campaigns as campaign_services
from reviews.choices import ContentUse, MessageClass
from reviews.selectors import usable_templates
from reviews.views.templates import editor_state
from smsmarketing.errors import SmsError
from smsmarketing.portal import render_portal, shop_view

# What the live check of a 短信营销 text is told (the template editor's check, for this use).
CHECK_USE, CHECK_CLASS = ContentUse.MARKETING, MessageClass.MARKETING


def _campaign(request: HttpRequest, campaign_id: int) -> Campaign:
    campaign = get_object_or_404(
        Campaign.objects.select_related("segment", "coupon", "template"), pk=campaign_id, shop=request.shop
    )
    campaign.shop = request.shop  # the same row, loaded with its category by shop_view
    return campaign


@shop_view
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


@shop_view
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


@shop_view
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
    if request.method == "POST" and form.is_valid():
        try:
            if campaign is None:
                saved = campaign_services.campaign_create(
                    shop=shop, user=request.user, kind=kind, **form.cleaned_data
                )
            else:
                saved = campaign_services.campaign_update(
                    campaign=campaign, user=request.user, **form.cleaned_data
                )
        except campaign_services.CampaignContentRejected:
            # The findings themselves are in the check panel beside the text, with their hints.
            form.add_error("text", _("短信内容未通过检查，请按“内容检查”中的提示修改。"))
        except SmsError as exc:
            form.add_error(None, exc.message)
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
    if kind == Campaign.Kind.MARKETING:
        text = form.data.get("text", "") if form.is_bound else initial.get("text") or ""
        context.update(editor_state(shop=shop, text=text, use=CHECK_USE, message_class=CHECK_CLASS))
        context.update(check_use=CHECK_USE, check_class=CHECK_CLASS)
    status = 400 if request.method == "POST" else 200
    return render_portal(request, "portal/campaign_new.html", context, status=status)


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
