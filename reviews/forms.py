"""Merchant forms of the reviews app (thin adapters: the services validate again)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from reviews.choices import ContentUse, MessageClass
from reviews.models.templates import TEMPLATE_USE_CHOICES
from reviews.services.templates import NAME_MAX_LENGTH

TEXT_MAX_LENGTH = 1000  # far above the 500-character message limit: TPL-LENGTH explains the rest


class SignatureForm(forms.Form):
    text = forms.CharField(
        label=_("新签名"),
        max_length=32,
        help_text=_("2–9 个汉字，或不超过 18 个字母/数字（汉字计 2、字母数字计 1，合计不超过 18）；"
                    "只能包含汉字、字母和数字。【】由系统自动添加。"),
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": _("例如：爱丽丝服饰")}),
    )


class TemplateForm(forms.Form):
    name = forms.CharField(label=_("模板名称"), max_length=NAME_MAX_LENGTH,
                           widget=forms.TextInput(attrs={"placeholder": _("例如：双11优惠券提醒")}))
    use = forms.ChoiceField(label=_("用途"), choices=TEMPLATE_USE_CHOICES, initial=ContentUse.COUPON)
    message_class = forms.ChoiceField(label=_("短信类型"), choices=MessageClass.choices,
                                      initial=MessageClass.MARKETING)
    text = forms.CharField(
        label=_("模板内容"), max_length=TEXT_MAX_LENGTH, strip=False,
        widget=forms.Textarea(
            attrs={"rows": 6, "placeholder": _("输入短信正文，变量请点击下方“插入变量”添加")}
        ),
        help_text=_("无需填写签名和退订语，系统会自动添加。"),
    )
