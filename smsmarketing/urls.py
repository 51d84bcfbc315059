from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from smsmarketing import health
from smsmarketing.views import portal as portal_views

urlpatterns = [
    path("favicon.ico", portal_views.favicon),
    # Operators' endpoints, no login (smsmarketing.health; exempt from the HTTPS redirect).
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.ReadinessView.as_view(), name="readyz"),
    path("metrics", health.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("smsmarketing.portal_urls")),
    path("", include("reviews.urls")),
    path("", include("campaigns.urls")),
    path("hooks/kannel/", include("campaigns.urls_gateway")),
    # The open API (campaigns.api, docs/API.md): its own auth (API keys), JSON errors.
    path("api/v1/", include("campaigns.urls_api")),
]
