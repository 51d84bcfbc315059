"""Merchant pages of message templates: the list, the editor (check-as-you-type), withdraw."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from reviews.choices import ContentUse, MessageClass
from reviews.forms import TemplateForm
from reviews.models.review import ReviewState
from reviews.models.templates import MessageTemplate, TemplateOrigin
from reviews.policy.highlight import marked_segments
from reviews.policy.length import MAX_MESSAGE_LENGTH, MAX_SIGNATURE_CHARS, chars_left_in_part, full_message
from reviews.policy.variables import render_examples, tokens, variable_specs
from reviews.selectors import live_signature, official_templates, shop_templates, template_live_version
from reviews.services.review import review_withdraw_token
from reviews.services.templates import TemplateRefused, template_check, template_submit, template_withdraw
from smsmarketing.errors import SmsError
from smsmarketing.permissions import Capability
from smsmarketing.portal import render_portal, shop_view

PLACEHOLDER_SIGNATURE = "店铺签名"


def shop_example_values(*, shop, specs: dict) -> dict[str, str]:
    """Example values a shop's previews use instead of the platform's examples: its own name
    (a merchant never sees another shop's name in an example)."""
    spec = specs.get("shop_name")
    return {"shop_name": shop.name[: spec.max_length]} if spec is not None else {}


@shop_view
def template_list(request: HttpRequest) -> HttpResponse:
    """Official templates (use, copy) and the shop's templates with their versions and states."""
    shop = request.shop
    specs = variable_specs()
    families: dict = {}
    for version in shop_templates(shop=shop):
        families.setdefault(version.lineage, []).append(version)
    mine = [
        {"latest": versions[0], "live": next((v for v in versions if v.state == "approved"), None),
         "versions": versions}
        for versions in families.values()
    ]
    mine.sort(key=lambda family: family["latest"].submitted_at, reverse=True)
    own = shop_example_values(shop=shop, specs=specs)
    officials = [
        {"template": t, "preview": render_examples(text=t.text, specs=specs, values=own)}
        for t in official_templates()
    ]
    return render_portal(request, "portal/templates.html", {"nav": "templates", "mine": mine,
                                                            "officials": officials, "specs": specs})


def _own_template(shop, template_id: int) -> MessageTemplate:
    template = MessageTemplate.objects.filter(pk=template_id, shop_id=shop.pk).first()
    if template is None:
        raise Http404(_("模板不存在"))
    return template


@shop_view(requires=Capability.OPERATE)
def template_new(request: HttpRequest) -> HttpResponse:
    """Write a new custom template (optionally starting from a copy of an official one)."""
    initial = {}
    copy_id = request.GET.get("copy")
    if copy_id and copy_id.isdigit():
        source = official_templates().filter(pk=int(copy_id)).first()
        if source is not None:
            initial = {"name": source.name, "use": source.use, "message_class": source.message_class,
                       "text": source.text}
    return _editor(request, previous=None, initial=initial)


@shop_view(requires=Capability.OPERATE)
def template_edit(request: HttpRequest, template_id: int) -> HttpResponse:
    """Edit a template: the result is a new version, reviewed again (the approved one stays in use)."""
    previous = _own_template(request.shop, template_id)
    initial = {"name": previous.name, "use": previous.use, "message_class": previous.message_class,
               "text": previous.text}
    return _editor(request, previous=previous, initial=initial)


def _editor(request: HttpRequest, *, previous: MessageTemplate | None, initial: dict) -> HttpResponse:
    shop = request.shop
    form = TemplateForm(request.POST or None, initial=initial)
    refused: TemplateRefused | None = None
    if request.method == "POST" and form.is_valid():
        try:
            template = template_submit(shop=shop, by=request.user, previous=previous, **form.cleaned_data)
        except TemplateRefused as exc:
            refused = exc
            if not exc.findings:
                form.add_error(None, exc.message)
        except SmsError as exc:
            form.add_error(None, exc.message)
        else:
            text = _("模板“%(name)s”已提交审核，预计 3 个工作日内完成。") % {"name": template.name}
            messages.success(request, text)
            return redirect("reviews:templates", shop_id=shop.pk)
    values = form.data if form.is_bound else {**{k: f.initial for k, f in form.fields.items()}, **initial}
    context = {
        "nav": "templates", "form": form, "previous": previous, "refused": refused,
        **editor_state(shop=shop, text=values.get("text") or "", use=values.get("use") or ContentUse.COUPON,
                       message_class=values.get("message_class") or MessageClass.MARKETING),
    }
    status = 400 if request.method == "POST" else 200
    return render_portal(request, "portal/template_editor.html", context, status=status)


def editor_state(*, shop, text: str, use: str, message_class: str) -> dict:
    """What the editor shows for a text: findings marked in it, the preview, length, parts, picker."""
    if use not in ContentUse.values:
        use = ContentUse.COUPON
    if message_class not in MessageClass.values:
        message_class = MessageClass.MARKETING
    result = template_check(shop=shop, text=text, use=use, message_class=message_class)
    live = live_signature(shop=shop)
    specs = variable_specs()
    own = shop_example_values(shop=shop, specs=specs)
    preview = full_message(
        signature=live.text if live is not None else PLACEHOLDER_SIGNATURE,
        body=render_examples(text=text, specs=specs, values=own), message_class=message_class,
    )
    used = dict.fromkeys(token.name for token in tokens(text) if token.name in specs)
    return {
        "check": result,
        "blocking": not result.ok,
        "marked_text": marked_segments(text, result.findings, specs),
        "used_variables": [
            {"label": spec.label, "token": spec.token, "example": own.get(spec.name, spec.example)}
            for spec in (specs[name] for name in used)
        ],
        "preview": preview,
        "live_signature": live,
        "max_signature_chars": MAX_SIGNATURE_CHARS,
        "chars_left": chars_left_in_part(result.length),
        "max_length": MAX_MESSAGE_LENGTH,
        "over_limit": result.length > MAX_MESSAGE_LENGTH,
        "picker": [spec for spec in specs.values() if use in spec.uses],
        "has_text": bool(text.strip()),
    }


@shop_view(requires=Capability.OPERATE)
@require_POST
def template_check_view(request: HttpRequest) -> HttpResponse:
    """htmx: re-check the text as the merchant types; returns the findings/preview panel."""
    state = editor_state(
        shop=request.shop, text=request.POST.get("text", ""), use=request.POST.get("use", ""),
        message_class=request.POST.get("message_class", ""),
    )
    # purpose=campaign: the 短信营销 editor (campaigns) reuses this check without 提交审核.
    purpose = request.POST.get("purpose", "")
    return render(request, "portal/template_check.html", {"shop": request.shop, "purpose": purpose, **state})


@shop_view(requires=Capability.OPERATE)
def template_withdraw_view(request: HttpRequest, template_id: int) -> HttpResponse:
    """撤回: a GET shows what a withdrawal does (this pending version is withdrawn, the approved
    version stays usable); the POST carries the token of the version shown."""
    shop = request.shop
    template = _own_template(shop, template_id)
    if template.origin != TemplateOrigin.CUSTOM:
        raise Http404(_("模板不存在"))
    if request.method == "POST":
        try:
            template_withdraw(shop=shop, template=template, by=request.user,
                              token=request.POST.get("token", ""))
        except SmsError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("已撤回模板“%(name)s”的待审核版本。") % {"name": template.name})
        return redirect("reviews:templates", shop_id=shop.pk)
    if template.state != ReviewState.PENDING:
        messages.info(request, _("模板“%(name)s”没有审核中的版本，无需撤回。") % {"name": template.name})
        return redirect("reviews:templates", shop_id=shop.pk)
    context = {"nav": "templates", "template": template, "live": template_live_version(template=template),
               "token": review_withdraw_token(template), "specs": variable_specs()}
    return render_portal(request, "portal/template_withdraw.html", context)
