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
    """The site's app list (names translated once, URLs reversed once) is Django's AdminSite's,
    for a superuser and for a reviewer (fewer models, no add links), on every call."""
    from django.contrib.admin import AdminSite

    from smsmarketing.admin_site import SmsAdminSite

    assert isinstance(admin.site, SmsAdminSite)

    def plain(app_list):
        return [{**app, "name": str(app["name"]),
                 "models": [{**m, "name": str(m["name"])} for m in app["models"]]} for app in app_list]

    for user in (admin_user, reviewer, admin_user):
        request = RequestFactory().get("/admin/")
        request.user = user
        with translation.override("zh-hans"):
            ours = admin.site.get_app_list(request)
            assert plain(ours) == plain(AdminSite.get_app_list(admin.site, request))
            assert ours == plain(ours)  # plain strings: sorted once, no lazy comparisons
            assert admin.site.get_app_list(request, "reviews") == plain(
                AdminSite.get_app_list(admin.site, request, "reviews"))
    assert len(ours) > 1
