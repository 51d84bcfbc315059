"""Admin of the short links' policy (landing domains, previewer agents) and the clicks (read only)."""

from __future__ import annotations

import re

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from campaigns.admin.readonly import ReadOnlyAdmin
from campaigns.models.links import Click, LandingDomain, LinkPreviewerAgent
from campaigns.services.links import link_policy_forget


class PolicyAdmin(admin.ModelAdmin):
    """Each web process re-reads the policy within a minute (campaigns.services.links.POLICY_SECONDS);
    the process that saved the change drops its copy at once."""

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        link_policy_forget()

    def delete_model(self, request, obj) -> None:
        super().delete_model(request, obj)
        link_policy_forget()

    def delete_queryset(self, request, queryset) -> None:
        super().delete_queryset(request, queryset)
        link_policy_forget()


# A host name: labels of letters, digits and hyphens, with at least one dot (jd.com, shop.example.cn).
HOST_NAME = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")


class LandingDomainForm(forms.ModelForm):
    class Meta:
        model = LandingDomain
        fields = ["domain", "subdomains", "note"]

    def clean_domain(self) -> str:
        """Lower case, no surrounding dots or spaces, so that the unique check sees the stored form."""
        domain = self.cleaned_data["domain"].strip().lower().strip(".")
        if not HOST_NAME.match(domain):
            raise forms.ValidationError(_("请填写域名，例如 jd.com（不含 https://、路径和端口）。"))
        return domain


@admin.register(LandingDomain)
class LandingDomainAdmin(PolicyAdmin):
    form = LandingDomainForm
    list_display = ["domain", "subdomains", "note"]
    search_fields = ["domain", "note"]


@admin.register(LinkPreviewerAgent)
class LinkPreviewerAgentAdmin(PolicyAdmin):
    list_display = ["pattern", "note", "created_at"]
    search_fields = ["pattern", "note"]


@admin.register(Click)
class ClickAdmin(ReadOnlyAdmin):
    list_display = ["at", "campaign_id", "shop_id", "masked_phone", "method", "human", "user_agent"]
    list_filter = ["human", "method"]
    search_fields = ["=campaign_id", "=shop_id", "=phone"]
    date_hierarchy = "at"
    # The message is shown as its id: a select of every message would load millions of rows.
    raw_id_fields = ["message"]
    show_full_result_count = False

    @admin.display(description=_("手机号"))
    def masked_phone(self, obj: Click) -> str:
        return f"{obj.phone[:3]}****{obj.phone[-4:]}" if len(obj.phone) == 11 else obj.phone
