"""Admin of message templates: the reviewers' workbench for custom templates, official templates."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from reviews.admin.teach import RuleTeachForm, teach_proposal, teach_segments
from reviews.admin.workbench import ReviewWorkbenchAdmin, VariablesOncePerPage
from reviews.choices import MessageClass
from reviews.errors import ReviewError
from reviews.models.templates import TEMPLATE_USE_CHOICES, MessageTemplate, OfficialTemplate, TemplateOrigin
from reviews.policy.highlight import marked_segments
from reviews.policy.length import full_message, signature_prefix
from reviews.policy.variables import readable, render_examples, variable_specs
from reviews.selectors import live_signature, template_live_version
from reviews.services.templates import (
    TemplateRefused,
    official_template_create,
    template_approve,
    template_bulk_approve,
    template_check,
    template_current_findings,
    template_reject,
)
from smsmarketing.errors import SmsError


def message_preview(template: MessageTemplate) -> str:
    """The message as received, variables filled with their examples."""
    live = live_signature(shop=template.shop) if template.shop_id else None
    specs = variable_specs()
    own = {"shop_name": template.shop.name[: specs["shop_name"].max_length]} if (
        template.shop_id and "shop_name" in specs) else {}
    body = render_examples(text=template.text, specs=specs, values=own)
    signature = live.text if live is not None else signature_prefix(None)[1:-1]
    return full_message(signature=signature, body=body, message_class=template.message_class)


@admin.register(MessageTemplate)
class MessageTemplateAdmin(VariablesOncePerPage, ReviewWorkbenchAdmin):
    """The queue of custom templates: same workbench as signatures, text shown with findings marked."""

    search_fields = ["name", "text", "shop__name", "=shop__id"]

    def review_summary_text(self, obj) -> str:
        return f"{obj.name} v{obj.version}：{readable(text=obj.text, specs=self.page_variables())}"

    def review_marked_text(self, obj, findings):
        return marked_segments(obj.text, findings, variable_specs())

    def get_queryset(self, request):
        return super().get_queryset(request).filter(origin=TemplateOrigin.CUSTOM)

    def item_findings(self, obj):
        # Recomputed with today's word lists and the shop's live signature.
        return template_current_findings(obj)

    def review_context(self, obj):
        rows = super().review_context(obj)
        result = template_check(shop=obj.shop, text=obj.text, use=obj.use, message_class=obj.message_class)
        live = template_live_version(template=obj)
        rows += [
            (_("模板"), f"{obj.name}（v{obj.version}）"),
            (_("用途 / 短信类型"), f"{obj.get_use_display()} / {obj.get_message_class_display()}"),
            (_("用户收到的短信（示例）"), message_preview(obj)),
            (_("字数 / 计费条数"), _("%(n)d 字 / %(p)d 条（变量按最大长度计）") % {
                "n": result.length, "p": result.parts}),
            (_("当前生效版本"), readable(text=live.text, specs=variable_specs())
             if live is not None and live.pk != obj.pk else _("（无）")),
        ]
        return rows

    def approve_item(self, *, item, reviewer):
        try:
            return template_approve(template=item, reviewer=reviewer)
        except ReviewError:
            raise
        except SmsError as exc:  # e.g. the shop's category became restricted
            raise ReviewError(exc.message, rule=exc.rule) from exc

    def reject_item(self, *, item, reviewer, reason_code, reason_text):
        return template_reject(
            template=item, reviewer=reviewer, reason_code=reason_code, reason_text=reason_text
        )

    def bulk_approve_items(self, *, items, reviewer):
        return template_bulk_approve(templates=items, reviewer=reviewer)

    # A reviewer who rejects may select the offending span and propose it as a rule.
    teach_form_class = RuleTeachForm

    def teach_context(self, obj):
        return {"teach_segments": teach_segments(obj.text, variable_specs())}

    def teach_item(self, *, item, reviewer, form):
        return teach_proposal(item=item, reviewer=reviewer, form=form)


class OfficialTemplateForm(forms.ModelForm):
    use = forms.ChoiceField(label=_("用途"), choices=TEMPLATE_USE_CHOICES)
    message_class = forms.ChoiceField(label=_("短信类型"), choices=MessageClass.choices)

    class Meta:
        model = OfficialTemplate
        fields = ["name", "use", "message_class", "text"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        result = template_check(
            shop=None, text=data["text"], use=data["use"], message_class=data["message_class"]
        )
        blocking = [f for f in result.findings if f.severity == "block"]
        if blocking:
            raise forms.ValidationError([f"{f.rule}：{f.message}{f.hint}" for f in blocking])
        return data


@admin.register(OfficialTemplate)
class OfficialTemplateAdmin(admin.ModelAdmin):
    """The platform writes official templates here; they pass the checker and are usable at once."""

    form = OfficialTemplateForm
    list_display = ["id", "name", "use", "message_class", "text", "decided_at"]
    list_filter = ["use"]
    search_fields = ["name", "text"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(origin=TemplateOrigin.OFFICIAL)

    def get_readonly_fields(self, request, obj=None):
        # An official template in use never changes under a campaign: publish a new one instead.
        return ["name", "use", "message_class", "text"] if obj is not None else []

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        try:
            created = official_template_create(
                name=form.cleaned_data["name"], use=form.cleaned_data["use"],
                message_class=form.cleaned_data["message_class"], text=form.cleaned_data["text"],
                by=request.user,
            )
        except TemplateRefused as exc:  # the form's clean ran the same check; a race with a list edit
            self.message_user(request, exc.message, messages.ERROR)
            return
        obj.pk = created.pk
