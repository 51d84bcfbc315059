"""Journey: a reviewer-taught rule (issue 24). A merchant writes 小飞机 (slang for Telegram) that no
list knows. Reviewer rita rejects the template, selecting 小飞机 in its text with the mouse and
picking TPL-OFFSITE; the proposal waits for a second reviewer. Rita cannot publish her own
proposal; sam sees the dry run (pending and recently reviewed templates it would flag) and
publishes it. The rejected template checked again now has the finding, and the merchant's next
submission with the same trick is stopped in the editor.

Every page is checked at 1440x900 and at 390x844 (``journey.check_both``)."""

from __future__ import annotations

import pytest

from reviews.models import RuleProposal, WordList
from reviews.services.templates import template_current_findings, template_submit
from tests.campaigns.campaign_fixtures import live_signature_for
from tests.e2e.page_checks import DESKTOP
from tests.factories import PASSWORD, make_active_account, make_reviewer, make_shop, make_user

JOURNEY = "rule-teaching"

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TRICK = "小飞机"
TEXT = "新品上市，下单后加小飞机：dora888，领专属福利，${coupon_link}"


def select_with_mouse(page, part: str) -> None:
    """Drag the mouse over ``part`` in the decision page's selectable text, as a reviewer does."""
    box = page.evaluate(
        """(part) => {
            document.getElementById('teach-text').scrollIntoView({block: 'center'});
            for (const seg of document.querySelectorAll('#teach-text .teach-seg')) {
                const node = seg.firstChild, at = node.data.indexOf(part);
                if (at < 0) continue;
                const range = document.createRange();
                range.setStart(node, at);
                range.setEnd(node, at + part.length);
                const r = range.getBoundingClientRect();
                return {left: r.left, right: r.right, y: r.top + r.height / 2};
            }
            return null;
        }""",
        part,
    )
    assert box, f"{part} is not in the selectable text"
    page.mouse.move(box["left"] + 1, box["y"])
    page.mouse.down()
    page.mouse.move((box["left"] + box["right"]) / 2, box["y"], steps=3)
    page.mouse.move(box["right"] - 1, box["y"], steps=3)
    page.mouse.up()


