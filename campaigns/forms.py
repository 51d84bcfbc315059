"""Forms of the merchant's customer, campaign and opt-out pages: parse input, no business rules."""

from __future__ import annotations

import re
from decimal import Decimal

from django import forms
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign, Coupon, Segment
from campaigns.models.api import ApiScope
from campaigns.models.sending import AbMetric
from campaigns.models.webhooks import WebhookEventType
from campaigns.services.campaigns import AB_KINDS, TEMPLATE_AND_TEXT
from campaigns.services.optouts import CONSENT_NOTE_MIN_LENGTH
from campaigns.services.variants import MAX_HOLDOUT_PERCENT, VARIANT_NAMES, VariantInput
from reviews.models.templates import TemplateOrigin

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
    # Checked against the platform's landing domains by the service (campaigns.services.links).
    landing_url = forms.CharField(
        label=_("落地页链接"),
        max_length=500,
        required=False,
        help_text=_(
            "顾客点击短信里的链接后打开的页面，须以 https:// 开头并属于平台允许的域名；留空则打开店铺落地页。"
        ),
    )


class ShopLandingForm(forms.Form):
    landing_url = forms.CharField(
        label=_("店铺落地页"),
        max_length=500,
        required=False,
        help_text=_("须以 https:// 开头并属于平台允许的域名；留空表示不设置。"),
    )


class PlaceholderSelect(forms.Select):
    """A select whose empty option is a Chinese prompt (请选择…), not Django's "---------";
    disabled when the field is required, so it can be shown but never chosen.

    ``pending`` lists options shown disabled in a group of their own (templates still under
    review: the merchant sees they exist and why they cannot be chosen yet)."""

    pending_label = _("审核中（审核通过后可选）")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.placeholder_disabled = False
        self.pending: list[tuple[object, str]] = []

    def optgroups(self, name, value, attrs=None):
        groups: dict[object, list] = {}
        selected_any = False
        index = 0
        for index, (option_value, label) in enumerate(self.choices):
            key = "" if option_value is None else str(option_value)
            selected = not selected_any and key in value
            selected_any |= selected
            option = self.create_option(name, key, label, selected, index)
            if key == "" and self.placeholder_disabled:
                option["attrs"] = {"disabled": True, **option["attrs"]}
            groups.setdefault(self.group_of(option_value), []).append(option)
        for offset, (option_value, label) in enumerate(self.pending, start=index + 1):
            option = self.create_option(name, str(option_value), label, False, offset)
            option["attrs"] = {"disabled": True, **option["attrs"]}
            groups.setdefault(str(self.pending_label), []).append(option)
        return [(group, options, position) for position, (group, options) in enumerate(groups.items())]

    def group_of(self, option_value) -> object:
        return None


class TemplateSelect(PlaceholderSelect):
    """Templates grouped as 自定义模板 (the shop's, approved) and 官方模板."""

    def group_of(self, option_value) -> object:
        template = getattr(option_value, "instance", None)
        if template is None:
            return None
        if template.origin == TemplateOrigin.OFFICIAL:
            return str(_("官方模板"))
        return str(_("自定义模板（已审核通过）"))


class TemplateChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return template_label(obj)


def template_label(template) -> str:
    origin = _("官方") if template.origin == TemplateOrigin.OFFICIAL else _("自定义")
    return f"{origin}｜{template.name}"


class CouponChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        threshold = (
            _("满{threshold}减{amount}元").format(threshold=f"{obj.threshold.normalize():f}",
                                                 amount=f"{obj.amount.normalize():f}")
            if obj.threshold
            else _("无门槛{amount}元").format(amount=f"{obj.amount.normalize():f}")
        )
        left = obj.total_count - obj.issued_count
        return _("{name}｜{threshold}｜剩余 {left} 张｜{until} 到期").format(
            name=obj.name, threshold=threshold, left=left,
            until=timezone.localtime(obj.valid_until).strftime("%m-%d %H:%M"),
        )


