"""Admin of campaigns, runs, messages and delivery reports: an operator's read-only view
(every state change goes through the services, never through an edit form here)."""

from __future__ import annotations

from django.contrib import admin

from campaigns.admin.readonly import ReadOnlyAdmin
from campaigns.models import Campaign, CampaignRun, CampaignVariant, DeliveryReport, Message, VerifiedPhone


class RunInline(admin.TabularInline):
    model = CampaignRun
    extra = 0
    fields = (
        "kind", "phase", "run_date", "status", "batches_planned", "plan_cursor", "planned_at", "finished_at",
    )  # fmt: skip
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class VariantInline(admin.TabularInline):
    """An A/B campaign's variants and the winner (set by the merchant or the test's end, never here)."""

    model = CampaignVariant
    extra = 0
    fields = ("name", "text", "template", "won_at", "won_by")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Campaign)
class CampaignAdmin(ReadOnlyAdmin):
    list_display = ("name", "shop", "kind", "status", "scheduled_at", "started_at", "finished_at")
    list_filter = ("kind", "status")
    search_fields = ("name", "shop__name")
    inlines = [VariantInline, RunInline]
    readonly_fields = ("seed",)
    list_select_related = ("shop",)


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "phone",
        "campaign",
        "status",
        "reason",
        "parts",
        "settlement",
        "sent_at",
        "final_at",
    )
    list_filter = ("status", "settlement", "reason")
    search_fields = ("phone",)
    list_select_related = ("campaign",)
    show_full_result_count = False


@admin.register(DeliveryReport)
class DeliveryReportAdmin(ReadOnlyAdmin):
    list_display = ("message_id", "status", "at", "applied", "received_at")
    list_filter = ("status", "applied")
    search_fields = ("message__phone",)
    show_full_result_count = False


@admin.register(VerifiedPhone)
class VerifiedPhoneAdmin(ReadOnlyAdmin):
    list_display = ("phone", "shop", "verified_at")
    exclude = ("code_hash",)
