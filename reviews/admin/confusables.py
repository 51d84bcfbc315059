"""Admin of the confusables table: reviewers edit variants inline; a save that changes them
publishes a new version (like the word lists)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from reviews.models.confusables import Confusable, ConfusableRevision, ConfusableTable
from reviews.services.confusables import confusables_publish


class ConfusableInline(admin.TabularInline):
    model = Confusable
    extra = 3
    fields = ["variant", "canonical", "kind", "note"]


@admin.register(ConfusableTable)
class ConfusableTableAdmin(admin.ModelAdmin):
    """One table; every save that changes its rows publishes a new version."""

    list_display = ["name", "version", "entry_count", "updated_at"]
    readonly_fields = ["version", "updated_at"]
    fields = ["name", "version", "updated_at"]
    inlines = [ConfusableInline]

    @admin.display(description=_("条目数"))
    def entry_count(self, obj) -> int:
        return obj.entries.count()

    def has_add_permission(self, request) -> bool:
        return False  # the single table is created by a migration

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_related(self, request, form, formsets, change) -> None:
        super().save_related(request, form, formsets, change)
        revision = confusables_publish(by=request.user)
        if revision is not None:
            self.message_user(
                request,
                _("已发布形近字/谐音字表新版本 v%(v)d，立即对新的检查生效。") % {"v": revision.version},
                messages.SUCCESS,
            )


@admin.register(ConfusableRevision)
class ConfusableRevisionAdmin(admin.ModelAdmin):
    """Published versions, read-only."""

    list_display = ["table", "version", "published_at", "published_by"]
    list_select_related = ["table", "published_by"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
