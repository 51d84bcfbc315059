"""Merchant forms of the reviews app (thin: services hold the rules)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class SignatureForm(forms.Form):
    text = forms.CharField(
        label=_("新签名"),
        max_length=32,
        help_text=_("2–9 个汉字，或不超过 18 个字母/数字（汉字计 2、字母数字计 1，合计不超过 18）；"
                    "只能包含汉字、字母和数字。【】由系统自动添加。"),
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": _("例如：爱丽丝服饰")}),
    )
