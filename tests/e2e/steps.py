"""Steps shared by the journeys: what a reviewer does in the admin workbench."""

from __future__ import annotations

import os

from tests.e2e.page_checks import DESKTOP, check_page, settle


def check_admin(journey, page, name: str) -> None:
    """An admin page at 1440x900: checked (overflow, raw syntax; E2E_CHECKS=report lists the
    problems at the end, as ``journey.check_both``) and saved."""
    page.set_viewport_size(DESKTOP)
    settle(page)
    try:
        check_page(page, merchant=False)
    except AssertionError as problems:
        if os.environ.get("E2E_CHECKS") != "report":
            raise
        journey.page_problems.append(f"[{name}] {problems}")
    journey.shot(page, name)


def review_in_admin(journey, page, *, queue: str, item: str, approve: bool, reason: str = "",
                    note: str = "", shot: str = "") -> None:
    """Open ``item`` from the admin ``queue`` (e.g. "reviews/signature"), approve or reject it.

    A rejection picks the reason code ``reason`` and writes ``note``; ``shot``
    names the screenshot taken of the filled-in decision.
    """
    page.goto(f"/admin/{queue}/")
    row = page.locator("#result_list tbody tr", has_text=item).first
    row.wait_for()
    row.locator("a.button", has_text="审核").click()
    form = page.locator("#review-decide-form")
    form.wait_for()
    form.locator("input[value=approve]" if approve else "input[value=reject]").check()
    if not approve:
        form.locator("select[name=reason_code]").select_option(reason)
        form.locator("textarea[name=reason_text]").fill(note)
    if shot:
        journey.shot(page, shot)
    form.locator("input[type=submit]").click()
    page.locator(".messagelist .success").first.wait_for()
