"""The reviewer's decision form (approve, or reject with a required reason)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from reviews.models.review import RejectReason


class ReviewDecisionForm(forms.Form):
    APPROVE = "approve"
    REJECT = "reject"

    decision = forms.ChoiceField(
        label=_("审核结果"),
        choices=[(APPROVE, _("通过")), (REJECT, _("驳回"))],
        widget=forms.RadioSelect,
    )
    reason_code = forms.ChoiceField(
        label=_("驳回原因"), choices=[("", "---------"), *RejectReason.choices], required=False
    )
    reason_text = forms.CharField(
        label=_("驳回说明"), widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=500,
        help_text=_("商家会看到驳回原因和说明；原因为“其他”时必填。"),
    )

    def clean(self):
        data = super().clean()
        if data.get("decision") == self.REJECT:
            if not data.get("reason_code"):
                self.add_error("reason_code", _("驳回时必须选择驳回原因。"))
            elif data["reason_code"] == RejectReason.OTHER and not (data.get("reason_text") or "").strip():
                self.add_error("reason_text", _("驳回原因为“其他”时必须填写说明。"))
        return data
