"""Admin of customer imports: the jobs merchants started, for operators to follow (read only:
only the import services write them)."""

from __future__ import annotations

from django.contrib import admin

from campaigns.admin.readonly import ReadOnlyAdmin
from campaigns.models import CustomerImport


@admin.register(CustomerImport)
class CustomerImportAdmin(ReadOnlyAdmin):
    list_display = ("filename", "shop", "status", "rows", "imported", "rejected", "created_at", "finished_at")
    list_filter = ("status",)
    search_fields = ("filename", "shop__name")
    list_select_related = ("shop",)
    show_full_result_count = False
