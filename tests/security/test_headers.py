"""Security headers and the Content Security Policy, which every page of the portal and the
admin actually passes: no inline script or style without the response's nonce, no inline
style attribute or event handler, nothing loaded from another origin. (The browser
journeys in tests/e2e also fail on any CSP violation the console reports.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.contrib import admin
from django.urls import reverse

from tests.security.test_permission_matrix import ROUTES, url_for

pytestmark = pytest.mark.django_db

EXECUTABLE_SCRIPT_TYPES = {"", "text/javascript", "module", "application/javascript"}


class PolicyAudit(HTMLParser):
    """Collects every construct the policy would block."""

    def __init__(self, nonce: str) -> None:
        super().__init__()
        self.nonce = nonce
        self.problems: list[str] = []
        self.checked_tags = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.checked_tags += 1
        values = dict(attrs)
        for name, value in attrs:
            if name == "style":
                self.problems.append(f"<{tag} style=…>")
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…>")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.problems.append(f"<{tag} {name}=javascript:…>")
        if tag == "script":
            kind = (values.get("type") or "").lower()
            if kind not in EXECUTABLE_SCRIPT_TYPES:
                return  # data blocks (json_script) are never executed
            src = values.get("src")
            if src is not None:
                if not src.startswith("/"):
                    self.problems.append(f"<script src={src}> from another origin")
            elif values.get("nonce") != self.nonce:
                self.problems.append("<script> inline without the nonce")
        if tag == "style" and values.get("nonce") != self.nonce:
            self.problems.append("<style> without the nonce")
        if (
            tag == "link"
            and "stylesheet" in (values.get("rel") or "")
            and not values.get("href", "").startswith("/")
        ):
            self.problems.append(f"<link stylesheet {values.get('href')}> from another origin")


def policy_of(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


def assert_passes_the_policy(response, url: str) -> None:
    assert response.status_code == 200, f"{url}: {response.status_code}"
    policy = policy_of(response)
    nonces = [s for s in policy["script-src"] if s.startswith("'nonce-")]
    nonce = nonces[0][len("'nonce-") : -1] if nonces else ""
    audit = PolicyAudit(nonce)
    audit.feed(response.content.decode())
    assert not audit.problems, f"{url}: {audit.problems}"


def test_it_sends_a_strict_policy_without_unsafe_sources(client, alice, alice_shop):
    client.force_login(alice)
    response = client.get(reverse("portal:dashboard", args=[alice_shop.pk]))
    policy = policy_of(response)
    for directive in ("script-src", "style-src", "default-src"):
        assert "'unsafe-inline'" not in policy[directive] and "'unsafe-eval'" not in policy[directive]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"] and policy["base-uri"] == ["'none'"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_it_uses_a_fresh_nonce_for_every_response(client, alice, alice_shop):
    client.force_login(alice)
    url = reverse("portal:dashboard", args=[alice_shop.pk])
    first, second = policy_of(client.get(url))["script-src"], policy_of(client.get(url))["script-src"]
    assert first != second


def test_every_portal_page_passes_the_policy(client, alice, world):
    client.force_login(alice)
    checked = 0
    for name, keywords in ROUTES:
        url = url_for(name, keywords, world.ids())
        response = client.get(url)
        if response.status_code in (204, 405) or response.get("Content-Type", "").startswith("text/csv"):
            continue  # POST-only actions; htmx answers without a body (204); exports are not HTML
        if response.status_code == 302:
            response = client.get(response["Location"])
            url = response.request["PATH_INFO"]
        assert_passes_the_policy(response, url)
        checked += 1
    for extra in ("?kind=coupon", "?kind=repurchase"):
        url = reverse("campaigns:new", args=[world.alice_shop.pk]) + extra
        assert_passes_the_policy(client.get(url), url)
    assert checked >= 20


def test_the_login_and_lockout_pages_pass_the_policy(client):
    assert_passes_the_policy(client.get(reverse("login")), "login")
    assert_passes_the_policy(client.get(reverse("admin:login")), "admin login")


def test_every_admin_page_passes_the_policy(admin_client, world):
    urls = [reverse("admin:index")]
    for model in admin.site._registry:
        info = f"{model._meta.app_label}_{model._meta.model_name}"
        urls.append(reverse(f"admin:{info}_changelist"))
        first = model.objects.order_by("pk").first()
        if first is not None:
            urls.append(reverse(f"admin:{info}_change", args=[first.pk]))
    urls += [
        reverse("admin:reviews_signature_decide", args=[world.signature.pk]),
        reverse("admin:reviews_messagetemplate_decide", args=[world.template.pk]),
    ]
    for url in urls:
        response = admin_client.get(url)
        if response.status_code == 302:  # e.g. a singleton redirecting to its change page
            response = admin_client.get(response["Location"])
        assert_passes_the_policy(response, url)


def test_the_session_cookie_is_http_only_and_same_site(client, alice):
    from tests.factories import PASSWORD

    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert response.cookies[settings.CSRF_COOKIE_NAME]["samesite"] == "Lax"


def production_settings() -> dict:
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({k: getattr(s, k) for k in ['SECURE_SSL_REDIRECT', 'SESSION_COOKIE_SECURE', "
        "'CSRF_COOKIE_SECURE', 'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'DEBUG']}))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "smsmarketing.settings",
        "HTTPS": "1",
        "DEBUG": "0",
        "SECRET_KEY": "x" * 60,
        "ALLOWED_HOSTS": "sms.example.com",
        "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/x"),
    }
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_production_turns_on_https_only_cookies_and_hsts():
    values = production_settings()
    assert values == {
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "DEBUG": False,
    }
