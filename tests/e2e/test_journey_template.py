"""Journey 2: a custom template written with the variable picker, rejected with a reason, fixed, approved."""

from __future__ import annotations

import pytest

from reviews.models.templates import MessageTemplate
from tests.campaigns.campaign_fixtures import live_signature_for
from tests.e2e.steps import review_in_admin
from tests.factories import PASSWORD, make_active_account, make_reviewer, make_shop, make_user

JOURNEY = "template"

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def insert_variable(page, token: str) -> None:
    page.click(f"#variable-picker button[data-token='{token}']")


def test_it_takes_a_custom_template_through_rejection_to_approval(journey):
    dora = make_user("dora")
    shop = make_shop("朵拉家居", owner=dora)
    rita = make_reviewer("rita")
    make_active_account(shop, balance=1000, user=dora)
    live_signature_for(shop, dora, rita, text="朵拉家居")

    merchant = journey.open()
    journey.login(merchant, "dora", PASSWORD)
    merchant.click("nav.sidenav >> text=短信模板")
    merchant.locator("#official-templates").wait_for()
    journey.shot(merchant, "templates-empty")

    # Write the text, inserting variables with the picker, never typing them.
    merchant.click("#new-template")
    journey.ready(merchant)
    merchant.fill("#id_name", "双11会员券")
    area = merchant.locator("#id_text")
    area.click()
    area.type("双11狂欢，全网最低价！送您一张")
    insert_variable(merchant, "${coupon_amount}")
    area.press("End")
    area.type("优惠券，")
    insert_variable(merchant, "${coupon_threshold}")
    area.press("End")
    area.type("，点击")
    insert_variable(merchant, "${coupon_link}")
    area.press("End")
    area.type("领取。")
    merchant.locator("#template-findings li[data-rule=TPL-ADLAW]").wait_for()
    assert "全网最低价" in merchant.inner_text("#marked-text mark")
    assert merchant.is_disabled("#submit-template")
    preview = merchant.inner_text("#template-preview .phone")
    assert preview.startswith("【朵拉家居】") and "拒收请回复R" in preview and "${" not in preview
    parts = int(merchant.inner_text("#msg-parts"))
    length = int(merchant.inner_text("#msg-length"))
    assert parts == (1 if length <= 70 else -(-length // 67))
    journey.shot(merchant, "editor-finding")

    # Fix the word the checker marked; the submit button comes back.
    area.fill(area.input_value().replace("全网最低价", "好价不等人"))
    area.press("End")
    merchant.locator("#template-findings .badge.ok").wait_for()
    assert merchant.is_enabled("#submit-template")
    journey.shot(merchant, "editor-clean")
    merchant.click("#submit-template")
    merchant.get_by_text("已提交审核").wait_for()
    first = MessageTemplate.objects.get(shop=shop)
    assert first.state == "pending" and "${coupon_amount}" in first.text
    journey.shot(merchant, "templates-pending")

    # The reviewer rejects it with a reason.
    reviewer = journey.open()
    journey.login(reviewer, rita.username, PASSWORD, admin=True)
    review_in_admin(
        journey, reviewer, queue="reviews/messagetemplate", item="双11会员券", approve=False,
        reason="typo", note="“好价不等人”语句不通，请改为“好价限时抢”。", shot="admin-template-reject",
    )
    first.refresh_from_db()
    assert first.state == "rejected" and first.reason_code == "typo"

    # The merchant reads the reason, edits (a new version) and resubmits.
    merchant.reload()
    row = merchant.locator(f"#template-{first.pk}")
    assert "驳回" in row.inner_text() and "好价限时抢" in row.inner_text()
    journey.shot(merchant, "templates-rejected")
    row.locator("text=修改").click()
    journey.ready(merchant)
    area = merchant.locator("#id_text")
    assert "好价不等人" in area.input_value()
    area.fill(area.input_value().replace("好价不等人", "好价限时抢"))
    area.press("End")
    merchant.locator("#template-findings .badge.ok").wait_for()
    journey.shot(merchant, "editor-v2")
    merchant.click("#submit-template")
    merchant.get_by_text("已提交审核").wait_for()
    second = MessageTemplate.objects.get(shop=shop, version=2)
    assert second.state == "pending" and "好价限时抢" in second.text

    review_in_admin(journey, reviewer, queue="reviews/messagetemplate", item="双11会员券", approve=True,
                    shot="admin-template-approve")
    second.refresh_from_db()
    assert second.state == "approved" and second.decided_by == rita

    merchant.reload()
    row = merchant.locator(f"#template-{second.pk}")
    assert "v2" in row.inner_text() and "已通过" in row.inner_text()
    journey.shot(merchant, "templates-approved")
    journey.assert_console_clean()
