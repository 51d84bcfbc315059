"""Forms of the merchant's customer, campaign and opt-out pages: parse input, no business rules."""

from __future__ import annotations

import re
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign, Coupon, Segment
from campaigns.services.optouts import CONSENT_NOTE_MIN_LENGTH

_LIST_SPLIT = re.compile(r"[,，、;；|\s]+")
# Bounds of numbers a merchant types: beyond them a value is a typo, and the columns
# (integer, numeric(14,2)) would overflow with a database error instead of a form error.
MAX_DAYS = 3650
MAX_PURCHASES = 1_000_000
MAX_MONEY = Decimal("999999999.99")


class ListField(forms.CharField):
    """Comma (or 、 ; |) separated words → a list."""

    def to_python(self, value):
        text = super().to_python(value)
        return [item for item in _LIST_SPLIT.split(text or "") if item]


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label=_("CSV 文件"),
        help_text=_("UTF-8 或 GBK 编码；表头：手机号、姓名、标签、商品、购买时间、金额。"),
    )


class SegmentForm(forms.Form):
    name = forms.CharField(label=_("人群名称"), max_length=64)
    tags_any = ListField(label=_("包含任一标签"), required=False, help_text=_("多个标签用逗号分隔"))
    purchased_within_days = forms.IntegerField(
        label=_("最近 N 天内购买过"), min_value=1, max_value=MAX_DAYS, required=False
    )
    not_purchased_within_days = forms.IntegerField(
        label=_("N 天内未购买"), min_value=1, max_value=MAX_DAYS, required=False
    )
    min_purchases = forms.IntegerField(
        label=_("购买次数不少于"), min_value=0, max_value=MAX_PURCHASES, required=False
    )
    max_purchases = forms.IntegerField(
        label=_("购买次数不多于"), min_value=0, max_value=MAX_PURCHASES, required=False
    )
    min_total_spent = forms.DecimalField(
        label=_("累计消费不低于(元)"), min_value=0, max_value=MAX_MONEY, decimal_places=2, required=False
    )
    max_total_spent = forms.DecimalField(
        label=_("累计消费不高于(元)"), min_value=0, max_value=MAX_MONEY, decimal_places=2, required=False
    )
    products_any = ListField(label=_("购买过任一商品"), required=False, help_text=_("多个商品用逗号分隔"))


class CouponForm(forms.Form):
    name = forms.CharField(label=_("优惠券名称"), max_length=64)
    amount = forms.DecimalField(label=_("面额(元)"), min_value=0.01, max_value=MAX_MONEY, decimal_places=2)
    threshold = forms.DecimalField(
        label=_("使用门槛：满(元)"), min_value=0, max_value=MAX_MONEY, decimal_places=2, initial=0
    )
    valid_from = forms.DateTimeField(label=_("有效期开始"), widget=DateTimeLocalInput())
    valid_until = forms.DateTimeField(label=_("有效期结束"), widget=DateTimeLocalInput())
    total_count = forms.IntegerField(label=_("发放总量(张)"), min_value=1)


class CampaignForm(forms.Form):
    name = forms.CharField(label=_("任务名称"), max_length=64)
    segment = forms.ModelChoiceField(
        label=_("目标人群"), queryset=Segment.objects.none(), required=False, empty_label=_("全部客户")
    )
    template = forms.ModelChoiceField(
        label=_("短信模板"), queryset=None, required=False, empty_label=_("不使用模板")
    )
    text = forms.CharField(
        label=_("短信内容"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("无需输入签名和退订语，系统会自动添加。"),
    )
    coupon = forms.ModelChoiceField(label=_("优惠券"), queryset=Coupon.objects.none(), required=False)
    products = ListField(label=_("复购商品"), required=False, help_text=_("多个商品用逗号分隔"))
    days_since_purchase = forms.IntegerField(
        label=_("距上次购买天数"), min_value=1, max_value=MAX_DAYS, required=False
    )

    def __init__(self, *args, shop, kind: str, templates, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.fields["segment"].queryset = Segment.objects.filter(shop=shop)
        self.fields["template"].queryset = templates
        self.fields["coupon"].queryset = Coupon.objects.filter(shop=shop)
        if kind == Campaign.Kind.MARKETING:
            for name in ("template", "coupon", "products", "days_since_purchase"):
                del self.fields[name]
        elif kind == Campaign.Kind.COUPON:
            for name in ("text", "products", "days_since_purchase"):
                del self.fields[name]
            self.fields["template"].required = True
            self.fields["coupon"].required = True
        else:
            del self.fields["coupon"]


class ScheduleForm(forms.Form):
    WHEN = [("now", _("立即发送")), ("at", _("定时发送"))]
    when = forms.ChoiceField(label=_("发送时间"), choices=WHEN, widget=forms.RadioSelect, initial="now")
    at = forms.DateTimeField(label=_("定时"), required=False, widget=DateTimeLocalInput())

    def clean(self):
        data = super().clean()
        if data.get("when") == "at" and not data.get("at"):
            self.add_error("at", _("请选择发送时间。"))
        return data


class TestPhoneForm(forms.Form):
    phone = forms.CharField(label=_("手机号"), max_length=20)


class VerifyCodeForm(forms.Form):
    phone = forms.CharField(label=_("手机号"), max_length=20)
    code = forms.CharField(label=_("验证码"), max_length=6)


class ResubscribeForm(forms.Form):
    phone = forms.CharField(label=_("手机号"), max_length=32)
    consent_note = forms.CharField(
        label=_("客户同意记录"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "写明客户何时、以何种方式同意再次接收短信，例如“2026-03-01 客服电话录音，客户同意”。"
        ),
        min_length=CONSENT_NOTE_MIN_LENGTH,
        max_length=500,
    )
    confirm = forms.BooleanField(
        label=_("我确认已取得该客户的明确同意"),
        error_messages={"required": _("请确认已取得客户同意。")},
    )
