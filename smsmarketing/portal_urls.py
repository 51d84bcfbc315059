from django.urls import path

from smsmarketing import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("shop/<int:shop_id>/", views.dashboard, name="dashboard"),
    path("shop/<int:shop_id>/account/", views.account, name="account"),
]
