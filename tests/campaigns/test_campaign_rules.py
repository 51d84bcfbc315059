"""Campaign rules: quiet hours defer, dispatch re-validates, balance limits, cancel, test SMS."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from django_q.models import Schedule
from django_q.scheduler import scheduler

from campaigns.models import Campaign, CampaignRun, Message, ShopCounter
from campaigns.services.campaigns import (
    CampaignContentRejected,
    CampaignInvalid,
    CampaignStateError,
    UnverifiedTestPhone,
    campaign_cancel,
    campaign_create,
    campaign_preview,
    campaign_schedule,
    campaign_send_test,
    verified_phone_confirm,
    verified_phone_request,
)
from campaigns.services.delivery import delivery_settle
from campaigns.services.optouts import optout_record
from campaigns.services.planning import run_plan
from campaigns.services.sending import run_execute
from reviews.models import MessageTemplate, Signature
from reviews.services.signatures import signature_approve, signature_submit
from smsmarketing.errors import CategoryRestricted
from smsmarketing.models import SmsAccount
from smsmarketing.services import account_adjust
from tests.campaigns.campaign_fixtures import (
    MARKETING_TEXT,
    MORNING,
    SH,
    assert_ledger_clean,
    phones,
)
from tests.factories import make_approved_template, make_coupon


def draft(shop, user, **kwargs):
    return campaign_create(shop=shop, user=user, kind="marketing", name="t", text=MARKETING_TEXT, **kwargs)


def test_it_defers_marketing_scheduled_in_quiet_hours_to_8_oclock(
    ready_shop,
    alice,
    django_capture_on_commit_callbacks,
):
    night = datetime(2026, 6, 1, 22, 0, tzinfo=SH)
    with time_machine.travel(night, tick=False):
        campaign = draft(ready_shop, alice)
        with django_capture_on_commit_callbacks(execute=True):
            campaign_schedule(campaign=campaign, user=alice)
    assert not Message.objects.exists()
    resume = Schedule.objects.get(name__endswith="-resume")
    assert resume.next_run == datetime(2026, 6, 2, 8, 0, tzinfo=SH)
    with time_machine.travel(datetime(2026, 6, 2, 8, 0, 30, tzinfo=SH), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            scheduler()
    assert Message.objects.filter(status__in=["delivered", "failed"]).count() == 20
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    assert_ledger_clean()


def test_it_revalidates_at_dispatch_and_uses_the_signature_live_then(
    ready_shop,
    alice,
    reviewer,
    django_capture_on_commit_callbacks,
):
    with time_machine.travel(MORNING, tick=False):
        campaign = draft(ready_shop, alice)
        campaign_schedule(campaign=campaign, user=alice, at=MORNING + timedelta(hours=1))
        run = CampaignRun.objects.get(campaign=campaign)
        run_execute_plan_only(run)
        assert Message.objects.filter(run=run, status="planned").count() == 20
        # After planning: one customer opts out and the shop's new signature is approved.
        optout_record(shop_id=ready_shop.pk, phone=phones(1, 5)[0], keyword="TD", source="sms_reply")
        signature_approve(
            signature=signature_submit(shop=ready_shop, text="爱丽丝", by=alice), reviewer=reviewer
        )
        with django_capture_on_commit_callbacks(execute=True):
            assert run_execute(run_id=run.pk) == "finished"
    dropped = Message.objects.get(run=run, phone=phones(1, 5)[0])
    assert (dropped.status, dropped.reason, dropped.settlement) == ("dropped", "OPTED-OUT", "released")
    sent = Message.objects.filter(run=run).exclude(pk=dropped.pk)
    assert all(m.text.startswith("【爱丽丝】") for m in sent)
    assert ShopCounter.objects.get(shop=ready_shop, phone=int(dropped.phone)).marketing == 0
    assert_ledger_clean()


def run_execute_plan_only(run):
    CampaignRun.objects.filter(pk=run.pk).update(status=CampaignRun.Status.PLANNING)
    Campaign.objects.filter(pk=run.campaign_id).update(status=Campaign.Status.RUNNING, started_at=MORNING)
    assert run_plan(run_id=run.pk) is True


def test_it_sends_what_the_balance_covers_and_suppresses_the_rest(
    ready_shop,
    alice,
    django_capture_on_commit_callbacks,
):
    account_adjust(shop_id=ready_shop.pk, amount=-995, reason="测试", actor=None)
    with time_machine.travel(MORNING, tick=False):
        campaign = draft(ready_shop, alice)
        with django_capture_on_commit_callbacks(execute=True):
            campaign_schedule(campaign=campaign, user=alice)
    messages = Message.objects.filter(campaign=campaign)
    assert messages.exclude(status="suppressed").count() == 5
    assert messages.filter(status="suppressed", reason="INSUFFICIENT-BALANCE").count() == 15
    account = SmsAccount.objects.get(shop=ready_shop)
    assert account.reserved == 0 and account.balance == messages.filter(status="failed").count()
    assert_ledger_clean()


def test_it_cancels_until_the_campaign_starts(ready_shop, alice, django_capture_on_commit_callbacks):
    with time_machine.travel(MORNING, tick=False):
        campaign = draft(ready_shop, alice)
        campaign_schedule(campaign=campaign, user=alice, at=MORNING + timedelta(hours=2))
        campaign_cancel(campaign=campaign, user=alice)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.CANCELLED
    assert not Schedule.objects.filter(name__startswith=f"campaign-{campaign.pk}-").exists()
    assert CampaignRun.objects.get(campaign=campaign).status == CampaignRun.Status.CANCELLED
    started = draft(ready_shop, alice)
    with time_machine.travel(MORNING, tick=False), django_capture_on_commit_callbacks(execute=True):
        campaign_schedule(campaign=started, user=alice)
    with pytest.raises(CampaignStateError):
        campaign_cancel(campaign=started, user=alice)


def test_it_sends_a_test_sms_that_counts_toward_caps_and_is_charged(
    ready_shop,
    pipeline_settings,
    alice,
    django_capture_on_commit_callbacks,
):
    pipeline_settings.SMS_GATEWAY = {
        "BACKEND": "campaigns.gateways.simulated.SimulatedGateway",
        "OPTIONS": {},
    }
    mine = "13912345678"
    with time_machine.travel(MORNING, tick=False):
        campaign = draft(ready_shop, alice)
        with pytest.raises(UnverifiedTestPhone):
            campaign_send_test(campaign=campaign, user=alice, phone=mine)
        code = verified_phone_request(shop=ready_shop, user=alice, phone=mine)
        with pytest.raises(CampaignInvalid):
            verified_phone_confirm(
                shop=ready_shop, user=alice, phone=mine, code="000000" if code != "000000" else "1"
            )
        verified_phone_confirm(shop=ready_shop, user=alice, phone=mine, code=code)
        with django_capture_on_commit_callbacks(execute=True):
            run = campaign_send_test(campaign=campaign, user=alice, phone=mine)
        delivery_settle()
        message = Message.objects.get(run=run)
        assert (message.phone, message.status, message.settlement) == (mine, "delivered", "charged")
        assert ShopCounter.objects.get(shop=ready_shop, phone=int(mine)).marketing == 1
        assert SmsAccount.objects.get(shop=ready_shop).balance == 1000 - message.parts
        again = campaign_send_test(campaign=campaign, user=alice, phone=mine)
        run_execute(run_id=again.pk)
        assert Message.objects.get(run=again).reason == "FREQ-SHOP-2DAY"
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert_ledger_clean()


def test_it_refuses_text_that_fails_the_content_rules_and_restricted_shops(
    ready_shop, alice, charlie, charlie_shop
):
    with pytest.raises(CampaignContentRejected) as refused:
        campaign_create(
            shop=ready_shop, user=alice, kind="marketing", name="t", text="全网最低价，加微信abc123领取"
        )
    assert {f.rule for f in refused.value.findings} >= {"TPL-ADLAW", "TPL-OFFSITE"}
    with pytest.raises(CategoryRestricted):
        campaign_create(shop=charlie_shop, user=charlie, kind="marketing", name="t", text=MARKETING_TEXT)
    assert not Campaign.objects.exists()


def test_it_previews_the_message_as_received(ready_shop, alice):
    text, parts = campaign_preview(campaign=draft(ready_shop, alice))
    assert text == f"【爱丽丝服饰】{MARKETING_TEXT}拒收请回复R" and parts == 1


def test_it_refuses_a_template_whose_variables_this_campaign_cannot_fill(ready_shop, alice):
    text = "${shop_name}的${product_name}上新了，送您${coupon_amount}优惠券，点击${coupon_link}领取。"
    template = make_approved_template(ready_shop, text=text)
    coupon = make_coupon(ready_shop, user=alice)
    with pytest.raises(CampaignInvalid) as refused:
        campaign_create(
            shop=ready_shop, user=alice, kind="coupon", name="x", template=template, coupon=coupon
        )
    assert "商品名称" in refused.value.message or "product_name" in refused.value.message
    assert not Campaign.objects.exists()


def test_it_refuses_a_test_sms_in_quiet_hours(ready_shop, alice):
    with time_machine.travel(datetime(2026, 6, 1, 22, 30, tzinfo=SH), tick=False):
        with pytest.raises(CampaignInvalid):
            campaign_send_test(campaign=draft(ready_shop, alice), user=alice, phone="13912345678")
    assert not CampaignRun.objects.exists()


def test_it_drops_planned_messages_when_the_template_or_signature_is_gone_at_dispatch(
    ready_shop, alice, django_capture_on_commit_callbacks
):
    with time_machine.travel(MORNING, tick=False):
        template = make_approved_template(ready_shop, at=MORNING)
        coupon = make_coupon(ready_shop, user=alice, valid_from=MORNING, days=7)
        campaigns = []
        for name in ("模板失效", "签名失效"):
            campaign = campaign_create(
                shop=ready_shop, user=alice, kind="coupon", name=name, template=template, coupon=coupon
            )
            campaign_schedule(campaign=campaign, user=alice, at=MORNING + timedelta(hours=1))
            campaigns.append(campaign)
        first_run = CampaignRun.objects.get(campaign=campaigns[0])
        run_execute_plan_only(first_run)
        MessageTemplate.objects.filter(pk=template.pk).update(state="withdrawn")
        with django_capture_on_commit_callbacks(execute=True):
            assert run_execute(run_id=first_run.pk) == "finished"
    assert set(Message.objects.filter(run=first_run).values_list("status", "reason", "settlement")) == {
        ("dropped", "TEMPLATE-NOT-APPROVED", "released")
    }
    MessageTemplate.objects.filter(pk=template.pk).update(state="approved")
    with time_machine.travel(MORNING + timedelta(days=3), tick=False):  # past FREQ-SHOP-2DAY of the first
        second_run = CampaignRun.objects.get(campaign=campaigns[1])
        run_execute_plan_only(second_run)
        Signature.objects.filter(shop=ready_shop).update(state="withdrawn")
        with django_capture_on_commit_callbacks(execute=True):
            run_execute(run_id=second_run.pk)
    planned = Message.objects.filter(run=second_run).exclude(status="suppressed")
    assert planned.count() == 20
    assert set(planned.values_list("status", "reason", "settlement")) == {
        ("dropped", "NO-SIGNATURE", "released")
    }
    account = SmsAccount.objects.get(shop=ready_shop)
    assert (account.balance, account.reserved) == (1000, 0)
    assert not ShopCounter.objects.filter(shop=ready_shop, marketing__gt=0).exists()
    assert_ledger_clean()
