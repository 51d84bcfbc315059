"""Admin of the open API's keys: operators find a key by the prefix in a log line, and revoke a
leaked one. Keys are created only by the shop's owner (portal) or ``manage.py api_key_create``."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from campaigns.admin.readonly import ReadOnlyAdmin
from campaigns.models.api import ApiKey
from campaigns.services.api_keys import api_key_revoke


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdmin):
    list_display = [
        "display_prefix",
        "name",
        "shop",
        "scopes",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["shop", "created_by"]
    search_fields = ["prefix", "name", "shop__name"]
    # Never the hash: it is useless to an operator and need not leave the database.
    exclude = ["key_hash"]
    actions = ["revoke"]

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("campaigns.change_apikey")

    @admin.action(description=_("吊销所选密钥（立即生效，不可撤销）"), permissions=["revoke"])
    def revoke(self, request, queryset) -> None:
        revoked = 0
        for key in queryset.filter(revoked_at__isnull=True).select_related("shop"):
            api_key_revoke(key=key, user=request.user)
            revoked += 1
        self.message_user(
            request, ngettext("已吊销 %d 个密钥。", "已吊销 %d 个密钥。", revoked) % revoked, messages.SUCCESS
        )
