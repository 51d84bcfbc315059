"""Admin of customers, purchases, segments and coupons (read-mostly: merchants own them)."""

from __future__ import annotations

from django.contrib import admin

from campaigns.models import Coupon, Customer, Purchase, Segment


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("phone", "name", "shop", "purchase_count", "total_spent", "last_purchase_at")
    list_filter = ("shop",)
    search_fields = ("phone", "name")
    readonly_fields = ("purchase_count", "total_spent", "last_purchase_at", "created_at")
    list_select_related = ("shop",)
    show_full_result_count = False


@admin.register(Purchase)
class PurchaseAdmin(admin.ModelAdmin):
    list_display = ("customer", "product", "purchased_at", "amount", "shop")
    list_filter = ("shop",)
    search_fields = ("customer__phone", "product")
    raw_id_fields = ("customer",)
    list_select_related = ("customer", "shop")
    show_full_result_count = False


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = ("name", "shop", "created_at")
    list_filter = ("shop",)


@admin.register(Coupon)
class CouponAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "shop",
        "amount",
        "threshold",
        "valid_from",
        "valid_until",
        "issued_count",
        "total_count",
    )
    list_filter = ("shop",)
    # issued_count only moves through the planning service's conditional UPDATE.
    readonly_fields = ("issued_count",)
