from django.urls import path

from campaigns.views import api_keys as api_key_views
from campaigns.views import archives as archive_views
from campaigns.views import campaigns as campaign_views
from campaigns.views import coupons as coupon_views
from campaigns.views import customers as customer_views
from campaigns.views import editor as editor_views
from campaigns.views import links as link_views
from campaigns.views import optouts as optout_views
from campaigns.views import segments as segment_views
from campaigns.views import spend as spend_views
from campaigns.views import webhooks as webhook_views

app_name = "campaigns"

SHOP = "shop/<int:shop_id>/"
CAMPAIGN = SHOP + "campaigns/<int:campaign_id>/"
IMPORT = SHOP + "customers/import/<int:import_id>/"
WEBHOOK = SHOP + "webhooks/<int:webhook_id>/"

urlpatterns = [
    # Short links in the messages (public, no login): SMS_SHORT_LINK_BASE + code.
    path("t/<str:code>", link_views.follow, name="link_follow"),
    path(SHOP + "links/", link_views.shop_landing, name="links"),
    path(SHOP + "customers/", customer_views.customer_list, name="customers"),
    path(SHOP + "customers/import/", customer_views.customer_import_upload, name="customers_import"),
    path(IMPORT, customer_views.customer_import_job, name="customers_import_job"),
    path(IMPORT + "progress/", customer_views.customer_import_progress, name="customers_import_progress"),
    path(IMPORT + "confirm/", customer_views.customer_import_confirm_view, name="customers_import_confirm"),
    path(IMPORT + "cancel/", customer_views.customer_import_cancel_view, name="customers_import_cancel"),
    path(SHOP + "segments/", segment_views.segment_list, name="segments"),
    path(SHOP + "segments/count/", segment_views.segment_live_count, name="segment_count"),
    path(SHOP + "segments/<int:segment_id>/", segment_views.segment_members, name="segment_members"),
    path(SHOP + "segments/<int:segment_id>/edit/", segment_views.segment_edit, name="segment_edit"),
    path(
        SHOP + "segments/<int:segment_id>/delete/", segment_views.segment_delete_view, name="segment_delete"
    ),
    path(SHOP + "coupons/", coupon_views.coupon_list, name="coupons"),
    path(SHOP + "campaigns/", campaign_views.campaign_list, name="list"),
    path(SHOP + "campaigns/new/", editor_views.campaign_new, name="new"),
    path(SHOP + "campaigns/variant-check/", editor_views.variant_check, name="variant_check"),
    path(CAMPAIGN, campaign_views.campaign_detail, name="detail"),
    path(CAMPAIGN + "edit/", editor_views.campaign_edit, name="edit"),
    path(CAMPAIGN + "copy/", editor_views.campaign_copy, name="copy"),
    path(CAMPAIGN + "dry-run/", campaign_views.campaign_dry_run, name="dry_run"),
    path(CAMPAIGN + "progress/", campaign_views.campaign_progress, name="progress"),
    path(CAMPAIGN + "schedule/", campaign_views.campaign_schedule, name="schedule"),
    path(CAMPAIGN + "cancel/", campaign_views.campaign_cancel, name="cancel"),
    path(CAMPAIGN + "stop/", campaign_views.campaign_stop, name="stop"),
    path(CAMPAIGN + "resume/", spend_views.campaign_resume, name="resume"),
    path(CAMPAIGN + "test/", campaign_views.campaign_send_test, name="send_test"),
    path(CAMPAIGN + "test-phone/", campaign_views.test_phone_request, name="test_phone_request"),
    path(CAMPAIGN + "test-phone/confirm/", campaign_views.test_phone_confirm, name="test_phone_confirm"),
    path(CAMPAIGN + "export/", campaign_views.campaign_export, name="export"),
    path(CAMPAIGN + "export/clicks/", campaign_views.campaign_export_clicks, name="export_clicks"),
    path(CAMPAIGN + "export/orders/", campaign_views.campaign_export_orders, name="export_orders"),
    path(CAMPAIGN + "ab/<int:variant_id>/pick/", campaign_views.campaign_ab_pick, name="ab_pick"),
    path(SHOP + "optouts/", optout_views.optout_list, name="optouts"),
    path(SHOP + "webhooks/", webhook_views.webhook_list, name="webhooks"),
    path(WEBHOOK, webhook_views.webhook_detail, name="webhook_detail"),
    path(WEBHOOK + "delete/", webhook_views.webhook_delete, name="webhook_delete"),
    path(
        WEBHOOK + "deliveries/<int:delivery_id>/resend/", webhook_views.webhook_resend, name="webhook_resend"
    ),
    path(SHOP + "optouts/export/", optout_views.optout_export, name="optouts_export"),
    # The message history's monthly archives (docs/RETENTION.md).
    path(SHOP + "archives/", archive_views.archive_list, name="archives"),
    path(
        SHOP + "archives/<int:archive_id>/download/", archive_views.archive_download, name="archive_download"
    ),
    path(SHOP + "optouts/resubscribe/", optout_views.optout_resubscribe_view, name="optouts_resubscribe"),
    # The open API's keys (开放接口; the API itself is campaigns.urls_api at /api/v1/).
    path(SHOP + "api/keys/", api_key_views.api_keys, name="api_keys"),
    path(SHOP + "api/keys/<int:key_id>/revoke/", api_key_views.api_key_revoke_view, name="api_key_revoke"),
]
