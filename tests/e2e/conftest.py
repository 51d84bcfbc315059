"""Browser fixtures of the end-to-end journeys: Playwright for Python driving Debian's Chromium.

No browser is ever downloaded (``playwright install`` is never run): the tests
launch ``/usr/bin/chromium`` from the Debian package. Without it a test marked
``e2e`` is skipped locally with a message saying how to install it; under
``CI=true`` a missing Chromium fails the test instead (CI installs it with
``scripts/install_chromium.sh``).

The app is served by pytest-django's ``live_server`` on 127.0.0.1 (a threaded
server in this process, so ``settings`` changes and time-machine travel reach
it). Each journey gets its own Playwright and browser (a fresh profile in a new
temporary user-data dir) and saves screenshots of the pages it visits under
``artifacts/e2e/<journey>/NN-name.png``. Every page's console is recorded, and
a journey fails if any page logged an error (script errors, failed loads,
Content Security Policy violations).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.db import connections

from tests.e2e.page_checks import SIZES, check_page, settle

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "e2e"
CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
    "--lang=zh-CN",
]
# A laptop screen: the portal must work down to 1280x800 and 1366x768.
LAPTOP = {"width": 1366, "height": 768}
SMALL_LAPTOP = {"width": 1280, "height": 800}
TIMEOUT_MS = 15_000
HOW_TO_RUN = (
    f"Chromium is not installed ({CHROMIUM} not found). Install it with "
    "`scripts/install_chromium.sh` (Debian packages chromium, chromium-driver, fonts-noto-cjk), "
    "then run `pytest -m e2e tests/e2e`."
)

# The browser calls the live server; serve it where the browser can reach it.
os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1")


def chromium_missing() -> str:
    """Why the journeys cannot run here ('' when they can)."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return HOW_TO_RUN
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is missing: `pip install -r requirements-dev.txt`."
    return ""


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("e2e") is None:
        return
    why = chromium_missing()
    if not why:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but the browser tests cannot run: {why}", pytrace=False)
    pytest.skip(why)


@dataclass
class Journey:
    """One journey's browser: pages opened in their own contexts, screenshots, console errors."""

    name: str
    browser: object
    base_url: str
    folder: Path
    shots: list[Path] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    contexts: list[object] = field(default_factory=list)
    form_rejections: set[str] = field(default_factory=set)
    page_problems: list[str] = field(default_factory=list)
    taken: int = 0  # screenshots' number: one per step (a check at both sizes is one step)

    def open(self, *, viewport: dict | None = None, accept_downloads: bool = False):
        """A new page in a new context (its own cookies: one per person of the journey)."""
        context = self.browser.new_context(
            viewport=viewport or LAPTOP,
            base_url=self.base_url,
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
            accept_downloads=accept_downloads,
        )
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        page = context.new_page()
        page.on("console", lambda message: self._console(page, message))
        page.on("pageerror", lambda error: self.console_errors.append(f"{page.url}: uncaught {error}"))
        page.on("response", self._response)
        return page

    def _response(self, response) -> None:
        # A form page answered 400 with the form's errors next to its fields: the
        # browser logs the status, but that page is the intended answer.
        if response.status == 400 and response.request.resource_type == "document":
            self.form_rejections.add(response.url)

    def _console(self, page, message) -> None:
        if message.type != "error":
            return
        source = message.location.get("url", "")
        if source in self.form_rejections and "status of 400" in message.text:
            return
        self.console_errors.append(f"{page.url}: {message.text} [{source}]")

    @staticmethod
    def ready(page) -> None:
        """Wait until the page (and its deferred scripts: htmx, charts) has loaded.

        A click that navigates returns once the new page commits; typing into a field
        with htmx behaviour before htmx has set up would go unnoticed.
        """
        page.wait_for_load_state("load")

    def shot(self, page, name: str) -> Path:
        """Save a full-page screenshot as NN-name.png (numbered in journey order).

        The page must fit the laptop screen's width: no horizontal scrolling.
        """
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{page.url} is {overflow}px wider than the window ({name})"
        self.taken += 1
        path = self.folder / f"{self.taken:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)
        return path

    def check_both(self, page, name: str, *, merchant: bool = True) -> tuple[Path, Path]:
        """Check the current page at 1440x900 and at 390x844 (``page_checks.check_page``) and
        save both as NN-name-1440.png and NN-name-390.png; the page keeps its own size after."""
        before = page.viewport_size
        self.taken += 1
        number = self.taken
        paths = []
        try:
            for size, label in SIZES:
                page.set_viewport_size(size)
                settle(page)
                try:
                    check_page(page, merchant=merchant)
                except AssertionError as problems:
                    # E2E_CHECKS=report: list every page's problems at the end instead of
                    # stopping at the first page (to survey a journey while fixing it).
                    if os.environ.get("E2E_CHECKS") != "report":
                        raise
                    self.page_problems.append(f"[{name}-{label}] {problems}")
                path = self.folder / f"{number:02d}-{name}-{label}.png"
                page.screenshot(path=str(path), full_page=True)
                paths.append(path)
        finally:
            if before:
                page.set_viewport_size(before)
        self.shots.extend(paths)
        return paths[0], paths[1]

    def visit_both(self, page, url: str, name: str, *, merchant: bool = True) -> tuple[Path, Path]:
        """Open ``url``, wait for its scripts, then ``check_both``."""
        page.goto(url)
        self.ready(page)
        return self.check_both(page, name, merchant=merchant)

    def login(self, page, username: str, password: str, *, admin: bool = False, shot: str = "") -> None:
        page.goto("/admin/login/" if admin else "/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        if shot:
            self.shot(page, shot)
        with page.expect_navigation():
            page.click("input[type=submit], button[type=submit]")
        assert "/login/" not in page.url, f"{username} could not log in: {page.url}"

    def assert_console_clean(self) -> None:
        assert not self.console_errors, "browser console errors:\n" + "\n".join(self.console_errors)
        assert not self.page_problems, "page checks (E2E_CHECKS=report):\n" + "\n".join(self.page_problems)

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def chromium() -> Iterator[object]:
    """A Playwright-driven Chromium of this test (Debian's binary, a fresh profile)."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread; the test's own ORM
    # calls (fixtures, assertions) are synchronous and safe, so Django's guard
    # against ORM calls from async code is lifted for this test only.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        # launch() gives every browser a new temporary user-data dir (a fresh
        # profile), removed when the browser closes.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        # While Playwright's loop runs, Django hands this thread other connections
        # than the fixtures' (asgiref's Local sees an event loop): close them here,
        # or they would outlive the test and block dropping the test database.
        connections.close_all()
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def journey(request: pytest.FixtureRequest, chromium, live_server) -> Iterator[Journey]:
    """The journey of this test, named by the module's ``JOURNEY`` (artifacts/e2e/<name>/)."""
    name = getattr(request.module, "JOURNEY", request.node.name)
    folder = ARTIFACTS / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    trip = Journey(name=name, browser=chromium, base_url=live_server.url, folder=folder)
    yield trip
    trip.close()
