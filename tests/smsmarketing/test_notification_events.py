"""Where each notification is raised: at the point its event becomes true, inside that action's
transaction, once per event and recipient, with its Chinese text (docs/NOTIFICATIONS.md, "Events").

alice owns the shop (with an e-mail address), olga operates it: review and campaign notices go
to both, balance and recharge notices to the owner only (the role defaults of the notify core)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from django.db import transaction
from django_q.models import Schedule

from reviews.models import RejectReason, ReviewDecision, Signature
from reviews.services.notices import review_decision_notify, review_overdue_sweep
from reviews.services.signatures import (
    signature_approve,
    signature_bulk_approve,
    signature_reject,
    signature_submit,
)
from reviews.services.templates import (
    template_approve,
    template_bulk_approve,
    template_reject,
    template_submit,
)
from smsmarketing.models import MailDelivery, Notification, RechargePackage, SmsAccount
from smsmarketing.services import account_adjust, account_grant, account_reserve
from smsmarketing.services.notifications import notification_mail
from smsmarketing.services.recharge import recharge_order_complete, recharge_order_create
from tests.campaigns.campaign_fixtures import (
    SH,
)
from tests.factories import make_active_account
from tests.smsmarketing.notice_helpers import make_team, notices, one_notice

pytestmark = pytest.mark.django_db

Kind = Notification.Kind
TEMPLATE_TEXT = (
    "${shop_name}送您一张${coupon_amount}优惠券，${coupon_threshold}，"
    "有效期至${coupon_expiry}，点击${coupon_link}领取。"
)


@pytest.fixture
def team(alice, alice_shop):
    return make_team(alice, alice_shop)


def submit_template(shop, user, name="双11优惠券提醒"):
    return template_submit(shop=shop, by=user, name=name, use="coupon", message_class="marketing",
                           text=TEMPLATE_TEXT)  # fmt: skip


# --- reviews -------------------------------------------------------------------------------


def test_it_tells_the_shop_a_signature_was_rejected_with_the_reason_and_mails_it(
    alice_shop, team, reviewer, django_capture_on_commit_callbacks
):
    signature = signature_submit(shop=alice_shop, text="爱丽丝服饰", by=team["alice"])
    with django_capture_on_commit_callbacks() as callbacks:
        signature_reject(
            signature=signature, reviewer=reviewer, reason_code=RejectReason.SHOP_MISMATCH,
            reason_text="签名需与店铺名称一致，请提交店铺名称或其简称",
        )  # fmt: skip
    notice = one_notice(Kind.SIGNATURE_REJECTED)
    decision = ReviewDecision.objects.get(item_id=signature.pk, action="reject")
    assert notice.event_key == f"signature_rejected:{decision.pk}"
    assert notice.title == "审核未通过：短信签名【爱丽丝服饰】（签名与店铺名称不符）"
    assert notice.body == (
        "很抱歉，您提交的短信签名【爱丽丝服饰】未通过审核。驳回原因：签名与店铺名称不符。"
        "审核说明：签名需与店铺名称一致，请提交店铺名称或其简称。当前生效的签名（如有）继续使用。"
        "请按驳回原因修改后重新提交。"
    )
    assert notice.link == f"/shop/{alice_shop.pk}/signature/"
    mails = MailDelivery.objects.select_related("notification").order_by("to")
    assert [m.to for m in mails] == ["alice@example.com", "olga@example.com"]
    mail = notification_mail(mails[0].notification, to=mails[0].to)
    assert mail.subject == "【短信管理】审核未通过：短信签名【爱丽丝服饰】（签名与店铺名称不符）"
    assert "驳回原因：签名与店铺名称不符" in mail.body and mail.to == ["alice@example.com"]
    assert len(callbacks) == 1  # the mails' tasks are queued on commit, never sent inline
    # The same decision raised again (a retried task, a second caller): still one per recipient.
    assert review_decision_notify(item=Signature.objects.get(pk=signature.pk), decision=decision) == 0
    assert Notification.objects.count() == 2 and MailDelivery.objects.count() == 2


def test_it_tells_the_shop_a_signature_was_approved(alice_shop, team, reviewer):
    signature = signature_submit(shop=alice_shop, text="爱丽丝服饰", by=team["alice"])
    signature_approve(signature=signature, reviewer=reviewer)
    notice = one_notice(Kind.SIGNATURE_APPROVED)
    assert notice.title == "审核通过：短信签名【爱丽丝服饰】"
    assert "此后发出的短信将使用该签名" in notice.body
    assert not notices(Kind.SIGNATURE_REJECTED)


def test_a_rejection_rolled_back_tells_nobody(alice_shop, team, reviewer):
    signature = signature_submit(shop=alice_shop, text="爱丽丝服饰", by=team["alice"])
    with pytest.raises(RuntimeError), transaction.atomic():
        signature_reject(signature=signature, reviewer=reviewer, reason_code=RejectReason.GENERIC)
        raise RuntimeError("the surrounding action fails after the decision")
    assert not Notification.objects.exists() and not MailDelivery.objects.exists()
    assert Signature.objects.get(pk=signature.pk).state == "pending"


def test_it_tells_the_shop_of_template_decisions_including_bulk_approvals(alice_shop, team, reviewer):
    rejected = submit_template(alice_shop, team["alice"], name="会员日提醒")
    template_reject(template=rejected, reviewer=reviewer, reason_code=RejectReason.TYPO)
    notice = one_notice(Kind.TEMPLATE_REJECTED)
    assert notice.title == "审核未通过：短信模板「会员日提醒」（第 1 版）（错别字或语句不通）"
    assert "已通过的旧版本（如有）继续可用" in notice.body and "审核说明" not in notice.body
    assert notice.link == f"/shop/{alice_shop.pk}/templates/"

    first = submit_template(alice_shop, team["olga"], name="双11优惠券提醒")
    template_approve(template=first, reviewer=reviewer)
    second = submit_template(alice_shop, team["olga"], name="双12优惠券提醒")
    third = submit_template(alice_shop, team["olga"], name="年货节优惠券提醒")
    result = template_bulk_approve(templates=[second, third], reviewer=reviewer)
    assert len(result.approved) == 2
    approved = notices(Kind.TEMPLATE_APPROVED)
    assert len(approved) == 6  # three templates, two members each
    titles = {n.title for n in approved}
    names = ("双11优惠券提醒", "双12优惠券提醒", "年货节优惠券提醒")
    assert titles == {f"审核通过：短信模板「{name}」（第 1 版）" for name in names}


def test_a_bulk_signature_approval_notifies_each_shop(alice_shop, bob_shop, bob, team, reviewer):
    mine = signature_submit(shop=alice_shop, text="爱丽丝服饰", by=team["alice"])
    theirs = signature_submit(shop=bob_shop, text="鲍勃数码", by=bob)
    signature_bulk_approve(signatures=[mine, theirs], reviewer=reviewer)
    rows = notices(Kind.SIGNATURE_APPROVED)
    assert {(n.shop_id, n.recipient.username) for n in rows} == {
        (alice_shop.pk, "alice"), (alice_shop.pk, "olga"), (bob_shop.pk, "bob"),
    }  # fmt: skip


def test_an_overdue_review_gets_one_apology_per_missed_deadline_with_the_new_estimate(
    alice_shop, team, reviewer
):
    tuesday = datetime(2026, 6, 2, 10, 0, tzinfo=SH)  # due Friday 10:00 (3 working days)
    with time_machine.travel(tuesday, tick=False):
        signature = signature_submit(shop=alice_shop, text="爱丽丝服饰", by=team["alice"])
        template = submit_template(alice_shop, team["olga"])
        decided = submit_template(alice_shop, team["olga"], name="已审核模板")
        template_approve(template=decided, reviewer=reviewer)
    assert signature.due_at == datetime(2026, 6, 5, 10, 0, tzinfo=SH)
    assert review_overdue_sweep(now=datetime(2026, 6, 5, 9, 59, tzinfo=SH)) == 0  # not due yet
    friday_noon = datetime(2026, 6, 5, 12, 0, tzinfo=SH)
    assert review_overdue_sweep(now=friday_noon) == 4  # two items, two members each
    assert review_overdue_sweep(now=friday_noon + timedelta(minutes=30)) == 0  # the sweep again
    overdue = [n for n in notices(Kind.REVIEW_OVERDUE) if n.recipient.username == "alice"]
    by_key = {n.event_key: n for n in overdue}
    sig = by_key[f"review_overdue:signature:{signature.pk}:2026-06-05"]
    assert sig.title == "审核延迟：短信签名【爱丽丝服饰】"
    assert sig.body == (
        "非常抱歉，您于 2026-06-02 10:00 提交的短信签名【爱丽丝服饰】"
        "未能在预计时间 2026-06-05 10:00 前完成审核。"
        "审核员正在优先处理，新的预计完成时间为 2026-06-08 10:00。审核期间已生效的内容不受影响。"
    )  # the new estimate is the next working day (Monday), not Saturday
    assert f"review_overdue:template:{template.pk}:2026-06-05" in by_key
    # Still pending after the new estimate: one more apology, with the estimate after that.
    monday_noon = datetime(2026, 6, 8, 12, 0, tzinfo=SH)
    assert review_overdue_sweep(now=monday_noon) == 4
    later = Notification.objects.get(
        recipient=team["alice"], event_key=f"review_overdue:signature:{signature.pk}:2026-06-08"
    )
    assert "新的预计完成时间为 2026-06-09 10:00" in later.body
    # Decided items are not overdue any more.
    signature_approve(signature=signature, reviewer=reviewer)
    template_approve(template=template, reviewer=reviewer)
    assert review_overdue_sweep(now=datetime(2026, 6, 10, 12, 0, tzinfo=SH)) == 0


def test_the_overdue_sweep_is_scheduled():
    schedule = Schedule.objects.get(name="reviews-notify-overdue")
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        "reviews.tasks.notify_overdue_reviews", "I", 30,
    )  # fmt: skip


# --- the account ---------------------------------------------------------------------------


def test_it_warns_the_owner_once_when_the_balance_crosses_below_the_threshold(alice_shop, team):
    make_active_account(alice_shop, balance=1000, user=team["alice"])
    assert SmsAccount.objects.get(shop=alice_shop).low_balance_threshold == 500
    account_reserve(shop_id=alice_shop.pk, parts=400, reference="r1", label="营销任务「春季上新」")  # 600
    assert not notices(Kind.BALANCE_LOW)
    account_reserve(shop_id=alice_shop.pk, parts=200, reference="r2", label="营销任务「夏季上新」")  # 400
    notice = one_notice(Kind.BALANCE_LOW, to=("alice",))  # owners only: they alone can recharge
    assert notice.title == "短信余量不足 500 条提醒"
    assert notice.body == (
        "您店铺的短信可用余量（营销任务「夏季上新」冻结后）为 400 条，已低于您设置的提醒阈值 500 条。"
        "为免营销任务因余量不足而无法发送，请店主及时充值。"
    )
    assert notice.link == f"/shop/{alice_shop.pk}/account/recharge/"
    account_reserve(shop_id=alice_shop.pk, parts=100, reference="r3")  # 300: still below, no new notice
    account_reserve(shop_id=alice_shop.pk, parts=100, reference="r3")  # a repeated reserve
    assert len(notices(Kind.BALANCE_LOW)) == 1
    # Back above the threshold, then below again: a new crossing, a new notice.
    account_grant(shop_id=alice_shop.pk, units=500, reason="补发", actor=None)  # 800
    account_adjust(shop_id=alice_shop.pk, amount=-350, reason="人工更正", actor=None)  # 450
    rows = notices(Kind.BALANCE_LOW)
    assert len(rows) == 2 and "可用余量为 450 条" in rows[1].body


def test_a_threshold_of_zero_never_warns_and_a_rolled_back_reserve_warns_nobody(alice_shop, team):
    make_active_account(alice_shop, balance=1000, user=team["alice"])
    with pytest.raises(RuntimeError), transaction.atomic():
        account_reserve(shop_id=alice_shop.pk, parts=900, reference="r1")
        raise RuntimeError("the planning batch fails after its reserve")
    assert not Notification.objects.exists()
    SmsAccount.objects.filter(shop=alice_shop).update(low_balance_threshold=0)
    account_reserve(shop_id=alice_shop.pk, parts=1000, reference="r2")
    assert not Notification.objects.exists()


def test_it_tells_the_owner_a_recharge_was_credited_once(alice_shop, team):
    make_active_account(alice_shop, user=team["alice"])
    package = RechargePackage.objects.get(units=10_000)
    order = recharge_order_create(shop=alice_shop, user=team["alice"], package_id=package.pk)
    assert not notices(Kind.RECHARGE_CREDITED)
    recharge_order_complete(order_no=order.order_no, payment_reference="PAY-1")
    recharge_order_complete(order_no=order.order_no, payment_reference="PAY-1")  # the callback again
    notice = one_notice(Kind.RECHARGE_CREDITED, to=("alice",))
    assert notice.event_key == f"recharge_credited:{order.order_no}"
    assert notice.title == "充值到账：10,000 条短信"
    assert notice.body == (
        f"充值订单 {order.order_no} 已支付成功，10,000 条短信已到账，当前可用余量 10,000 条。"
    )
    assert notice.link == f"/shop/{alice_shop.pk}/account/recharges/"
