"""The admin site: Django's, with a cheaper app list (the sidebar of every admin page).

``AdminSite.get_app_list`` sorts the models by their lazy ``verbose_name_plural``: every
comparison translates both names again (~80 comparisons, 2 ms of each admin page), and
``_build_app_dict`` reverses two URLs per registered model (~80 ``reverse()`` per page,
docs/PERFORMANCE.md). Here each name is translated once, then sorted, and each URL is reversed
once per process (per URLconf, script prefix and language): the same list, compared with
Django's in tests/smsmarketing/test_admin_nav.py. Permissions are checked on every request.
Installed through ``SmsAdminConfig`` in ``INSTALLED_APPS`` in place of ``django.contrib.admin``.

The permissions of the sidebar: Django asks ``user.has_perm`` four times and
``user.has_module_perms`` once per registered model (~200 calls per page, each importing and
instantiating every authentication backend again). Here the user's permission set is read once
per app list (``_SidebarPermissions``) and each ModelAdmin check that is Django's own is answered
from it; a check a ModelAdmin overrides is still called. Only when every backend is one whose
answers are that set (Django's ModelBackend and BaseBackend, and their subclasses that do not
override ``has_perm``/``has_module_perms``); otherwise Django's calls are made, one by one.
"""

from __future__ import annotations

from django.apps import apps
from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.contrib.admin.options import BaseModelAdmin, ModelAdmin
from django.contrib.auth import get_backends, get_permission_codename
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils.text import capfirst
from django.utils.translation import get_language


class _SidebarPermissions:
    """What ``user.has_perm(perm)`` and ``user.has_module_perms(app_label)`` answer, from the
    user's permission set read once (for one app list, never kept across requests)."""

    def __init__(self, perms: set[str] | None, app_labels: set[str] | None) -> None:
        self.perms, self.app_labels = perms, app_labels  # None: every permission (active superuser)

    @classmethod
    def of(cls, user) -> _SidebarPermissions | None:
        """None unless each answer is known to equal Django's (then ask Django, call by call)."""
        # Not at the top: this module is imported while apps load (SmsAdminConfig), before models.
        from django.contrib.auth.backends import BaseBackend, ModelBackend
        from django.contrib.auth.models import PermissionsMixin

        if (user.__class__.has_perm is not PermissionsMixin.has_perm
                or user.__class__.has_module_perms is not PermissionsMixin.has_module_perms):
            return None
        if user.is_active and user.is_superuser:
            return cls(None, None)
        perms: set[str] = set()
        app_labels: set[str] = set()
        for backend in get_backends():
            # django.contrib.auth.models._user_has_perm and _user_has_module_perms ask each
            # backend having the method; ModelBackend's answers are "perm in
            # get_all_permissions()" for an active user, BaseBackend's the same for any user.
            has_perm = getattr(type(backend), "has_perm", None)
            has_module_perms = getattr(type(backend), "has_module_perms", None)
            if has_perm is None and has_module_perms is None:
                continue
            if has_perm is ModelBackend.has_perm and has_module_perms is ModelBackend.has_module_perms:
                granted = backend.get_all_permissions(user) if user.is_active else set()
                perms |= granted
                app_labels |= {perm[: perm.index(".")] for perm in granted}
            elif has_perm is BaseBackend.has_perm and has_module_perms is None:
                perms |= backend.get_all_permissions(user)
            else:
                return None
        return cls(perms, app_labels)

    def has_perm(self, perm: str) -> bool:
        return self.perms is None or perm in self.perms

    def has_module_perms(self, app_label: str) -> bool:
        return self.app_labels is None or app_label in self.app_labels

    def module_permission(self, model_admin, request) -> bool:
        """``model_admin.has_module_permission(request)``."""
        if type(model_admin).has_module_permission is BaseModelAdmin.has_module_permission:
            return self.has_module_perms(model_admin.opts.app_label)
        return model_admin.has_module_permission(request)

    def model_perms(self, model_admin, request) -> dict[str, bool]:
        """``model_admin.get_model_perms(request)``: Django's checks answered here, overrides called."""
        if type(model_admin).get_model_perms is not ModelAdmin.get_model_perms:
            return model_admin.get_model_perms(request)
        opts = model_admin.opts

        def granted(action: str) -> bool:
            return self.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")

        perms = {}
        for action in ("add", "change", "delete", "view"):
            method = f"has_{action}_permission"
            if getattr(type(model_admin), method) is not getattr(BaseModelAdmin, method):
                perms[action] = getattr(model_admin, method)(request)
            elif action == "view":  # BaseModelAdmin.has_view_permission: view or change
                perms[action] = granted("view") or granted("change")
            else:
                perms[action] = granted(action)
        return perms


