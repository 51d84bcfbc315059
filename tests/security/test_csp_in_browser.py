"""The Content Security Policy in a real browser (Debian's Chromium through Playwright): every
portal page of a shop full of data and the reviewers' admin pages load, run their scripts
(htmx, the campaign chart, the template editor) and report no CSP violation.

Skipped locally without Chromium (``scripts/install_chromium.sh``), required under CI=true,
like the journeys in tests/e2e."""

from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.security.test_permission_matrix import ROUTES, url_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1")


@pytest.fixture
def chromium() -> str:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {CHROMIUM} is missing (scripts/install_chromium.sh)")
        pytest.skip(f"{CHROMIUM} not found: install it with scripts/install_chromium.sh")
    return CHROMIUM


def session_of(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def visit_all(chromium: str, live_server, user, urls: list[str]) -> list[str]:
    """CSP violations the browser reports on ``urls``, logged in as ``user``.

    The session is made before Playwright starts: its sync API runs an event loop in this
    thread, and database work inside it would get a second connection.
    """
    from playwright.sync_api import sync_playwright

    cookie = session_of(user)
    host = live_server.url.split("//")[1].split(":")[0]
    violations: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        context = browser.new_context(base_url=live_server.url, locale="zh-CN")
        context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "domain": host, "path": "/"}]
        )
        page = context.new_page()
        page.on(
            "console",
            lambda message: (
                violations.append(f"{page.url}: {message.text}")
                if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text
                else None
            ),
        )
        page.expose_function("reportViolation", lambda text: violations.append(f"{page.url}: {text}"))
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', e =>"
            " window.reportViolation(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sample || '')));"
        )
        for url in urls:
            response = page.goto(url)
            assert response is not None and response.status < 400, f"{url}: {response and response.status}"
            page.wait_for_load_state("networkidle")  # deferred scripts (htmx, Chart.js) ran
        context.close()
        browser.close()
    return violations


def test_the_portal_runs_under_its_policy_in_a_browser(chromium, live_server, alice, world):
    urls = []
    for name, keywords in ROUTES:
        url = url_for(name, keywords, world.ids())
        response = Client()
        response.force_login(alice)
        answer = response.get(url)
        if answer.status_code == 200 and answer["Content-Type"].startswith("text/html"):
            urls.append(url)
    urls.append(reverse("campaigns:new", args=[world.alice_shop.pk]) + "?kind=coupon")
    assert reverse("campaigns:detail", args=[world.alice_shop.pk, world.campaign.pk]) in urls
    assert not visit_all(chromium, live_server, alice, urls)


def test_the_admin_runs_under_its_policy_in_a_browser(chromium, live_server, reviewer, world):
    from django.contrib.auth import get_user_model

    superuser = get_user_model().objects.create_superuser("root", password="x-" * 8)
    urls = [
        reverse("admin:index"),
        reverse("admin:reviews_signature_changelist"),
        reverse("admin:reviews_signature_decide", args=[world.signature.pk]),
        reverse("admin:reviews_messagetemplate_decide", args=[world.template.pk]),
        reverse("admin:reviews_messagetemplate_change", args=[world.template.pk]),
        reverse("admin:smsmarketing_smsaccount_changelist"),
        reverse("admin:campaigns_campaign_changelist"),
        reverse("admin:auth_user_change", args=[reviewer.pk]),  # filter_horizontal widgets, JS-heavy
    ]
    assert not visit_all(chromium, live_server, superuser, urls)


def test_the_browser_check_sees_a_violation_when_there_is_one(chromium, live_server, alice, world, settings):
    """The control: with scripts forbidden, the same visit reports violations."""
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'self'"], "script-src": ["'none'"]}}
    url = reverse("campaigns:detail", args=[world.alice_shop.pk, world.campaign.pk])
    assert visit_all(chromium, live_server, alice, [url])
