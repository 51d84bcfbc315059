"""PermissionBackend (smsmarketing.auth_backends) answers as Django's ModelBackend, in one query."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AnonymousUser, Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from smsmarketing.auth_backends import PermissionBackend
from smsmarketing.models import Shop
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def _perm(label: str) -> Permission:
    app_label, codename = label.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def _group(name: str, *labels: str) -> Group:
    group = Group.objects.create(name=name)
    group.permissions.add(*(_perm(label) for label in labels))
    return group


def _user(kind: str):
    """A fresh user of each kind (fresh: no permission caches filled yet)."""
    if kind == "anonymous":
        return AnonymousUser()
    user = make_user(f"u-{kind}", staff=True, superuser=kind == "superuser")
    if kind in ("direct", "both", "inactive"):
        user.user_permissions.add(_perm("smsmarketing.view_shop"), _perm("reviews.view_signature"))
    if kind in ("groups", "both", "inactive"):
        user.groups.add(_group("g1", "smsmarketing.view_shop", "smsmarketing.view_category"),
                        _group("g2", "reviews.review_template"))
    if kind == "inactive":
        user.is_active = False
        user.save()
    return user


def _fresh(user):
    return user if user.is_anonymous else get_user_model().objects.get(pk=user.pk)


def _answers(backend, user) -> dict:
    """Everything a backend answers about ``user``, each from a fresh user object."""
    shop = Shop.objects.first()
    return {
        "user": backend.get_user_permissions(_fresh(user)),
        "group": backend.get_group_permissions(_fresh(user)),
        "all": backend.get_all_permissions(_fresh(user)),
        "object": backend.get_all_permissions(_fresh(user), obj=shop),
        "has_perm": {p: backend.has_perm(_fresh(user), p) for p in (
            "smsmarketing.view_shop", "smsmarketing.view_category", "reviews.view_signature",
            "reviews.review_template", "reviews.change_wordlist")},
        "has_module_perms": {a: backend.has_module_perms(_fresh(user), a) for a in (
            "smsmarketing", "reviews", "campaigns", "auth")},
    }


@pytest.mark.parametrize("kind", ["direct", "groups", "both", "none", "inactive", "superuser", "anonymous"])
def test_it_answers_as_djangos_model_backend(kind, alice_shop):
    user = _user(kind)
    ours, django = _answers(PermissionBackend(), user), _answers(ModelBackend(), user)
    assert ours == django
    expected = {
        "direct": {"smsmarketing.view_shop", "reviews.view_signature"},
        "groups": {"smsmarketing.view_shop", "smsmarketing.view_category", "reviews.review_template"},
        "both": {"smsmarketing.view_shop", "smsmarketing.view_category", "reviews.review_template",
                 "reviews.view_signature"},
        "none": set(), "inactive": set(), "anonymous": set(),
    }
    if kind == "superuser":
        assert len(ours["all"]) == Permission.objects.count()
    else:
        assert ours["all"] == expected[kind]
    if kind == "both":  # the two halves stay apart, as Django's caches keep them
        assert ours["user"] == {"smsmarketing.view_shop", "reviews.view_signature"}
        assert ours["group"] == {"smsmarketing.view_shop", "smsmarketing.view_category",
                                 "reviews.review_template"}


def test_it_fills_djangos_caches_in_one_query():
    user = _fresh(_user("both"))
    with CaptureQueriesContext(connection) as captured:
        perms = PermissionBackend().get_all_permissions(user)
        assert user.has_perm("reviews.review_template")
        assert not user.has_perm("reviews.change_wordlist")
        assert user.has_module_perms("reviews")
        assert user.get_group_permissions() == user._group_perm_cache
    assert len(captured) == 1
    assert perms == user._perm_cache == user._user_perm_cache | user._group_perm_cache
    assert len(perms) == 4


def test_it_is_the_projects_permission_backend():
    user = _fresh(_user("both"))
    other = _fresh(user)
    with CaptureQueriesContext(connection) as captured:
        assert user.has_perm("reviews.view_signature")
        assert not user.has_perm("campaigns.view_campaign")
        assert user.get_all_permissions() == PermissionBackend().get_all_permissions(other)
    assert len(captured) == 2  # one per user object


def test_it_refuses_a_permission_revoked_between_two_requests(client):
    user = make_user("revoked", staff=True)
    user.user_permissions.add(_perm("smsmarketing.view_shop"))
    group = _group("viewers", "smsmarketing.view_category")
    user.groups.add(group)
    client.force_login(user)
    shops, categories = reverse("admin:smsmarketing_shop_changelist"), reverse(
        "admin:smsmarketing_category_changelist")
    assert client.get(shops).status_code == 200
    assert client.get(categories).status_code == 200

    user.user_permissions.remove(_perm("smsmarketing.view_shop"))
    group.permissions.clear()

    assert client.get(shops).status_code == 403
    assert client.get(categories).status_code == 403


def test_it_reads_the_permissions_of_request_user():
    """request.user is a SimpleLazyObject around the user (AuthenticationMiddleware)."""
    user = _fresh(_user("both"))
    lazy = SimpleLazyObject(lambda: user)
    assert PermissionBackend().get_all_permissions(lazy) == ModelBackend().get_all_permissions(_fresh(user))
    assert user._perm_cache == user._user_perm_cache | user._group_perm_cache


def test_it_reads_a_reviewers_permissions_once_per_admin_page(client, reviewer):
    client.force_login(reviewer)
    for url in (reverse("admin:password_change_done"), reverse("admin:reviews_messagetemplate_changelist")):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        permission_queries = [q["sql"] for q in captured if "auth_permission" in q["sql"]]
        assert len(permission_queries) == 1, permission_queries
