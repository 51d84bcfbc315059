"""The admin sidebar written in Python (smsmarketing.templatetags.admin_nav) is Django's."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.template import Context, Template
from django.template.loaders.app_directories import Loader
from django.test import RequestFactory
from django.test.html import parse_html
from django.urls import reverse
from django.utils import translation

pytestmark = pytest.mark.django_db


def _django_app_list(context: dict) -> str:
    """Django's own admin/app_list.html (the app directory's, not a project override)."""
    engine = Template("").engine
    origin = next(o for o in Loader(engine).get_template_sources("admin/app_list.html")
                  if "django/contrib/admin" in o.name)
    return Template(Loader(engine).get_contents(origin), engine=engine).render(
        Context({**context, "app_list": context["available_apps"], "show_changelinks": False})
    )


def _ours(context: dict) -> str:
    return Template("{% load admin_nav %}{% nav_app_list %}").render(Context(context))


@pytest.mark.parametrize("path_name", ["admin:reviews_messagetemplate_changelist", "admin:index",
                                       "admin:app_list"])
@pytest.mark.parametrize("who", ["superuser", "reviewer", "nobody"])
def test_it_writes_the_markup_of_djangos_app_list(who, path_name, reviewer):
    user = {
        "superuser": lambda: get_user_model().objects.create_superuser("root", "r@example.com", "x"),
        "reviewer": lambda: reviewer,
        "nobody": lambda: get_user_model().objects.create_user("nobody", is_staff=True),
    }[who]()
    path = reverse(path_name, kwargs={"app_label": "reviews"} if path_name == "admin:app_list" else {})
    request = RequestFactory().get(path)
    request.user = user
    with translation.override("zh-hans"):
        context = {"available_apps": admin.site.get_app_list(request), "request": request}
        expected, got = _django_app_list(context), _ours(context)
    assert parse_html(got) == parse_html(expected)
    if who == "superuser":
        assert 'aria-current="page"' in got or path_name != "admin:reviews_messagetemplate_changelist"
    if who == "nobody":
        assert "<table>" not in got


def test_it_is_the_sidebar_of_admin_pages(admin_client):
    page = admin_client.get(reverse("admin:reviews_messagetemplate_changelist")).content.decode()
    assert 'id="nav-sidebar"' in page
    assert 'class="model-messagetemplate current-model"' in page


def test_it_lists_the_apps_and_models_as_django_does(admin_user, reviewer):
    """The site's app list (names translated once, URLs reversed once, permissions from one set)
    is Django's AdminSite's, for a superuser and for a reviewer (fewer models, no add links), on
    every call."""
    from django.contrib.admin import AdminSite

    from smsmarketing.admin_site import SmsAdminSite

    assert isinstance(admin.site, SmsAdminSite)
    djangos = AdminSite(name=admin.site.name)
    djangos._registry = admin.site._registry

    def plain(app_list):
        return [{**app, "name": str(app["name"]),
                 "models": [{**m, "name": str(m["name"])} for m in app["models"]]} for app in app_list]

    names = set()
    for user, language in ((admin_user, "zh-hans"), (reviewer, "zh-hans"), (admin_user, "en"),
                           (admin_user, "zh-hans")):
        request = RequestFactory().get("/admin/")
        request.user = user
        with translation.override(language):
            ours = admin.site.get_app_list(request)
            assert plain(ours) == plain(djangos.get_app_list(request))
            assert ours == plain(ours)  # plain strings: sorted once, no lazy comparisons
            assert admin.site.get_app_list(request, "reviews") == plain(
                djangos.get_app_list(request, "reviews"))
            names |= {app["name"] for app in ours if app["app_label"] == "auth"}
    assert len(ours) > 1
    assert names == {"认证和授权", "Authentication and Authorization"}  # names follow the language


def _user_with(username: str, *labels: str, group: str = "", active: bool = True, superuser: bool = False):
    from django.contrib.auth.models import Group, Permission

    user = get_user_model().objects.create_user(username, is_staff=True, is_active=active,
                                                is_superuser=superuser)
    perms = [Permission.objects.get(content_type__app_label=label.split(".")[0], codename=label.split(".")[1])
             for label in labels]
    if group:
        Group.objects.create(name=group).permissions.add(*perms)
        user.groups.add(Group.objects.get(name=group))
    else:
        user.user_permissions.add(*perms)
    return get_user_model().objects.get(pk=user.pk)


def _both_app_lists(site, user, label=None) -> tuple[list, list]:
    """(our site's app list, Django's AdminSite's) for ``user``, each with a fresh user object."""
    from django.contrib.admin import AdminSite

    def plain(app_list):
        return [{**app, "name": str(app["name"]),
                 "models": [{**m, "name": str(m["name"])} for m in app["models"]]} for app in app_list]

    djangos = AdminSite(name=site.name)  # Django's own site (its _build_app_dict), same ModelAdmins
    djangos._registry = site._registry
    lists = []
    for get_app_list in (site.get_app_list, djangos.get_app_list):
        request = RequestFactory().get("/admin/")
        request.user = get_user_model().objects.get(pk=user.pk)
        with translation.override("zh-hans"):
            lists.append(plain(get_app_list(request, label)))
    return lists[0], lists[1]


# Users whose permissions take each branch of Django's checks: direct or through a group, change
# without view (Django's view check accepts change), an app's only permission, inactive (no
# permission from ModelBackend, even a superuser), a superuser.
SIDEBAR_USERS = {
    "direct": lambda: _user_with("direct", "reviews.view_neutralname", "smsmarketing.add_category"),
    "group": lambda: _user_with("grouped", "reviews.change_neutralname", "reviews.delete_wordlistterm",
                                group="editors"),
    "change-only": lambda: _user_with("changer", "reviews.change_platformbrandterm"),
    "hidden-model": lambda: _user_with("hidden", "reviews.review_template"),
    "inactive": lambda: _user_with("inactive", "reviews.view_neutralname", active=False),
    "inactive-superuser": lambda: _user_with("inactive-root", active=False, superuser=True),
    "superuser": lambda: _user_with("root", superuser=True),
}


@pytest.mark.parametrize("who", SIDEBAR_USERS)
def test_it_answers_djangos_permission_checks_from_one_permission_set(who):
    user = SIDEBAR_USERS[who]()
    ours, django = _both_app_lists(admin.site, user)
    assert ours == django
    ours_reviews, django_reviews = _both_app_lists(admin.site, user, "reviews")
    assert ours_reviews == django_reviews
    if who == "change-only":
        [model] = [m for app in ours for m in app["models"]]
        assert model["perms"] == {"add": False, "change": True, "delete": False, "view": True}


def test_it_calls_the_checks_a_model_admin_overrides():
    """A ModelAdmin's own has_*_permission, has_module_permission and get_model_perms are called."""
    from django.contrib.auth.models import Group as GroupModel

    from campaigns.models import Coupon
    from reviews.models import NeutralName, PlatformBrandTerm, WordList
    from smsmarketing.admin_site import SmsAdminSite

    class NoModule(admin.ModelAdmin):
        def has_module_permission(self, request):
            return False

    class OwnViewAndAdd(admin.ModelAdmin):
        def has_view_permission(self, request, obj=None):
            return request.user.username == "direct"

        def has_add_permission(self, request):
            return True

    class AlwaysAdd(admin.ModelAdmin):  # in an app the user has no permission in: hidden
        def has_add_permission(self, request):
            return True

    class OwnModelPerms(admin.ModelAdmin):
        def get_model_perms(self, request):
            return {"add": False, "change": False, "delete": False, "view": True}

    site = SmsAdminSite(name="admin")
    site.register(GroupModel, NoModule)
    site.register(NeutralName, OwnViewAndAdd)
    site.register(PlatformBrandTerm, OwnModelPerms)
    site.register(WordList)
    site.register(Coupon, AlwaysAdd)
    user = _user_with("direct", "auth.view_group", "reviews.view_wordlist")
    ours, django = _both_app_lists(site, user)
    assert ours == django
    models = {m["object_name"]: m["perms"] for app in ours for m in app["models"]}
    assert models == {
        "NeutralName": {"add": True, "change": False, "delete": False, "view": True},
        "PlatformBrandTerm": {"add": False, "change": False, "delete": False, "view": True},
        "WordList": {"add": False, "change": False, "delete": False, "view": True},
    }


class GrantsSignaturesBackend:
    """A backend answering has_perm by its own rule (not from a permission set)."""

    def has_perm(self, user_obj, perm, obj=None):
        return perm == "reviews.view_signature"

    def has_module_perms(self, user_obj, app_label):
        return app_label == "reviews"


class RefusesEverythingBackend:
    def has_perm(self, user_obj, perm, obj=None):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied

    def has_module_perms(self, user_obj, app_label):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied


@pytest.mark.parametrize("backend", ["GrantsSignaturesBackend", "RefusesEverythingBackend"])
def test_it_asks_django_when_a_backend_answers_by_its_own_rule(backend, settings):
    settings.AUTHENTICATION_BACKENDS = [f"{__name__}.{backend}", *settings.AUTHENTICATION_BACKENDS]
    user = _user_with("editor", "reviews.view_wordlist")
    ours, django = _both_app_lists(admin.site, user)
    assert ours == django
    models = [m["object_name"] for app in ours for m in app["models"]]
    if backend == "GrantsSignaturesBackend":
        assert "Signature" in models and "WordList" in models
    else:
        assert models == []
