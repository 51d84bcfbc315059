from django.urls import path

from campaigns import optout_views, views

app_name = "campaigns"

urlpatterns = [
    path("shop/<int:shop_id>/customers/", views.customer_list, name="customers"),
    path("shop/<int:shop_id>/customers/import/", views.customer_import_preview, name="customers_import"),
    path(
        "shop/<int:shop_id>/customers/import/confirm/",
        views.customer_import_confirm,
        name="customers_import_confirm",
    ),
    path("shop/<int:shop_id>/segments/", views.segment_list, name="segments"),
    path("shop/<int:shop_id>/segments/count/", views.segment_live_count, name="segment_count"),
    path("shop/<int:shop_id>/coupons/", views.coupon_list, name="coupons"),
    path("shop/<int:shop_id>/campaigns/", views.campaign_list, name="list"),
    path("shop/<int:shop_id>/campaigns/new/", views.campaign_new, name="new"),
    path("shop/<int:shop_id>/campaigns/<int:campaign_id>/", views.campaign_detail, name="detail"),
    path("shop/<int:shop_id>/campaigns/<int:campaign_id>/dry-run/", views.campaign_dry_run, name="dry_run"),
    path(
        "shop/<int:shop_id>/campaigns/<int:campaign_id>/progress/", views.campaign_progress, name="progress"
    ),
    path(
        "shop/<int:shop_id>/campaigns/<int:campaign_id>/schedule/", views.campaign_schedule, name="schedule"
    ),
    path("shop/<int:shop_id>/campaigns/<int:campaign_id>/cancel/", views.campaign_cancel, name="cancel"),
    path("shop/<int:shop_id>/campaigns/<int:campaign_id>/stop/", views.campaign_stop, name="stop"),
    path("shop/<int:shop_id>/campaigns/<int:campaign_id>/test/", views.campaign_send_test, name="send_test"),
    path(
        "shop/<int:shop_id>/campaigns/<int:campaign_id>/test-phone/",
        views.test_phone_request,
        name="test_phone_request",
    ),
    path(
        "shop/<int:shop_id>/campaigns/<int:campaign_id>/test-phone/confirm/",
        views.test_phone_confirm,
        name="test_phone_confirm",
    ),
    path("shop/<int:shop_id>/campaigns/<int:campaign_id>/export/", views.campaign_export, name="export"),
    path("shop/<int:shop_id>/optouts/", optout_views.optout_list, name="optouts"),
    path("shop/<int:shop_id>/optouts/export/", optout_views.optout_export, name="optouts_export"),
    path(
        "shop/<int:shop_id>/optouts/resubscribe/",
        optout_views.optout_resubscribe_view,
        name="optouts_resubscribe",
    ),
]
