from django.urls import path

from campaigns import views

app_name = "campaigns"

urlpatterns = [
    path("shop/<int:shop_id>/customers/", views.customer_list, name="customers"),
    path("shop/<int:shop_id>/campaigns/", views.campaign_list, name="list"),
]
