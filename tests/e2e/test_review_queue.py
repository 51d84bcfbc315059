"""The template review queue in a real browser: a reviewer with 60 pending templates (long texts,
long shop names, one overdue) sees the queues' counts on the admin home, every column, the overdue
mark and the 审核 button at 1440x900 without scrolling sideways, bulk-approves the templates
without findings and reads the audit trail. Every admin page is checked at 1440x900
(tests/e2e/page_checks.py: overflow, raw template syntax)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from reviews.models import MessageTemplate
from reviews.models.review import ReviewState
from reviews.services.templates import template_submit
from tests.e2e.steps import check_admin
from tests.factories import PASSWORD, make_reviewer, make_shop, make_user

JOURNEY = "review_queue"
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
QUEUE = "/admin/reviews/messagetemplate/"
PER_PAGE = 20  # ReviewWorkbenchAdmin.list_per_page

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

OFFER = "全场新品限时八折，会员再享九五折，满三百元再减三十元，活动期间每天上新，欢迎进店选购。"
CLEAN = "${shop_name}送您${coupon_amount}优惠券，${coupon_threshold}，${coupon_expiry}前有效。" + OFFER * 2
FLAGGED = "${shop_name}新品首发，" + OFFER * 2 + "领券：${coupon_link}"  # 首发: a TPL-ADLAW warning


def sixty_pending() -> tuple[MessageTemplate, list[MessageTemplate]]:
    """60 pending templates of 12 shops with long names; every sixth has a finding; the first is overdue."""
    owner = make_user("dora")
    name = "朵拉家居生活馆第{}分店（官方授权旗舰店·华东华南西南区域总代理）"
    shops = [make_shop(name.format(i), owner=owner) for i in range(12)]
    templates = []
    for i in range(60):
        text = FLAGGED if i % 6 == 5 else CLEAN
        templates.append(template_submit(shop=shops[i % 12], by=owner, name=f"双11会员券第{i}号模板",
                                         use="coupon", message_class="marketing", text=text))  # fmt: skip
    overdue = templates[0]
    MessageTemplate.objects.filter(pk=overdue.pk).update(due_at=timezone.now() - timedelta(hours=2))
    return overdue, templates


def boxes(page, selector: str) -> list[dict]:
    return page.locator(selector).evaluate_all(
        "els => els.map(e => { const r = e.getBoundingClientRect(); return {left: r.left, right: r.right}; })"
    )


def test_a_reviewer_works_the_template_queue_at_1440_and_on_a_phone(journey):
    overdue, templates = sixty_pending()
    make_reviewer("rita")

    page = journey.open(viewport=DESKTOP)
    journey.login(page, "rita", PASSWORD, admin=True)
    # The admin home: pending and overdue counts of each queue, linking to it.
    row = page.locator("#review-queues tr[data-queue*=messagetemplate]")
    assert row.locator(".queue-pending").inner_text() == "60"
    assert "1" in row.locator(".queue-overdue").inner_text()
    check_admin(journey, page, "admin-home-1440")
    row.locator(".queue-overdue").click()
    journey.ready(page)
    assert page.locator("#result_list tbody tr").count() == 1
    page.goto(QUEUE)
    journey.ready(page)
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == PER_PAGE

    text = page.inner_text("body")
    assert not [mark for mark in ("{#", "{%", "{{") if mark in text], "raw template syntax on the page"
    widths = page.evaluate("""() => {
        const results = document.querySelector('#changelist .results');
        const doc = document.documentElement;
        return {results: [results.scrollWidth, results.clientWidth], doc: [doc.scrollWidth, doc.clientWidth]};
    }""")
    assert widths["results"][0] <= widths["results"][1], f"the results table scrolls sideways: {widths}"
    assert widths["doc"][0] <= widths["doc"][1], f"the page scrolls sideways: {widths}"

    decide = boxes(page, "#result_list tbody tr a.review-decide")
    assert len(decide) == PER_PAGE
    assert all(0 <= box["left"] and box["right"] <= DESKTOP["width"] for box in decide), decide
    marks = boxes(page, "#result_list tbody tr .review-overdue")
    assert len(marks) == 1 and 0 <= marks[0]["left"] and marks[0]["right"] <= DESKTOP["width"], marks
    first = rows.first
    assert first.locator(".review-overdue").count() == 1  # the overdue one leads (earliest due)
    assert f"#{overdue.shop_id}" in first.inner_text()
    for header in ("内容", "店铺 / 类目", "截止 / 提交", "自动检查", "操作 / 状态"):
        cell = page.locator("#result_list thead th", has_text=header).first
        box = cell.bounding_box()
        assert box is not None and box["x"] + box["width"] <= DESKTOP["width"], header
    check_admin(journey, page, "queue-1440")
    page.screenshot(path=str(journey.folder / "queue-1440-screen.png"))  # what the reviewer sees first

    # The whole text is on the decision page.
    first.locator("a.review-decide").click()
    page.locator("#review-decide-form").wait_for()
    assert OFFER * 2 in page.inner_text("#review-panel")
    check_admin(journey, page, "decide-1440")

    # Bulk approve the page: the templates with findings are skipped, the others approved.
    page.goto(QUEUE)
    page.check("#action-toggle")
    page.select_option("select[name=action]", "bulk_approve")
    with page.expect_navigation():
        page.click("button[name=index]")
    page.locator(".messagelist .success").first.wait_for()
    check_admin(journey, page, "bulk-approved")
    on_page = templates[:PER_PAGE]  # the queue's order: by due time, then id
    flagged = {t.pk for t in on_page if t.text == FLAGGED}
    states = dict(MessageTemplate.objects.filter(pk__in=[t.pk for t in templates]).values_list("pk", "state"))
    assert {pk for pk, state in states.items() if state == ReviewState.APPROVED} == {
        t.pk for t in on_page if t.pk not in flagged
    }
    assert all(states[pk] == ReviewState.PENDING for pk in flagged)
    assert all(states[t.pk] == ReviewState.PENDING for t in templates[PER_PAGE:])
    assert "有自动检查发现，需逐条审核" in page.inner_text(".messagelist")

    # The audit trail: 60 submissions and the approvals, every column on the screen at 1440.
    page.goto("/admin/reviews/reviewdecision/")
    journey.ready(page)
    check_admin(journey, page, "audit-trail-1440")
    assert "模板" in page.inner_text("#result_list tbody tr >> nth=0")
    for header in ("时间", "类型", "内容快照", "店铺", "操作", "状态变化", "操作人", "原因"):
        cell = page.locator("#result_list thead th", has_text=header).first
        box = cell.bounding_box()
        assert box is not None and box["x"] + box["width"] <= DESKTOP["width"], header
    page.click("#changelist-filter >> text=签名")
    journey.ready(page)
    assert page.locator("#result_list tbody tr").count() == 0 or "签名" in page.inner_text("#result_list")

    # On a phone the admin's responsive layout stacks the page; the table scrolls inside its box.
    phone = journey.open(viewport=PHONE)
    journey.login(phone, "rita", PASSWORD, admin=True)
    phone.goto(QUEUE)
    journey.ready(phone)
    still_pending = len(flagged) + len(templates) - PER_PAGE
    assert phone.locator("#result_list tbody tr").count() == min(still_pending, PER_PAGE)
    journey.shot(phone, "queue-390")
    phone.screenshot(path=str(journey.folder / "queue-390-screen.png"))
    journey.assert_console_clean()
