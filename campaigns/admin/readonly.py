"""The base of the admin pages that only show records the services write."""

from __future__ import annotations

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written only by services: viewable, never added, edited or deleted here (deleting
    an opt-out, for one, would re-subscribe a customer without recorded consent)."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
