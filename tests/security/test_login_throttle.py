"""Password guessing is throttled (django-axes): a username is locked from one address
after AXES_FAILURE_LIMIT wrong passwords, with a Chinese message, for the cool-off time."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.7"


def login(client, username: str, password: str, ip: str = ATTACKER, url: str | None = None, **extra):
    return client.post(
        url or reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip, **extra
    )


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def fail_until_locked(client, username: str = "alice", ip: str = ATTACKER) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(client, username, "wrong-guess", ip).status_code == 200  # the form again
    assert login(client, username, "wrong-guess", ip).status_code == 429  # the last allowed failure locks


def test_it_locks_a_username_after_the_failure_limit_with_a_chinese_message(client, alice):
    fail_until_locked(client)
    response = login(client, "alice", PASSWORD)  # even the right password now
    assert response.status_code == 429
    body = response.content.decode()
    assert "密码错误次数过多" in body and "15 分钟后再试" in body
    assert not logged_in(client)
    assert AccessAttempt.objects.get(username="alice", ip_address=ATTACKER).failures_since_start >= 5


def test_it_does_not_log_the_password(client, alice):
    login(client, "alice", "my-secret-guess")
    attempt = AccessAttempt.objects.get(username="alice")
    assert "my-secret-guess" not in attempt.post_data


def test_it_locks_only_that_username_from_that_address(client, alice, bob):
    fail_until_locked(client)
    assert login(client, "alice", PASSWORD, ip="198.51.100.20").status_code == 302  # alice elsewhere
    client.logout()
    assert login(client, "bob", PASSWORD).status_code == 302  # another user from the same address


def test_it_ignores_a_forged_forwarded_for_header_unless_proxies_are_trusted(client, alice, settings):
    fail_until_locked(client)
    response = login(client, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.99")
    assert response.status_code == 429  # the header is not believed: still the same address
    settings.TRUSTED_PROXY_COUNT = 1
    # Behind our own proxy (REMOTE_ADDR = the proxy), the proxy's last X-Forwarded-For entry is the client.
    response = login(client, "alice", PASSWORD, ip="10.0.0.2", HTTP_X_FORWARDED_FOR=f"192.0.2.99, {ATTACKER}")
    assert response.status_code == 429
    response = login(client, "alice", PASSWORD, ip="10.0.0.2", HTTP_X_FORWARDED_FOR=f"{ATTACKER}, 192.0.2.50")
    assert response.status_code == 302


def test_it_unlocks_after_the_cool_off(client, alice):
    fail_until_locked(client)
    with time_machine.travel(timezone.now() + settings.AXES_COOLOFF_TIME + timedelta(minutes=1)):
        assert login(client, "alice", PASSWORD).status_code == 302
        assert logged_in(client)


def test_a_success_before_the_limit_resets_the_count(client, alice):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        login(client, "alice", "wrong-guess")
    assert login(client, "alice", PASSWORD).status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        login(client, "alice", "wrong-guess")
    assert login(client, "alice", PASSWORD).status_code == 302


def test_it_throttles_the_admin_login_too(client, reviewer):
    url = reverse("admin:login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, reviewer.username, "wrong-guess", url=url)
    response = login(client, reviewer.username, PASSWORD, url=url)
    assert response.status_code == 429 and "密码错误次数过多" in response.content.decode()
    assert not logged_in(client)
