"""Forms of the merchant portal: they parse input; services decide."""

from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.utils.translation import gettext_lazy as _

from smsmarketing.services.accounts import MAX_GRANT_UNITS, MAX_LOW_BALANCE_THRESHOLD, MAX_REASON_LENGTH

# A date filter wider than this is almost surely a typo in the year.
MAX_FILTER_DAYS = 3660


class ActivationForm(forms.Form):
    accept_terms = forms.BooleanField(
        label=_("我已阅读并同意《短信服务协议》"),
        required=False,  # the service refuses with a clear message; the form only parses
    )


class ThresholdForm(forms.Form):
    threshold = forms.IntegerField(
        label=_("余量提醒阈值（条）"),
        min_value=0,
        max_value=MAX_LOW_BALANCE_THRESHOLD,
        help_text=_("可用余量低于此值时，概览页会提醒您充值；填 0 关闭提醒。"),
    )


class RechargeForm(forms.Form):
    package = forms.CharField(label=_("套餐"), max_length=20)
    # The purchase's idempotency token and the fingerprint of the figures confirmed.
    token = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)
    quote = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)


class DateRangeForm(forms.Form):
    start = forms.DateField(
        label=_("开始日期"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(label=_("结束日期"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        start: date | None = data.get("start")
        end: date | None = data.get("end")
        if start and end:
            if start > end:
                raise forms.ValidationError(_("开始日期不能晚于结束日期。"))
            if end - start > timedelta(days=MAX_FILTER_DAYS):
                raise forms.ValidationError(_("查询范围不能超过 10 年。"))
        return data


class GrantForm(forms.Form):
    """The admin's intermediate page of the "grant units" action."""

    units = forms.IntegerField(label=_("发放条数"), min_value=1, max_value=MAX_GRANT_UNITS)
    reason = forms.CharField(
        label=_("发放原因"),
        max_length=MAX_REASON_LENGTH,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text=_("必填，记录在账户流水中，商家可在发放记录中看到。"),
    )


# --- members (成员管理) ------------------------------------------------------

_ROLE_CHOICES = [("operator", _("运营")), ("analyst", _("只读")), ("owner", _("店主"))]


class MemberInviteForm(forms.Form):
    """The owner's invite form; ``smsmarketing.services.members.member_invite`` decides."""

    username = forms.CharField(
        label=_("用户名"),
        max_length=150,
        help_text=_("对方登录商家后台用的用户名。"),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    role = forms.ChoiceField(
        label=_("角色"),
        choices=_ROLE_CHOICES,
        initial="operator",
        help_text=_("运营：客户、模板、签名和营销任务；只读：查看和导出；店主：全部权限。"),
    )
    create = forms.BooleanField(label=_("此用户还没有账号：新建账号"), required=False)
    password = forms.CharField(
        label=_("初始密码"),
        required=False,
        max_length=128,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("仅新建账号时填写；请当面或通过安全渠道告诉对方。"),
    )


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(label=_("角色"), choices=_ROLE_CHOICES)


class SpendLimitsForm(forms.Form):
    """The owner's spending limits (消费上限, docs/SPEND_LIMITS.md): empty = 不限."""

    daily = forms.IntegerField(
        label=_("每日消费上限（条）"), required=False, min_value=1, help_text=_("留空表示不限。")
    )
    monthly = forms.IntegerField(
        label=_("每月消费上限（条）"),
        required=False,
        min_value=1,
        help_text=_("留空表示不限；不能小于每日上限。"),
    )
