"""Routes of Kannel's callbacks, mounted at ``/hooks/kannel/`` (see ``campaigns.gateways.kannel``)."""

from django.urls import path

from campaigns.views import gateway as gateway_views

app_name = "gateway"

urlpatterns = [
    path("dlr/", gateway_views.kannel_dlr, name="kannel_dlr"),
    path("mo/", gateway_views.kannel_mo, name="kannel_mo"),
]
