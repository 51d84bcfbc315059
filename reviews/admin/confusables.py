"""Admin of the confusables table: reviewers add, edit and delete rows one at a time (the table
has hundreds of rows, too many for one inline form); every change publishes a new version (like
the word lists), so the checker uses it at once. Published versions are read-only."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from reviews.models.confusables import Confusable, ConfusableRevision
from reviews.services.confusables import confusables_publish


@admin.register(Confusable)
class ConfusableAdmin(admin.ModelAdmin):
    list_display = ["variant", "canonical", "kind", "note"]
    list_filter = ["kind"]
    search_fields = ["variant", "canonical", "note"]
    fields = ["variant", "canonical", "kind", "note"]
    list_per_page = 100

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
class ConfusableRevisionAdmin(admin.ModelAdmin):
    """Published versions, read-only."""

    list_display = ["version", "published_at", "published_by"]
    list_select_related = ["published_by"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
