"""The platform's admin: Django's own site, sidebar and permission checks, with our titles."""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from smsmarketing.roles import REVIEWER_PERMISSIONS
from tests.factories import make_user

pytestmark = pytest.mark.django_db

MODEL_PERMISSION_PREFIXES = ("add_", "change_", "delete_", "view_")


def listed_models(page: str) -> set[str]:
    """``app_label.model`` of every model row of Django's app list on an admin page: the
    navigation sidebar of a model page, the main list of the index page."""
    return {
        f"{app}.{model}"
        for app, block in re.findall(r'<div class="app-(\w+) module[^"]*">(.*?)</table>', page, re.S)
        for model in re.findall(r'<tr class="model-(\w+)', block)
    }


def reviewer_models(*prefixes: str) -> set[str]:
    """The registered models the reviewers group holds a permission of ``prefixes`` on."""
    found = set()
    for app_label, codename in REVIEWER_PERMISSIONS:
        if codename.startswith(prefixes):
            model = apps.get_model(app_label, codename.split("_", 1)[1])
            if admin.site.is_registered(model):
                found.add(f"{app_label}.{model._meta.model_name}")
    return found


def test_the_admin_speaks_chinese(client):
    response = client.get(reverse("admin:login"))
    assert response.status_code == 200
    assert "审核工作台" in response.content.decode()


def test_it_shows_the_platforms_titles_on_the_index_page(admin_client):
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert "<title>平台运营 | 短信营销管理平台</title>" in page
    assert "短信营销管理平台 · 审核工作台" in page


def test_a_merchant_cannot_reach_the_admin(client, alice, alice_shop):
    client.force_login(alice)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_it_authenticates_with_standard_backends_only():
    assert settings.AUTHENTICATION_BACKENDS == [
        "axes.backends.AxesStandaloneBackend",
        "django.contrib.auth.backends.ModelBackend",
    ]


def test_it_shows_a_reviewer_the_review_models_in_the_sidebar_and_nothing_else(client, reviewer):
    client.force_login(reviewer)
    expected = reviewer_models(*MODEL_PERMISSION_PREFIXES)
    assert {"reviews.messagetemplate", "reviews.signature", "smsmarketing.smsaccount"} <= expected
    for url in (reverse("admin:index"), reverse("admin:reviews_messagetemplate_changelist")):
        page = client.get(url).content.decode()
        assert listed_models(page) == expected, url
    # Add links only where the group may add: e.g. neutral names yes, templates under review no.
    addable = reviewer_models("add_")
    assert "reviews.neutralname" in addable and "reviews.messagetemplate" not in addable
    for label in expected:
        add_url = reverse("admin:{}_{}_add".format(*label.split(".")))
        assert (f'href="{add_url}"' in page) == (label in addable), label
    assert reverse("admin:auth_user_changelist") not in page


def test_it_shows_a_superuser_every_registered_model(admin_client):
    page = admin_client.get(reverse("admin:index")).content.decode()
    registered = {f"{m._meta.app_label}.{m._meta.model_name}" for m in apps.get_models()
                  if admin.site.is_registered(m)}
    assert listed_models(page) == registered


def test_it_refuses_a_permission_revoked_on_the_next_request(client):
    """Direct and group permissions alike: nothing about them outlives a request."""
    user = make_user("revoked", staff=True)
    view_shop = Permission.objects.get(content_type__app_label="smsmarketing", codename="view_shop")
    user.user_permissions.add(view_shop)
    group = Group.objects.create(name="viewers")
    group.permissions.add(Permission.objects.get(content_type__app_label="smsmarketing",
                                                 codename="view_category"))
    user.groups.add(group)
    client.force_login(user)
    shops = reverse("admin:smsmarketing_shop_changelist")
    categories = reverse("admin:smsmarketing_category_changelist")
    assert client.get(shops).status_code == 200
    page = client.get(categories).content.decode()
    assert listed_models(page) == {"smsmarketing.shop", "smsmarketing.category"}

    user.user_permissions.remove(view_shop)
    group.permissions.clear()

    assert client.get(shops).status_code == 403
    assert client.get(categories).status_code == 403
    page = client.get(reverse("admin:index")).content.decode()
    assert "你没有查看或编辑的权限。" in page  # "You don’t have permission to view or edit anything."
    assert 'class="model-' not in page


def test_it_reads_a_reviewers_permissions_in_two_queries_per_admin_page(client, reviewer):
    """Django's ModelBackend reads the user's and the groups' permissions once per request and
    answers the sidebar's ~200 checks from them: the admin frame costs a fixed few queries."""
    client.force_login(reviewer)
    for url in (reverse("admin:password_change_done"), reverse("admin:reviews_messagetemplate_changelist")):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        permission_queries = [q["sql"] for q in captured if "auth_permission" in q["sql"]]
        assert len(permission_queries) == 2, permission_queries
    # The page without model data: session, user, and those two.
    with CaptureQueriesContext(connection) as captured:
        client.get(reverse("admin:password_change_done"))
    assert len(captured) == 4, [q["sql"] for q in captured]
