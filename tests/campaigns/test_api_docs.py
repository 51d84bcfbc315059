"""/api/v1/docs and /api/v1/openapi.json: the schema in Chinese, the docs page under the site's CSP."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.contrib.staticfiles import finders
from playwright.sync_api import sync_playwright

from campaigns.api.app import api
from tests.security.test_csp_in_browser import chromium, session_of  # noqa: F401
from tests.security.test_headers import policy_of


class Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.inline_types: list[str] = []
        self.styles: list[str] = []
        self.style_attributes = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if "style" in found:
            self.style_attributes += 1
        if tag == "script":
            if found.get("src"):
                self.sources.append(found["src"])
            else:
                self.inline_types.append(found.get("type") or "text/javascript")
        if tag == "link" and found.get("rel") == "stylesheet":
            self.styles.append(found.get("href") or "")


@pytest.mark.django_db
def test_the_docs_page_loads_only_our_own_static_files_under_the_csp(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    policy = policy_of(response)
    assert policy["script-src"][0] == "'self'" and "'unsafe-inline'" not in policy["script-src"]
    page = Scripts()
    page.feed(response.content.decode())
    assert page.sources and all(src.startswith("/static/ninja/") for src in page.sources), page.sources
    assert page.styles and all(href.startswith("/static/ninja/") for href in page.styles)
    # The one inline <script> is data (Swagger's settings as JSON), never executed.
    assert page.inline_types == ["application/json"]
    assert page.style_attributes == 0
    for src in page.sources:
        assert finders.find(src.removeprefix("/static/")), src  # shipped by django-ninja


@pytest.mark.django_db
def test_the_schema_is_served_and_described_in_chinese(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "短信营销开放接口"
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"]["scheme"] == "bearer"
    account = schema["paths"]["/api/v1/account"]["get"]
    assert account["summary"] == "查询短信账户"
    assert set(account["responses"]) >= {"200", "401", "403", "429"}
    described = schema["components"]["schemas"]["AccountOut"]["properties"]["balance"]["description"]
    assert described == "可用余量（条）"
    # Every operation has a Chinese summary or description (a CJK character in it).
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            text = (operation.get("summary") or "") + (operation.get("description") or "")
            assert any("\u4e00" <= ch <= "\u9fff" for ch in text), f"{method.upper()} {path}"
            for status, answer in operation["responses"].items():
                assert any("\u4e00" <= ch <= "\u9fff" for ch in answer["description"]), (path, status)
    assert set(api.get_openapi_schema()["paths"]) == set(schema["paths"])


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_the_docs_page_renders_in_a_browser_without_csp_violations(chromium, live_server):  # noqa: F811
    violations: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        page = browser.new_context(base_url=live_server.url).new_page()
        page.on(
            "console",
            lambda message: (
                violations.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        page.expose_function("reportViolation", lambda text: violations.append(text))
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', e =>"
            " window.reportViolation(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sample || '')));"
        )
        page.goto("/api/v1/docs")
        page.wait_for_selector(".swagger-ui .info .title")
        title = page.inner_text(".swagger-ui .info .title")
        page.wait_for_selector("text=查询短信账户")
        browser.close()
    assert "短信营销开放接口" in title
    assert violations == []
