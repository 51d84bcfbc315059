"""Admin of frequency rules, promotion periods and opt-outs (reviewers maintain them)."""

from __future__ import annotations

from django.contrib import admin
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from campaigns.admin.readonly import ReadOnlyAdmin
from campaigns.models.frequency import (
    FrequencyRule,
    OptOut,
    OptOutEvent,
    OptOutKeyword,
    PromotionPeriod,
    RuleSet,
)
from campaigns.services.frequency import ruleset_touch


class FrequencyRuleInline(admin.TabularInline):
    model = FrequencyRule
    extra = 0
    fields = ["rule_id", "scope", "message_class", "window_days", "limit"]


@admin.register(RuleSet)
class RuleSetAdmin(admin.ModelAdmin):
    """Rules are edited only here, inline, so that every change raises the set's version."""

    list_display = ["name", "is_default", "version", "rule_summary", "updated_at"]
    readonly_fields = ["version", "updated_at"]
    fields = ["name", "is_default", "description", "version", "updated_at"]
    search_fields = ["name"]
    inlines = [FrequencyRuleInline]

    @admin.display(description=_("规则"))
    def rule_summary(self, obj: RuleSet) -> str:
        return "；".join(str(rule) for rule in obj.rules.all())

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("rules")

    def save_related(self, request, form, formsets, change) -> None:
        with transaction.atomic():
            super().save_related(request, form, formsets, change)
            # Decisions record (name, version): any edit of the rules is a new version.
            if change and any(formset.has_changed() for formset in formsets):
                ruleset_touch(ruleset_id=form.instance.pk)

    def has_delete_permission(self, request, obj=None) -> bool:
        # The default set must always exist; a set used by a promotion is protected by the FK.
        if obj is not None and obj.is_default:
            return False
        return super().has_delete_permission(request, obj)


@admin.register(PromotionPeriod)
class PromotionPeriodAdmin(admin.ModelAdmin):
    list_display = ["name", "start_date", "end_date", "ruleset"]
    list_select_related = ["ruleset"]
    date_hierarchy = "start_date"
    search_fields = ["name"]


@admin.register(OptOutKeyword)
class OptOutKeywordAdmin(admin.ModelAdmin):
    list_display = ["keyword", "active"]
    list_editable = ["active"]
    search_fields = ["keyword"]


@admin.register(OptOut)
class OptOutAdmin(ReadOnlyAdmin):
    list_display = ["phone", "shop", "keyword", "source", "created_at"]
    list_filter = ["source"]
    list_select_related = ["shop"]
    search_fields = ["=phone", "shop__name", "=shop__id"]


@admin.register(OptOutEvent)
class OptOutEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "phone", "shop", "keyword", "source", "actor", "consent_note"]
    list_filter = ["kind", "source"]
    list_select_related = ["shop", "actor"]
    search_fields = ["=phone", "shop__name", "=shop__id"]
