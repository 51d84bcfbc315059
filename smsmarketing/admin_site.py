"""The platform's admin site: Django's ``AdminSite`` with the platform's titles.

Installed through ``SmsAdminConfig`` in ``INSTALLED_APPS`` in place of ``django.contrib.admin``
(Django's documented way to replace the default site), so every ``admin.register`` uses it.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.utils.translation import gettext_lazy as _


class SmsAdminSite(admin.AdminSite):
    site_header = _("短信营销管理平台 · 审核工作台")
    site_title = _("短信营销管理平台")
    index_title = _("平台运营")


class SmsAdminConfig(AdminConfig):
    default_site = "smsmarketing.admin_site.SmsAdminSite"
