"""Admin of signatures (the workbench queue) and their word lists."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from reviews.admin.teach import SignatureTeachForm, teach_proposal, teach_segments
from reviews.admin.workbench import ReviewWorkbenchAdmin
from reviews.models.signatures import NeutralName, PlatformBrandTerm, Signature
from reviews.selectors import live_signature
from reviews.services.signatures import (
    signature_approve,
    signature_bulk_approve,
    signature_current_findings,
    signature_reject,
)


@admin.register(Signature)
class SignatureAdmin(ReviewWorkbenchAdmin):
    search_fields = ["text", "normalized", "shop__name", "=shop__id"]

    def item_findings(self, obj):
        # Recomputed with today's word lists and other shops' signatures.
        return signature_current_findings(obj)

    def review_context(self, obj):
        rows = super().review_context(obj)
        live = live_signature(shop=obj.shop)
        previous = str(live) if live is not None and live.pk != obj.pk else _("（无）")
        rows.append((_("当前生效签名"), previous))
        return rows

    def approve_item(self, *, item, reviewer):
        return signature_approve(signature=item, reviewer=reviewer)

    def reject_item(self, *, item, reviewer, reason_code, reason_text):
        return signature_reject(
            signature=item, reviewer=reviewer, reason_code=reason_code, reason_text=reason_text
        )

    def bulk_approve_items(self, *, items, reviewer):
        return signature_bulk_approve(signatures=items, reviewer=reviewer)

    # A reviewer who rejects may select the offending part and propose it as a rule.
    teach_form_class = SignatureTeachForm

    def teach_context(self, obj):
        return {"teach_segments": teach_segments(obj.text, {})}

    def teach_item(self, *, item, reviewer, form):
        return teach_proposal(item=item, reviewer=reviewer, form=form)


@admin.register(NeutralName)
class NeutralNameAdmin(admin.ModelAdmin):
    list_display = ["term", "match", "active", "note"]
    list_filter = ["match", "active"]
    list_editable = ["active"]
    search_fields = ["term"]


@admin.register(PlatformBrandTerm)
class PlatformBrandTermAdmin(admin.ModelAdmin):
    list_display = ["term", "active", "note"]
    list_filter = ["active"]
    list_editable = ["active"]
    search_fields = ["term"]