class SmsAdminSite(admin.AdminSite):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._urls_reversed: dict[tuple, str | None] = {}
        self._names: dict[tuple, str] = {}

    def _url(self, where: tuple, name: str, **kwargs) -> str | None:
        """``reverse()`` of one of the admin's fixed URLs, remembered: URL patterns do not change
        while the process runs; the key holds everything else the result depends on (``where``:
        URLconf, script prefix and language, read once per app list)."""
        key = (name, tuple(sorted(kwargs.items())), *where)
        if key not in self._urls_reversed:
            try:
                url = reverse(name, kwargs=kwargs or None, current_app=self.name)
            except NoReverseMatch:
                url = None
            self._urls_reversed[key] = url
        return self._urls_reversed[key]

    def _name(self, where: tuple, model=None, app_label: str = "") -> str:
        """A model's ``capfirst(verbose_name_plural)`` or an app's ``verbose_name``, translated
        once per language (``where[-1]``): the catalogs do not change while the process runs."""
        key = (model, app_label, where[-1])
        if key not in self._names:
            if model is not None:
                self._names[key] = str(capfirst(model._meta.verbose_name_plural))
            else:
                self._names[key] = str(apps.get_app_config(app_label).verbose_name)
        return self._names[key]

    def _build_app_dict(self, request, label=None):
        # Django's AdminSite._build_app_dict (5.2), with the URLs from self._url
        # and the permissions from one set (_SidebarPermissions) when they can be.
        app_dict = {}
        where = (get_urlconf(), get_script_prefix(), get_language())
        known = _SidebarPermissions.of(request.user)
        models = {m: a for m, a in self._registry.items() if not label or m._meta.app_label == label}
        for model, model_admin in models.items():
            app_label = model._meta.app_label
            if known is None:
                has_module_perms = model_admin.has_module_permission(request)
            else:
                has_module_perms = known.module_permission(model_admin, request)
            if not has_module_perms:
                continue
            perms = model_admin.get_model_perms(request) if known is None else known.model_perms(
                model_admin, request)
            if True not in perms.values():
                continue
            model_dict = {
                "model": model,
                "name": self._name(where, model=model),
                "object_name": model._meta.object_name,
                "perms": perms,
                "admin_url": None,
                "add_url": None,
            }
            info = f"{app_label}_{model._meta.model_name}"
            if perms.get("change") or perms.get("view"):
                model_dict["view_only"] = not perms.get("change")
                model_dict["admin_url"] = self._url(where, f"admin:{info}_changelist")
            if perms.get("add"):
                model_dict["add_url"] = self._url(where, f"admin:{info}_add")
            if app_label in app_dict:
                app_dict[app_label]["models"].append(model_dict)
            else:
                app_dict[app_label] = {
                    "name": self._name(where, app_label=app_label),
                    "app_label": app_label,
                    "app_url": self._url(where, "admin:app_list", app_label=app_label),
                    "has_module_perms": has_module_perms,
                    "models": [model_dict],
                }
        return app_dict


class SmsAdminConfig(AdminConfig):
    default_site = "smsmarketing.admin_site.SmsAdminSite"
