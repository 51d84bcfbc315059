from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from smsmarketing.errors import SmsError
from smsmarketing.forms import GrantForm
from smsmarketing.models import (
    Category,
    LedgerEntry,
    MailDelivery,
    Membership,
    MembershipEvent,
    Notification,
    RechargeOrder,
    RechargePackage,
    Reservation,
    Shop,
    SmsAccount,
)
from smsmarketing.services import account_grant_many
from smsmarketing.services.notifications import mail_deliveries_resend


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


# --- SMS account (短信账户) -------------------------------------------------
# Balances change only through services: accounts, orders, reservations and the
# ledger are read-only here; the one write is the audited "grant units" action.


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SmsAccount)
class SmsAccountAdmin(ReadOnlyAdmin):
    list_display = [
        "shop",
        "shop_id",
        "status",
        "balance",
        "reserved",
        "low_balance_threshold",
        "activated_at",
    ]
    list_filter = ["status"]
    search_fields = ["shop__name", "=shop__id"]
    list_select_related = ["shop"]
    readonly_fields = [f.name for f in SmsAccount._meta.fields]
    actions = ["grant_units"]

    def has_grant_permission(self, request) -> bool:
        return request.user.has_perm("smsmarketing.grant_units")

    @admin.action(description=_("发放短信条数（需填写原因）"), permissions=["grant"])
    def grant_units(self, request, queryset):
        """Intermediate form, then ``account_grant_many`` (one transaction, fixed lock order)."""
        form = GrantForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            shop_ids = list(queryset.values_list("shop_id", flat=True))
            try:
                account_grant_many(
                    shop_ids=shop_ids,
                    units=form.cleaned_data["units"],
                    reason=form.cleaned_data["reason"],
                    actor=request.user,
                )
            except SmsError as exc:
                self.message_user(request, exc.message, level=messages.ERROR)
                return None
            self.message_user(
                request,
                _("已向 {n} 个账户各发放 {units:,} 条。").format(
                    n=len(shop_ids), units=form.cleaned_data["units"]
                ),
                level=messages.SUCCESS,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("发放短信条数"),
            "opts": self.model._meta,
            "form": form,
            "accounts": queryset.select_related("shop"),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/smsmarketing/grant_units.html", context)


@admin.register(RechargePackage)
class RechargePackageAdmin(admin.ModelAdmin):
    list_display = ["name", "units", "price", "active", "sort_order"]
    list_editable = ["active", "sort_order"]
    list_filter = ["active"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # orders keep a copy, but retire packages by unticking "在售"


@admin.register(RechargeOrder)
class RechargeOrderAdmin(ReadOnlyAdmin):
    list_display = [
        "order_no",
        "account",
        "package_name",
        "units",
        "price",
        "status",
        "created_at",
        "paid_at",
    ]
    list_filter = ["status", "payment_provider"]
    search_fields = ["order_no", "account__shop__name", "=account__shop__id", "payment_reference"]
    list_select_related = ["account__shop"]
    date_hierarchy = "created_at"


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    list_display = ["reference", "account", "parts", "charged", "released", "created_at"]
    search_fields = ["reference", "=account__shop__id"]
    list_select_related = ["account__shop"]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "created_at",
        "account",
        "kind",
        "parts",
        "amount",
        "reserved_delta",
        "balance_after",
        "reserved_after",
        "reference",
        "note",
        "actor_label",
    ]
    list_filter = ["kind"]
    search_fields = ["reference", "note", "=account__shop__id", "account__shop__name", "actor_label"]
    list_select_related = ["account__shop"]
    date_hierarchy = "created_at"
    show_full_result_count = False  # the ledger grows large; skip the second COUNT(*)


@admin.register(MembershipEvent)
class MembershipEventAdmin(ReadOnlyAdmin):
    """The shops' member changes (append-only audit, written by smsmarketing.services.members)."""

    list_display = ["at", "shop", "action", "member_username", "old_role", "new_role", "actor"]
    list_filter = ["action"]
    search_fields = ["member_username", "=shop__id", "shop__name", "actor__username"]
    list_select_related = ["shop", "actor"]
    date_hierarchy = "at"
    readonly_fields = [f.name for f in MembershipEvent._meta.fields]


# --- notifications (消息通知) --------------------------------------------------------------
# Written only by smsmarketing.services.notifications; the platform's operators read them here
# (a merchant's "I got no mail": its status, attempts and last error) and may send failed mails again.


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "shop", "recipient", "kind", "title", "in_inbox", "read_at"]
    list_filter = ["kind", "in_inbox"]
    search_fields = ["=shop__id", "shop__name", "recipient__username", "event_key", "title"]
    list_select_related = ["shop", "recipient"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Notification._meta.fields]
    show_full_result_count = False


@admin.register(MailDelivery)
class MailDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "to",
        "subject",
        "status",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "last_error",
    ]
    list_filter = ["status"]
    search_fields = ["to", "notification__event_key", "=notification__shop__id", "notification__shop__name"]
    list_select_related = ["notification"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in MailDelivery._meta.fields]
    show_full_result_count = False
    actions = ["resend"]

    @admin.display(description=_("标题"))
    def subject(self, obj: MailDelivery) -> str:
        return obj.notification.title

    def has_resend_permission(self, request) -> bool:
        return request.user.is_superuser

    @admin.action(description=_("重新发送发送失败的邮件"), permissions=["resend"])
    def resend(self, request, queryset):
        count = mail_deliveries_resend(delivery_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, _("已重新排队发送 {count} 封邮件。").format(count=count), messages.SUCCESS)
