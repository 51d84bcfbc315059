from django.contrib import admin

from smsmarketing.models import Category, Membership, Shop


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "restricted"]
    list_filter = ["restricted"]
    search_fields = ["name"]


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Shop)
class ShopAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "category", "active", "created_at"]
    list_filter = ["active", "category__restricted", "category"]
    search_fields = ["name", "=id"]
    list_select_related = ["category"]
    inlines = [MembershipInline]
