"""Journey: a shop's team. The owner invites an operator (creating their account); the operator
cannot recharge (a refusal naming 店主) but schedules a campaign; when it has finished, the inbox
(the bell) shows the campaign-finished notice. Every page at 1440x900 and 390x844.

The clock is moved (time-machine, ticking) to 10:00 Shanghai time of today. The django-q2
cluster is played by the test: tasks run synchronously (settings_test) and the scheduler is called
once the scheduled time has passed; the simulated gateway answers every message delivered.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
import time_machine
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.scheduler import scheduler

from campaigns.models import Campaign
from campaigns.services.campaigns import campaign_create
from smsmarketing.models import Membership, MembershipEvent, Notification, RechargeOrder
from tests.campaigns.campaign_fixtures import MARKETING_TEXT, import_customers, live_signature_for
from tests.factories import PASSWORD, make_active_account, make_reviewer, make_shop, make_user

JOURNEY = "team"

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

OPERATOR_PASSWORD = "Lanmei-harbour-2046"


@pytest.fixture
def morning():
    at = timezone.make_aware(datetime.combine(timezone.localdate(), time(10, 0)))
    with time_machine.travel(at, tick=True) as traveller:
        yield traveller


@pytest.fixture
def quick_gateway(settings):
    settings.SMS_GATEWAY = {"BACKEND": "campaigns.gateways.simulated.SimulatedGateway", "OPTIONS": {}}
    settings.SMS_PIPELINE = {**settings.SMS_PIPELINE, "DISPATCH_RATE": 0}


def test_an_owner_invites_an_operator_who_schedules_a_campaign_and_reads_its_notice(
    journey, morning, quick_gateway
):
    hana = make_user("hana")
    shop = make_shop("花田小铺", owner=hana)
    rita = make_reviewer("rita")
    make_active_account(shop, balance=500, user=hana)
    live_signature_for(shop, hana, rita, text="花田小铺")
    import_customers(shop, [f"1391234{i:04d},顾客{i}" for i in range(5)], header="手机号,姓名")
    campaign = campaign_create(shop=shop, user=hana, kind="marketing", name="周末鲜花", text=MARKETING_TEXT)

    # The owner opens 成员管理 from the menu: she is the only member and the only owner.
    owner = journey.open()
    journey.login(owner, "hana", PASSWORD)
    owner.goto(f"/shop/{shop.pk}/")
    owner.click("#sidenav >> text=成员管理")
    owner.locator("#member-invite").wait_for()
    assert "hana" in owner.inner_text("#members") and owner.locator("#last-owner-hint").is_visible()
    journey.check_both(owner, "members")

    # She invites 运营 "yun", who has no account yet: a too-simple password is refused first.
    owner.fill("#id_username", "yun")
    owner.select_option("#id_role", "operator")
    owner.check("#id_create")
    owner.fill("#id_password", "12345678")
    owner.click("#invite-member")
    owner.locator("#password-errors").wait_for()
    assert "初始密码不符合要求" in owner.inner_text("#password-errors")
    assert not Membership.objects.filter(shop=shop, user__username="yun").exists()
    journey.check_both(owner, "invite-refused")
    owner.fill("#id_password", OPERATOR_PASSWORD)
    if not owner.is_checked("#id_create"):
        owner.check("#id_create")
    owner.click("#invite-member")
    owner.locator(".notice-success", has_text="已新建账号“yun”").wait_for()
    assert Membership.objects.get(shop=shop, user__username="yun").role == "operator"
    assert "创建账号并加入" in owner.inner_text("#member-events")
    journey.check_both(owner, "member-invited")

    # The operator logs in with the password the owner gave her.
    operator = journey.open()
    journey.login(operator, "yun", OPERATOR_PASSWORD)
    operator.goto(f"/shop/{shop.pk}/members/")
    assert "仅限「店主」" in operator.inner_text("#members-owner-only")
    assert operator.locator("#member-invite").count() == 0
    journey.check_both(operator, "members-read-only")

    # Recharge is the owner's: a clear refusal naming the role needed.
    response = operator.goto(f"/shop/{shop.pk}/account/recharge/")
    assert response.status == 403
    refusal = operator.inner_text("#role-refused")
    assert "此操作需要「店主」角色，您的角色是「运营」" in refusal
    journey.check_both(operator, "recharge-refused")
    assert not RechargeOrder.objects.filter(account__shop=shop).exists()

    # She schedules the owner's draft campaign ten minutes ahead, through the confirmation.
    operator.goto(f"/shop/{shop.pk}/campaigns/{campaign.pk}/")
    journey.ready(operator)
    at = timezone.localtime() + timedelta(minutes=10)
    operator.check("#schedule input[value=at]")
    operator.fill("#schedule input[name=at]", at.strftime("%Y-%m-%dT%H:%M"))
    operator.click("#schedule button[type=submit]")
    operator.locator("#schedule-confirm").wait_for()
    assert operator.inner_text("#confirm-sendable") == "5 人"
    journey.check_both(operator, "schedule-confirm")
    operator.click("#confirm-schedule")
    operator.get_by_text("已排期").first.wait_for()
    campaign.refresh_from_db()
    assert campaign.status == "scheduled"
    journey.check_both(operator, "scheduled")

    # The scheduled time passes; the run sends and every message is delivered.
    morning.shift(timedelta(minutes=11))
    scheduler(broker=get_broker())
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED

    # The bell shows the unread notice; the inbox shows the campaign-finished notice.
    notices = list(Notification.objects.filter(shop=shop).values_list("recipient__username", "kind", "title"))
    assert ("yun", "campaign_finished") in {(who, kind) for who, kind, _title in notices}, notices
    operator.goto(f"/shop/{shop.pk}/")
    journey.ready(operator)
    assert int(operator.inner_text("#notification-count")) >= 1
    journey.check_both(operator, "bell")
    operator.click("#notification-bell")
    operator.locator("#notifications").wait_for()
    notice = operator.locator(".notification.unread", has_text="营销任务完成")
    notice.wait_for()
    text = notice.inner_text()
    assert "周末鲜花" in text and "发送完成" in text and "成功 5 条" in text, text
    assert Notification.objects.filter(
        shop=shop, recipient__username="yun", kind="campaign_finished", read_at__isnull=True
    ).exists()
    journey.check_both(operator, "inbox")

    # The owner opens 移除 for yun: the confirmation says what it does; she cancels.
    member = Membership.objects.get(shop=shop, user__username="yun")
    owner.goto(f"/shop/{shop.pk}/members/")
    owner.click(f"#remove-{member.pk}")
    owner.locator("#member-remove").wait_for()
    effects = owner.inner_text("#remove-effects")
    assert "不可撤销" in owner.inner_text("#member-remove") and "没有本店铺有效的 API 密钥" in effects
    journey.check_both(owner, "remove-confirm")
    owner.click("#member-remove >> text=取消")
    owner.locator("#members").wait_for()
    assert Membership.objects.filter(pk=member.pk).exists()

    # The owner's audit shows the invitation.
    assert list(MembershipEvent.objects.filter(shop=shop).values_list("action", "member_username")) == [
        ("created", "yun")
    ]
    # The refusal page answers 403 on purpose (the browser logs the status): not an error.
    refused = f"{journey.base_url}/shop/{shop.pk}/account/recharge/"
    journey.console_errors[:] = [
        e for e in journey.console_errors if not (e.startswith(refused) and "status of 403" in e)
    ]
    journey.assert_console_clean()
