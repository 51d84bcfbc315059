"""Admin of the shops' orders: read only (merchants push them; the services attribute them).

Orders carry customers' phones and spending, so no staff role holds ``view_order`` by default
(reviewers do not need it): a superuser grants it to the platform staff who answer merchants'
questions about their results.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from campaigns.admin.readonly import ReadOnlyAdmin
from campaigns.models.orders import Order
from campaigns.phones import mask_phone


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = [
        "order_no",
        "shop",
        "masked_phone",
        "amount",
        "placed_at",
        "attributed_campaign",
        "attributed_touch",
        "attributed_touch_at",
    ]
    list_filter = ["attributed_touch"]
    search_fields = ["=order_no", "=shop__id", "=phone", "=attributed_campaign__id"]
    date_hierarchy = "placed_at"
    list_select_related = ["shop", "attributed_campaign"]
    # Shown as ids: a select of every message or campaign would load millions of rows.
    raw_id_fields = ["shop", "attributed_message", "attributed_campaign"]
    exclude = ["phone"]
    readonly_fields = ["masked_phone"]
    show_full_result_count = False

    @admin.display(description=_("手机号"))
    def masked_phone(self, obj: Order) -> str:
        return mask_phone(obj.phone)