HOLDOUT_RANGE = _("对照组比例应为 0–50 之间的整数。")
TEST_SHARE_RANGE = _("测试人群比例应为 2–100 之间的整数。")
TEST_HOURS_RANGE = _("测试时长应为 1–168 之间的整数（小时）。")
CAMPAIGN_FIELDS = ("name", "segment", "template", "text", "coupon", "products", "days_since_purchase")


class CampaignForm(forms.Form):
    """A campaign's fields for its kind (the same form creates, edits and copies a draft)."""

    name = forms.CharField(label=_("任务名称"), max_length=64)
    segment = forms.ModelChoiceField(
        label=_("目标人群"), queryset=Segment.objects.none(), required=False, empty_label=_("全部客户")
    )
    template = TemplateChoiceField(
        label=_("短信模板"), queryset=None, required=False, empty_label=_("不使用模板，自己填写内容"),
        widget=TemplateSelect,
    )
    text = forms.CharField(
        label=_("短信内容"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("无需输入签名和退订语，系统会自动添加。"),
    )
    coupon = CouponChoiceField(
        label=_("优惠券"), queryset=Coupon.objects.none(), required=False, empty_label=_("请选择优惠券"),
        widget=PlaceholderSelect, error_messages={"required": _("请选择优惠券。")},
        help_text=_("只列出未过期的优惠券。"),
    )
    products = ListField(label=_("复购商品"), required=False, help_text=_("多个商品用逗号分隔"))
    days_since_purchase = forms.IntegerField(
        label=_("距上次购买天数"), min_value=1, max_value=MAX_DAYS, required=False
    )

    def __init__(self, *args, shop, kind: str, templates, pending_templates=(), segment=None, **kwargs):
        """``templates``: the usable ones; ``pending_templates``: the shop's still under review
        (listed disabled); ``segment``: the campaign's own segment even if deleted since (a copy
        of an old campaign keeps its audience instead of silently falling back to 全部客户)."""
        super().__init__(*args, **kwargs)
        self.kind = kind
        segments = Segment.objects.filter(shop=shop, archived_at__isnull=True)
        if segment is not None:
            segments = Segment.objects.filter(shop=shop).filter(
                Q(archived_at__isnull=True) | Q(pk=segment.pk)
            )
        self.fields["segment"].queryset = segments.order_by("-id")
        self.fields["template"].queryset = templates
        self.fields["coupon"].queryset = Coupon.objects.filter(shop=shop, valid_until__gt=timezone.now())
        self.fields["coupon"].widget.placeholder_disabled = True
        self.fields["template"].widget.pending = [
            (t.pk, _("审核中｜{name}").format(name=t.name)) for t in pending_templates
        ]
        if kind == Campaign.Kind.MARKETING:
            for name in ("template", "coupon", "products", "days_since_purchase"):
                del self.fields[name]
            self.fields["text"].required = True
            self.fields["text"].error_messages["required"] = _("请填写短信内容。")
        elif kind == Campaign.Kind.COUPON:
            for name in ("text", "products", "days_since_purchase"):
                del self.fields[name]
            template = self.fields["template"]
            template.required, template.empty_label = True, _("请选择模板")
            template.error_messages["required"] = _("请选择模板。")
            template.widget.placeholder_disabled = True
            template.help_text = _(
                "可选官方模板和审核通过的自定义模板；审核中的模板显示为灰色，审核通过后才能选择。"
            )
            self.fields["coupon"].required = True
        else:
            del self.fields["coupon"]
            self.fields["template"].help_text = _(
                "选择模板则发送模板内容；选择“不使用模板，自己填写内容”则发送下方填写的内容。二者只能选其一。"
            )
            self.fields["text"].help_text = _("不使用模板时填写；无需输入签名和退订语，系统会自动添加。")

        self._add_test_fields(templates)

    def _add_test_fields(self, templates) -> None:
        """对照组 for every kind; the A/B test (版本 B–E beside the campaign's own content, which is
        版本 A) for the kinds that send once (``AB_KINDS``): texts for 短信营销, templates for 定向优惠券."""
        self.fields["holdout_percent"] = forms.IntegerField(
            label=_("对照组比例(%)"), min_value=0, max_value=MAX_HOLDOUT_PERCENT, initial=0, required=False,
            widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
            error_messages=dict.fromkeys(("min_value", "max_value", "invalid"), HOLDOUT_RANGE),
            help_text=_(
                "随机留出这部分客户不发送，用来对比“发了”和“没发”的下单差别，算出短信真正带来的增量收入；"
                "对照组客户收不到短信，也不扣费。填 0 表示不留对照组。"
            ),
        )
        if self.kind not in AB_KINDS:
            return
        self.fields["ab_enabled"] = forms.BooleanField(label=_("启用 A/B 测试"), required=False)
        for name in self.variant_names:
            if self.kind == Campaign.Kind.COUPON:
                field = TemplateChoiceField(
                    label=_("版本 {name} 模板").format(name=name), queryset=templates, required=False,
                    empty_label=_("请选择模板"), widget=TemplateSelect,
                )
            else:
                field = forms.CharField(
                    label=_("版本 {name} 内容").format(name=name), required=False,
                    widget=forms.Textarea(attrs={"rows": 3, "maxlength": 1000}),
                )
            self.fields[f"variant_{name.lower()}"] = field
        self.fields["ab_test_percent"] = forms.IntegerField(
            label=_("测试人群比例(%)"), min_value=2, max_value=100, initial=20, required=False,
            widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
            error_messages=dict.fromkeys(("min_value", "max_value", "invalid"), TEST_SHARE_RANGE),
            help_text=_("先发给这部分客户（各版本平分），其余客户等测试结束后收到胜出版本。"),
        )
        self.fields["ab_test_hours"] = forms.IntegerField(
            label=_("测试时长(小时)"), min_value=1, max_value=168, initial=4, required=False,
            widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
            error_messages=dict.fromkeys(("min_value", "max_value", "invalid"), TEST_HOURS_RANGE),
            help_text=_("从开始发送算起；到时自动选出胜出版本发给其余客户，您也可以提前手动选择。"),
        )
        self.fields["ab_metric"] = forms.ChoiceField(
            label=_("胜出指标"), choices=AbMetric.choices, initial=AbMetric.CLICKS, widget=forms.RadioSelect,
            required=False,
        )

    @property
    def variant_names(self) -> str:
        """The names of the variants the form adds to the campaign's own content (版本 A)."""
        return VARIANT_NAMES[1:]

    @property
    def variant_fields(self) -> list:
        """(name, bound field, findings of the content check) of 版本 B–E, for the template;
        ``variant_findings`` (field name → findings) is set by the view after a refused save."""
        findings = getattr(self, "variant_findings", {})
        names = [(name, f"variant_{name.lower()}") for name in self.variant_names]
        return [(name, self[field], findings.get(field, [])) for name, field in names if field in self.fields]

    @property
    def main_fields(self) -> list:
        """The campaign's own visible fields (the holdout and A/B fields have their own section)."""
        return [field for field in self.visible_fields() if field.name in CAMPAIGN_FIELDS]

    @property
    def ab_open(self) -> bool:
        """Whether the A/B section starts open: enabled, or one of its fields has an error."""
        if "ab_enabled" not in self.fields:
            return False
        names = ["ab_enabled", *(f"variant_{n.lower()}" for n in self.variant_names), "ab_test_percent",
                 "ab_test_hours", "ab_metric"]  # fmt: skip
        return bool(self["ab_enabled"].value()) or any(name in self.errors for name in names)

    @property
    def more_variants_open(self) -> bool:
        """Whether 版本 C–E start shown: one of them has a value or an error."""
        names = [f"variant_{n.lower()}" for n in self.variant_names[1:]]
        return any(name in self.fields and (self[name].value() or name in self.errors) for name in names)

    @property
    def test_fields(self) -> list:
        names = ("ab_test_percent", "ab_test_hours", "ab_metric")
        return [self[name] for name in names if name in self.fields]

    def clean(self):
        data = super().clean()
        typed = (data.get("text") or "").strip()
        if self.kind == Campaign.Kind.REPURCHASE and data.get("template") and typed:
            # Refused rather than guessed: which one would be sent must be the merchant's choice.
            self.add_error("text", TEMPLATE_AND_TEXT)
        if data.get("holdout_percent") is None:
            data["holdout_percent"] = 0
        if data.get("ab_enabled") and not self.extra_variants(data):
            first = f"variant_{self.variant_names[0].lower()}"
            self.add_error(first, _("启用 A/B 测试时，请至少填写版本 B（版本 A 就是上方的内容）。")
                           if self.kind != Campaign.Kind.COUPON else
                           _("启用 A/B 测试时，请至少为版本 B 选择一个模板（版本 A 就是上方选择的模板）。"))
        return data

    def extra_variants(self, data: dict) -> list[tuple[str, object]]:
        """(name, text or template) of the filled 版本 B–E, in order."""
        filled = []
        for name in self.variant_names:
            value = data.get(f"variant_{name.lower()}")
            if isinstance(value, str):
                value = value.strip()
            if value:
                filled.append((name, value))
        return filled

    def campaign_fields(self) -> dict:
        """The campaign's own fields (``campaign_create`` / ``campaign_update``)."""
        return {k: v for k, v in self.cleaned_data.items() if k in CAMPAIGN_FIELDS}

    def test_settings(self) -> dict:
        """The holdout share and the A/B test (``campaign_holdout_set`` / ``campaign_variants_set``):
        ``variants`` is empty without an A/B test; with one, 版本 A is the campaign's own content
        and the filled 版本 B–E follow it (renamed in order: B, D filled → A, B, C)."""
        data = self.cleaned_data
        result = {"holdout_percent": data.get("holdout_percent") or 0, "variants": []}
        if self.kind not in AB_KINDS or not data.get("ab_enabled"):
            return result
        own = VariantInput(text=(data.get("text") or "").strip(), template=data.get("template"))
        if self.kind == Campaign.Kind.COUPON:
            extra = [VariantInput(template=template) for _name, template in self.extra_variants(data)]
        else:
            extra = [VariantInput(text=text) for _name, text in self.extra_variants(data)]
        result["variants"] = [own, *extra]
        result["test_percent"] = data.get("ab_test_percent") or 20
        result["test_hours"] = data.get("ab_test_hours") or 4
        result["metric"] = data.get("ab_metric") or AbMetric.CLICKS
        return result


def campaign_initial(campaign: Campaign, *, copy: bool = False) -> dict:
    """The form's values for a campaign: to edit the draft, or to start a copy of it."""
    name = campaign.name
    if copy:
        suffix = str(_("（副本）"))
        name = name[: 64 - len(suffix)] + suffix
    return {
        "name": name,
        "segment": campaign.segment_id,
        "template": campaign.template_id,
        "text": campaign.text,
        "coupon": campaign.coupon_id,
        "products": "，".join(campaign.products or []),
        "days_since_purchase": campaign.days_since_purchase,
        **test_initial(campaign),
    }


def test_initial(campaign: Campaign) -> dict:
    """The holdout and A/B fields of a campaign: 版本 A is its own content, B–E its other variants."""
    initial = {
        "holdout_percent": campaign.holdout_percent,
        "ab_test_percent": campaign.ab_test_percent,
        "ab_test_hours": campaign.ab_test_hours,
        "ab_metric": campaign.ab_metric,
    }
    if campaign.pk is None or campaign.kind not in AB_KINDS:
        return initial
    variants = list(campaign.variants.order_by("position"))
    initial["ab_enabled"] = len(variants) >= 2
    for name, variant in zip(VARIANT_NAMES[1:], variants[1:], strict=False):
        coupon = campaign.kind == Campaign.Kind.COUPON
        initial[f"variant_{name.lower()}"] = variant.template_id if coupon else variant.text
    return initial


class ScheduleForm(forms.Form):
    WHEN = [("now", _("立即发送")), ("at", _("定时发送"))]
    when = forms.ChoiceField(label=_("发送时间"), choices=WHEN, widget=forms.RadioSelect, initial="now")
    at = forms.DateTimeField(
        label=_("定时"),
        required=False,
        widget=DateTimeLocalInput(),
        help_text=_("营销短信只在 08:00–21:00 发出，其他时间会顺延到下一个 08:00。"),
    )

    def clean(self):
        data = super().clean()
        if data.get("when") == "at" and not data.get("at"):
            self.add_error("at", _("请选择发送时间。"))
        return data

    @property
    def send_at(self):
        """The chosen time (None: now), once valid."""
        return self.cleaned_data["at"] if self.cleaned_data.get("when") == "at" else None


class ScheduleConfirmForm(ScheduleForm):
    """The confirmation's POST: the choice again and the figures the merchant saw (signed)."""

    when = forms.ChoiceField(choices=ScheduleForm.WHEN, widget=forms.HiddenInput)
    at = forms.DateTimeField(required=False, widget=forms.HiddenInput)
    figures = forms.CharField(widget=forms.HiddenInput, error_messages={"required": _("请先试算并确认。")})


class TestPhoneForm(forms.Form):
    phone = forms.CharField(
        label=_("手机号"),
        max_length=20,
        widget=forms.TextInput(
            attrs={"inputmode": "tel", "autocomplete": "tel", "placeholder": "13800138000"}
        ),
        help_text=_("填写您本人的手机号，我们会发送 6 位验证码。"),
    )


class VerifyCodeForm(forms.Form):
    """The code of the phone the code was sent to (carried, not typed again)."""

    phone = forms.CharField(max_length=20, widget=forms.HiddenInput)
    code = forms.CharField(
        label=_("验证码"),
        max_length=6,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code"}),
    )


class WebhookEndpointForm(forms.Form):
    """A new webhook endpoint (Webhook 接收地址): its URL, events and a note."""

    url = forms.CharField(
        label=_("接收地址"),
        max_length=500,
        help_text=_("贵方系统接收推送的网址，须以 https:// 开头，且不能是内网地址。"),
        widget=forms.TextInput(attrs={"placeholder": "https://erp.example.com/hooks", "inputmode": "url"}),
    )
    events = forms.MultipleChoiceField(
        label=_("订阅的事件"),
        choices=WebhookEventType.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("请至少选择一种事件。")},
    )
    description = forms.CharField(label=_("备注"), max_length=100, required=False)


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


class ApiKeyForm(forms.Form):
    """A new API key of the open API (开放接口): its name and scopes."""

    name = forms.CharField(
        label=_("密钥名称"), max_length=64, help_text=_("便于识别用途，如“订单同步”“会员营销”。")
    )
    scopes = forms.MultipleChoiceField(
        label=_("权限范围"),
        choices=[
            (ApiScope.CUSTOMERS.value, _("客户：推送客户")),
            (ApiScope.ORDERS.value, _("订单：推送订单")),
            (ApiScope.CAMPAIGNS.value, _("营销任务：创建、试算、排期、取消")),
            (ApiScope.REPORTS.value, _("报表：效果报告和短信明细")),
            (ApiScope.WEBHOOKS.value, _("Webhook：管理推送地址")),
        ],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("请至少选择一项权限范围。")},
        help_text=_("只勾选对方系统需要的范围；查询短信账户不需要任何范围。"),
    )
