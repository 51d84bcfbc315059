from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from smsmarketing import views as portal_views

admin.site.site_header = "短信营销管理平台 · 审核工作台"
admin.site.site_title = "短信营销管理平台"
admin.site.index_title = "平台运营"

urlpatterns = [
    path("favicon.ico", portal_views.favicon),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("smsmarketing.portal_urls")),
    path("", include("reviews.urls")),
    path("", include("campaigns.urls")),
    path("hooks/kannel/", include("campaigns.urls_gateway")),
]
