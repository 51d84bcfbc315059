"""The admin site: Django's, with a cheaper app list (the sidebar of every admin page).

``AdminSite.get_app_list`` sorts the models by their lazy ``verbose_name_plural``: every
comparison translates both names again (~80 comparisons, 2 ms of each admin page), and
``_build_app_dict`` reverses two URLs per registered model (~80 ``reverse()`` per page,
docs/PERFORMANCE.md). Here each name is translated once, then sorted, and each URL is reversed
once per process (per URLconf, script prefix and language): the same list, compared with
Django's in tests/smsmarketing/test_admin_nav.py. Permissions are checked on every request.
Installed through ``SmsAdminConfig`` in ``INSTALLED_APPS`` in place of ``django.contrib.admin``.
"""

from __future__ import annotations

from django.apps import apps
from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils.text import capfirst
from django.utils.translation import get_language


class SmsAdminSite(admin.AdminSite):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._urls_reversed: dict[tuple, str | None] = {}

    def _url(self, name: str, **kwargs) -> str | None:
        """``reverse()`` of one of the admin's fixed URLs, remembered: URL patterns do not change
        while the process runs; the key holds everything else the result depends on."""
        key = (name, tuple(sorted(kwargs.items())), get_urlconf(), get_script_prefix(), get_language())
        if key not in self._urls_reversed:
            try:
                url = reverse(name, kwargs=kwargs or None, current_app=self.name)
            except NoReverseMatch:
                url = None
            self._urls_reversed[key] = url
        return self._urls_reversed[key]

    def _build_app_dict(self, request, label=None):
        # Django's AdminSite._build_app_dict (5.2), with the URLs from self._url.
        app_dict = {}
        models = {m: a for m, a in self._registry.items() if not label or m._meta.app_label == label}
        for model, model_admin in models.items():
            app_label = model._meta.app_label
            has_module_perms = model_admin.has_module_permission(request)
            if not has_module_perms:
                continue
            perms = model_admin.get_model_perms(request)
            if True not in perms.values():
                continue
            model_dict = {
                "model": model,
                "name": str(capfirst(model._meta.verbose_name_plural)),
                "object_name": model._meta.object_name,
                "perms": perms,
                "admin_url": None,
                "add_url": None,
            }
            if perms.get("change") or perms.get("view"):
                model_dict["view_only"] = not perms.get("change")
                model_dict["admin_url"] = self._url(f"admin:{app_label}_{model._meta.model_name}_changelist")
            if perms.get("add"):
                model_dict["add_url"] = self._url(f"admin:{app_label}_{model._meta.model_name}_add")
            if app_label in app_dict:
                app_dict[app_label]["models"].append(model_dict)
            else:
                app_dict[app_label] = {
                    "name": str(apps.get_app_config(app_label).verbose_name),
                    "app_label": app_label,
                    "app_url": self._url("admin:app_list", app_label=app_label),
                    "has_module_perms": has_module_perms,
                    "models": [model_dict],
                }
        return app_dict


class SmsAdminConfig(AdminConfig):
    default_site = "smsmarketing.admin_site.SmsAdminSite"
