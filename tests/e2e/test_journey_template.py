"""Journey 2: a custom template written with the variable picker, rejected with a reason, fixed, approved.

Every merchant page is checked at 1440x900 and at 390x844 (tests/e2e/page_checks.py), the
reviewer's admin pages at 1440x900."""

from __future__ import annotations

import pytest

from reviews.models.templates import MessageTemplate
from tests.campaigns.campaign_fixtures import live_signature_for
from tests.e2e.page_checks import DESKTOP
from tests.e2e.steps import check_admin, review_in_admin
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
    # The official examples speak of the merchant's own shop, never another one.
    examples = merchant.inner_text("#official-templates")
    assert "朵拉家居" in examples and "爱丽丝" not in examples and "${" not in examples
    journey.check_both(merchant, "templates-empty")

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
    merchant.locator("#template-preview .phone", has_text="领取。").wait_for()  # the last check is back
    assert "全网最低价" in merchant.inner_text("#marked-text mark")
    # The checked text and the legend name the variables; the tokens stay in the box only.
    checked = merchant.inner_text("#marked-text")
    assert "使用门槛" in checked and "${" not in checked
    assert "使用门槛" in merchant.inner_text("#variable-legend")
    assert merchant.is_disabled("#submit-template")
    disabled = merchant.eval_on_selector("#submit-template", "b => getComputedStyle(b).cursor")
    assert disabled == "not-allowed"  # and greyed: a disabled button looks disabled
    preview = merchant.inner_text("#template-preview .phone")
    assert preview.startswith("【朵拉家居】") and "拒收请回复R" in preview and "${" not in preview
    assert "https://3.cn/2aBcD4e 领取" in preview  # the link ends before the text after it
    parts = int(merchant.inner_text("#msg-parts"))
    length = int(merchant.inner_text("#msg-length"))
    assert parts == (1 if length <= 70 else -(-length // 67))
    journey.check_both(merchant, "editor-finding")

    # Fix the word the checker marked; half-width marks typed after it are one finding,
    # converted to Chinese punctuation in one click.
    area.fill(area.input_value().replace("全网最低价", "好价不等人").replace("领取。", "领取, 快来抢购!"))
    area.press("End")
    punct = merchant.locator("#template-findings li[data-rule=TPL-PUNCT]")
    punct.wait_for()
    assert punct.count() == 1 and "2处" in punct.inner_text()
    journey.check_both(merchant, "editor-punctuation")
    merchant.click("#punct-convert")
    merchant.locator("#template-findings .badge.ok").wait_for()
    assert area.input_value().endswith("领取， 快来抢购！")
    assert merchant.is_enabled("#submit-template")
    journey.check_both(merchant, "editor-clean")
    merchant.click("#submit-template")
    merchant.get_by_text("已提交审核").wait_for()
    first = MessageTemplate.objects.get(shop=shop)
    assert first.state == "pending" and "${coupon_amount}" in first.text and "快来抢购！" in first.text
    journey.check_both(merchant, "templates-pending")

    # 撤回申请 says what it would do; the merchant keeps the application.
    merchant.locator(f"#template-{first.pk} a.withdraw-link").click()
    merchant.locator("#withdraw-confirm").wait_for()
    assert "没有已通过的版本" in merchant.inner_text("#withdraw-confirm")
    journey.check_both(merchant, "withdraw-confirm")
    merchant.click("#confirm-cancel")
    merchant.locator("#my-templates").wait_for()
    first.refresh_from_db()
    assert first.state == "pending"

    # The reviewer sees the queues on the admin home, then rejects it with a reason.
    reviewer = journey.open(viewport=DESKTOP)
    journey.login(reviewer, rita.username, PASSWORD, admin=True)
    assert reviewer.inner_text("#review-queues tr[data-queue*=messagetemplate] .queue-pending") == "1"
    check_admin(journey, reviewer, "admin-home")
    review_in_admin(
        journey, reviewer, queue="reviews/messagetemplate", item="双11会员券", approve=False,
        reason="typo", note="“好价不等人”语句不通，请改为“好价限时抢”。", shot="admin-template-reject",
    )
    check_admin(journey, reviewer, "admin-template-rejected")
    first.refresh_from_db()
    assert first.state == "rejected" and first.reason_code == "typo"

    # The merchant reads the reason, edits (a new version) and resubmits.
    merchant.reload()
    row = merchant.locator(f"#template-{first.pk}")
    assert "驳回" in row.inner_text() and "好价限时抢" in row.inner_text()
    journey.check_both(merchant, "templates-rejected")
    row.locator("text=修改").click()
    journey.ready(merchant)
    area = merchant.locator("#id_text")
    assert "好价不等人" in area.input_value()
    area.fill(area.input_value().replace("好价不等人", "好价限时抢"))
    area.press("End")
    merchant.locator("#template-findings .badge.ok").wait_for()
    journey.check_both(merchant, "editor-v2")
    merchant.click("#submit-template")
    merchant.get_by_text("已提交审核").wait_for()
    second = MessageTemplate.objects.get(shop=shop, version=2)
    assert second.state == "pending" and "好价限时抢" in second.text

    review_in_admin(journey, reviewer, queue="reviews/messagetemplate", item="双11会员券", approve=True,
                    shot="admin-template-approve")
    check_admin(journey, reviewer, "admin-template-approved")
    second.refresh_from_db()
    assert second.state == "approved" and second.decided_by == rita

    # The audit trail names the kind in Chinese and shows every column at 1440.
    reviewer.goto("/admin/reviews/reviewdecision/")
    journey.ready(reviewer)
    assert "模板" in reviewer.inner_text("#result_list tbody tr >> nth=0")
    check_admin(journey, reviewer, "admin-audit-trail")

    merchant.reload()
    row = merchant.locator(f"#template-{second.pk}")
    assert "v2" in row.inner_text() and "已通过" in row.inner_text()
    journey.check_both(merchant, "templates-approved")
    journey.assert_console_clean()