def test_a_reviewer_teaches_a_rule_that_a_second_reviewer_publishes(journey):
    dora = make_user("dora")
    shop = make_shop("朵拉家居", owner=dora)
    rita, sam = make_reviewer("rita"), make_reviewer("sam")
    make_active_account(shop, balance=1000, user=dora)
    live_signature_for(shop, dora, rita, text="朵拉家居")
    # Another shop already tries the same trick: the dry run will count it among pending items.
    other_owner = make_user("olga")
    other = make_shop("奥尔加服饰", owner=other_owner)
    template_submit(shop=other, by=other_owner, name="关注券", use="coupon", message_class="marketing",
                    text="关注店铺，加小飞机领券：${coupon_link}")  # fmt: skip
    tricky = template_submit(shop=shop, by=dora, name="新品福利券", use="coupon", message_class="marketing",
                             text=TEXT)  # fmt: skip
    assert template_current_findings(tricky) == []  # no list knows the trick yet
    version_before = WordList.objects.get(rule="TPL-OFFSITE").version

    # Rita rejects it, selecting the trick in the text and picking the rule.
    reviewer = journey.open(viewport=DESKTOP)
    journey.login(reviewer, "rita", PASSWORD, admin=True)
    reviewer.goto("/admin/reviews/messagetemplate/")
    row = reviewer.locator("#result_list tbody tr", has_text="新品福利券")
    row.locator("a.button", has_text="审核").click()
    journey.ready(reviewer)
    reviewer.locator("#teach-text").wait_for()
    journey.check_both(reviewer, "decide-page", merchant=False)
    select_with_mouse(reviewer, TRICK)
    assert reviewer.inner_text("#teach-selected") == TRICK
    start = int(reviewer.input_value("#id_teach-start"))
    assert TEXT[start : int(reviewer.input_value("#id_teach-end"))] == TRICK
    assert reviewer.is_checked("#review-decide-form input[value=reject]")  # selecting means rejecting
    reviewer.select_option("#id_teach-rule", "TPL-OFFSITE")
    reviewer.check("#id_teach-kind input[value=term]")
    reviewer.select_option("select[name=reason_code]", "offsite")
    reviewer.fill("textarea[name=reason_text]", "“小飞机”指境外聊天软件，请勿引导到站外。")
    journey.check_both(reviewer, "decide-span-selected", merchant=False)
    reviewer.click("#review-decide-form input[type=submit]")
    reviewer.locator(".messagelist .success", has_text="规则提案").wait_for()
    tricky.refresh_from_db()
    proposal = RuleProposal.objects.get()
    assert tricky.state == "rejected" and (proposal.text, proposal.rule, proposal.status) == (
        TRICK, "TPL-OFFSITE", "pending")  # fmt: skip
    journey.check_both(reviewer, "rejected-with-proposal", merchant=False)

    # Her own proposal: she can read it but not publish it.
    reviewer.goto(f"/admin/reviews/ruleproposal/{proposal.pk}/change/")
    journey.ready(reviewer)
    assert "需由另一位审核员复核" in reviewer.inner_text("#proposal-own")
    assert reviewer.locator("#proposal-publish").count() == 0
    journey.check_both(reviewer, "proposal-own", merchant=False)

    # Sam opens the proposals queue, sees the dry run, then publishes.
    second = journey.open(viewport=DESKTOP)
    journey.login(second, "sam", PASSWORD, admin=True)
    second.goto("/admin/reviews/ruleproposal/")
    journey.ready(second)
    journey.check_both(second, "proposals-queue", merchant=False)
    second.locator("#result_list tbody tr", has_text=TRICK).locator("a", has_text=TRICK).click()
    journey.ready(second)
    pending = second.inner_text("#dry-run-pending")
    reviewed = second.inner_text("#dry-run-reviewed")
    assert "1 / 1 条会被命中" in pending  # the other shop's pending template
    assert "1 / 1 条会被命中" in reviewed and "已通过的 0 条" in reviewed  # rita's rejected one
    assert "会被命中" in second.inner_text("#dry-run-source")
    journey.check_both(second, "proposal-dry-run", merchant=False)
    second.click("#proposal-publish")
    second.locator(".messagelist .success", has_text="已发布规则提案").wait_for()
    journey.check_both(second, "proposal-published", merchant=False)
    proposal.refresh_from_db()
    assert (proposal.status, proposal.decided_by, proposal.published_version) == (
        "published", sam, version_before + 1)  # fmt: skip
    assert (proposal.dry_run_pending, proposal.dry_run_reviewed, proposal.dry_run_approved) == (1, 1, 0)

    # The same item checked again has the new finding (its review page runs the rules now).
    reviewer.goto(f"/admin/reviews/messagetemplate/{tricky.pk}/decide/")
    journey.ready(reviewer)
    assert "TPL-OFFSITE" in reviewer.inner_text("#review-findings")
    journey.check_both(reviewer, "same-item-rechecked", merchant=False)

    # The merchant tries the trick again in a new template: the editor stops it.
    merchant = journey.open()
    journey.login(merchant, "dora", PASSWORD)
    merchant.click("nav.sidenav >> text=短信模板")
    merchant.click("#new-template")
    journey.ready(merchant)
    merchant.fill("#id_name", "周末福利券")
    area = merchant.locator("#id_text")
    area.click()
    area.type("周末福利，加 小 飞 机 领取惊喜，")
    merchant.click("#variable-picker button[data-token='${coupon_link}']")
    finding = merchant.locator("#template-findings li[data-rule=TPL-OFFSITE]")
    finding.wait_for()
    assert "小 飞 机" in merchant.inner_text("#marked-text mark")
    assert merchant.is_disabled("#submit-template")
    journey.check_both(merchant, "editor-trick-caught")
    journey.assert_console_clean()
