"""Admin of replies received through the gateway (read-only log for operators and reviewers)."""

from __future__ import annotations

from django.contrib import admin

from campaigns.admin.readonly import ReadOnlyAdmin
from campaigns.models.gateway import InboundMessage


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyAdmin):
    """Every MO the inbound endpoint received and what was done with it; nothing is edited here."""

    list_display = ["received_at", "sender", "receiver", "text", "outcome", "shop"]
    list_filter = ["outcome"]
    list_select_related = ["shop"]
    search_fields = ["phone", "sender", "text"]
    date_hierarchy = "received_at"
