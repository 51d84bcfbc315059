"""Cross-site request forgery and session handling: a forged POST (no CSRF token) changes
nothing; login does not follow a redirect to another site; the session id changes at login
and logout ends the session."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD
from tests.security.conftest import snapshot
from tests.security.test_permission_matrix import POST_BODY, ROUTES, url_for

pytestmark = pytest.mark.django_db


def test_a_post_without_the_csrf_token_is_refused_on_every_merchant_action(alice, world):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    before = snapshot()
    for name, keywords in ROUTES:
        url = url_for(name, keywords, world.ids())
        response = browser.post(url, POST_BODY)
        assert response.status_code == 403, url
    assert snapshot() == before


def test_the_admin_refuses_a_forged_grant(world):
    from tests.factories import make_user

    make_user("ops", superuser=True)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(make_user("ops2", superuser=True))
    before = snapshot()
    response = browser.post(
        reverse("admin:smsmarketing_smsaccount_changelist"),
        {"action": "grant_units", "_selected_action": [1], "apply": "1", "units": "100", "reason": "伪造"},
    )
    assert response.status_code == 403
    assert snapshot() == before


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"]
)
def test_login_never_redirects_to_another_site(client, alice, target):
    response = client.post(
        reverse("login") + "?next=" + target, {"username": "alice", "password": PASSWORD, "next": target}
    )
    assert response.status_code == 302
    assert response["Location"] in ("/", reverse("portal:home")), response["Location"]


def test_the_session_id_changes_at_login_and_logout_ends_it(client, alice, alice_shop):
    client.get(reverse("login"))
    client.session.save()
    anonymous_key = client.session.session_key
    client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    logged_in_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert logged_in_key != anonymous_key  # no session fixation
    dashboard = reverse("portal:dashboard", args=[alice_shop.pk])
    assert client.get(dashboard).status_code == 200
    client.post(reverse("logout"))
    stale = Client()
    stale.cookies[settings.SESSION_COOKIE_NAME] = logged_in_key
    assert stale.get(dashboard).status_code == 302  # the old session id no longer works
