"""Admin of the confusables table: reviewers add, edit and delete rows one at a time (the table
has hundreds of rows, too many for one inline form); every change publishes a new version (like
the word lists), so the checker uses it at once. Published versions are read-only."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _

from reviews.models.confusables import Confusable, ConfusableRevision
from reviews.policy.checker import check_content
from reviews.policy.confusables import published_confusables
from reviews.policy.highlight import marked_segments
from reviews.policy.text import evasion_view
from reviews.policy.variables import variable_specs
from reviews.services.confusables import confusable_check, confusables_publish
from smsmarketing.admin import ReadOnlyAdmin

TRY_MAX_CHARS = 500  # a message's longest text
# The rules whose matching the table changes (the others read characters as typed).
MATCHED_RULES = {"TPL-ADLAW", "TPL-REVIEW-BAIT", "TPL-OFFSITE", "TPL-IMPERSONATE", "TPL-LINK"}


class ConfusableTryForm(forms.Form):
    text = forms.CharField(
        label=_("短信内容"), max_length=TRY_MAX_CHARS, strip=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
    )


class ConfusableForm(forms.ModelForm):
    class Meta:
        model = Confusable
        fields = ["variant", "canonical", "kind", "note"]

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            confusable_check(
                variant=cleaned.get("variant", ""), canonical=cleaned.get("canonical", ""),
                kind=cleaned.get("kind", ""),
            )
        return cleaned


@admin.register(Confusable)
class ConfusableAdmin(admin.ModelAdmin):
    form = ConfusableForm
    list_display = ["variant", "canonical", "kind", "note"]
    list_filter = ["kind"]
    search_fields = ["variant", "canonical", "note"]
    fields = ["variant", "canonical", "kind", "note"]
    list_per_page = 100

    def get_urls(self):
        try_url = path(
            "try/", self.admin_site.admin_view(self.try_view), name="reviews_confusable_try"
        )
        return [try_url, *super().get_urls()]

    def try_view(self, request: HttpRequest) -> HttpResponse:
        """How the matcher reads a text with the published table, and what the word-list, link and
        number rules find in it (nothing is saved)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = ConfusableTryForm(request.GET or None)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta, "title": _("试一试：系统如何读这段文字"), "form": form,
        }
        if form.is_valid():
            text = form.cleaned_data["text"]
            table = published_confusables()
            view = evasion_view(text, table)
            result = check_content(kind="template", text=text)
            findings = [f for f in result.findings if f.rule in MATCHED_RULES]
            context.update({
                "checked": True, "table_version": table.version, "read_as": view.text.replace("\ufffc", "□"),
                "spelled": view.pinyin.text if view.pinyin else "",
                "marked": marked_segments(text, findings, variable_specs()), "findings": findings,
            })
        return TemplateResponse(request, "admin/reviews/confusable_try.html", context)

    def _publish(self, request) -> None:
        revision = confusables_publish(by=request.user)
        if revision is not None:
            self.message_user(
                request,
                _("已发布形近字/谐音字表新版本 v%(v)d，立即对新的检查生效。") % {"v": revision.version},
                messages.SUCCESS,
            )

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        self._publish(request)  # same transaction as the save (the admin's change view is atomic)

    def delete_model(self, request, obj) -> None:
        super().delete_model(request, obj)
        self._publish(request)

    def delete_queryset(self, request, queryset) -> None:
        super().delete_queryset(request, queryset)
        self._publish(request)


@admin.register(ConfusableRevision)
class ConfusableRevisionAdmin(ReadOnlyAdmin):
    """Published versions, read-only."""

    list_display = ["version", "published_at", "published_by"]
    list_select_related = ["published_by"]
