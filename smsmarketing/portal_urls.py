from django.urls import path

from smsmarketing.views import account as account_views
from smsmarketing.views import members as member_views
from smsmarketing.views import notifications as notification_views
from smsmarketing.views import portal as portal_views

app_name = "portal"

urlpatterns = [
    path("", portal_views.home, name="home"),
    path("shop/<int:shop_id>/", portal_views.dashboard, name="dashboard"),
    path("shop/<int:shop_id>/account/", account_views.overview, name="account"),
    path("shop/<int:shop_id>/account/activate/", account_views.activate, name="account_activate"),
    path("shop/<int:shop_id>/account/threshold/", account_views.threshold, name="account_threshold"),
    path("shop/<int:shop_id>/account/spend-limits/", account_views.spend_limits, name="account_spend_limits"),
    path("shop/<int:shop_id>/account/recharge/", account_views.recharge_page, name="account_recharge"),
    path(
        "shop/<int:shop_id>/account/recharge/confirm/",
        account_views.recharge_confirm,
        name="account_recharge_confirm",
    ),
    path("shop/<int:shop_id>/account/recharges/", account_views.recharge_records, name="account_recharges"),
    path("shop/<int:shop_id>/account/issuances/", account_views.issuance_records, name="account_issuances"),
    path(
        "shop/<int:shop_id>/account/consumption/",
        account_views.consumption_records,
        name="account_consumption",
    ),
    path("shop/<int:shop_id>/members/", member_views.members, name="members"),
    path("shop/<int:shop_id>/members/invite/", member_views.invite, name="member_invite"),
    path("shop/<int:shop_id>/members/<int:member_id>/role/", member_views.change_role, name="member_role"),
    path("shop/<int:shop_id>/members/<int:member_id>/remove/", member_views.remove, name="member_remove"),
    path("shop/<int:shop_id>/notifications/", notification_views.inbox, name="notifications"),
    path(
        "shop/<int:shop_id>/notifications/read-all/",
        notification_views.mark_all_read,
        name="notifications_read_all",
    ),
    path(
        "shop/<int:shop_id>/notifications/<int:notification_id>/read/",
        notification_views.mark_read,
        name="notification_read",
    ),
    path(
        "shop/<int:shop_id>/notifications/settings/",
        notification_views.preferences,
        name="notification_settings",
    ),
]
