from django.urls import path

from campaigns import optout_views, views

app_name = "campaigns"

urlpatterns = [
    path("shop/<int:shop_id>/customers/", views.customer_list, name="customers"),
    path("shop/<int:shop_id>/campaigns/", views.campaign_list, name="list"),
    path("shop/<int:shop_id>/optouts/", optout_views.optout_list, name="optouts"),
    path("shop/<int:shop_id>/optouts/export/", optout_views.optout_export, name="optouts_export"),
    path(
        "shop/<int:shop_id>/optouts/resubscribe/",
        optout_views.optout_resubscribe_view,
        name="optouts_resubscribe",
    ),
]
