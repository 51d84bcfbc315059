"""Routes of Kannel's callbacks, mounted at ``/hooks/kannel/`` (see ``campaigns.gateways.kannel``)."""

from django.urls import path

from campaigns import views_gateway

app_name = "gateway"

urlpatterns = [
    path("dlr/", views_gateway.kannel_dlr, name="kannel_dlr"),
    path("mo/", views_gateway.kannel_mo, name="kannel_mo"),
]
