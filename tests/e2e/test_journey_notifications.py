"""Journey: the notifications, at 1440x900 and at 390x844.

The owner sees the bell's unread count on her dashboard, opens the inbox from it: newest first,
the unread highlighted. She marks one read (the count drops), opens another's page with 「查看详情」
(read on the way), then marks all read: the bell shows no count. On 通知设置 she turns off e-mail
for 余量不足提醒 and the next low-balance notice reaches only her inbox; a member without an e-mail
address is warned.
"""

from __future__ import annotations

import pytest

from smsmarketing.models import MailDelivery, Notification
from smsmarketing.services.notifications import notify
from tests.factories import PASSWORD, make_shop, make_user

JOURNEY = "notifications"

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

Kind = Notification.Kind


def test_it_shows_reads_and_tunes_the_notifications(journey, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    lily = make_user("lily")
    lily.email = "lily@example.com"
    lily.save(update_fields=["email"])
    shop = make_shop("莉莉茶庄", owner=lily)
    notify(shop_id=shop.pk, kind=Kind.TEMPLATE_APPROVED, event_key="journey:0",
           title="审核通过：短信模板「会员日」（第 1 版）",
           body="您提交的短信模板「会员日」（第 1 版）已审核通过，现在可以在营销任务中使用。",
           link=f"/shop/{shop.pk}/templates/")  # fmt: skip
    notify(shop_id=shop.pk, kind=Kind.SIGNATURE_REJECTED, event_key="journey:1",
           title="审核未通过：短信签名【莉莉】（签名与店铺名称不符）",
           body="很抱歉，您提交的短信签名【莉莉】未通过审核。驳回原因：签名与店铺名称不符。请按驳回原因修改后重新提交。",
           link=f"/shop/{shop.pk}/signature/")  # fmt: skip
    notify(shop_id=shop.pk, kind=Kind.CAMPAIGN_FINISHED, event_key="journey:2",
           title="营销任务「春茶上新」发送完成：成功 980 条",
           body="营销任务「春茶上新」已发送完毕：发送成功 980 条，发送失败 20 条，失败退还 20 条余量。",
           link=f"/shop/{shop.pk}/campaigns/")  # fmt: skip

    owner = journey.open()
    journey.login(owner, "lily", PASSWORD)
    journey.ready(owner)
    assert owner.inner_text("#notification-count") == "3"
    journey.check_both(owner, "dashboard-bell")

    owner.click("#notification-bell")
    owner.locator("#notifications").wait_for()
    items = owner.locator("#notifications > li")
    assert items.count() == 3
    assert "春茶上新" in items.nth(0).inner_text()  # newest first
    assert owner.locator("#notifications > li.unread").count() == 3
    journey.check_both(owner, "inbox")

    # Mark the campaign's notice read: the bell counts two.
    items.nth(0).locator("button", has_text="标为已读").click()
    owner.locator("#notifications").wait_for()
    assert owner.inner_text("#notification-count") == "2"
    assert owner.locator("#notifications > li.unread").count() == 2

    # 查看详情 of the rejection: its page opens and the notice is read on the way.
    owner.locator("#notifications > li", has_text="签名").locator("button", has_text="查看详情").click()
    owner.wait_for_url(f"**/shop/{shop.pk}/signature/")
    journey.ready(owner)
    assert owner.inner_text("#notification-count") == "1"
    owner.click("#notification-bell")
    owner.locator("#notifications").wait_for()

    owner.click("#mark-all-read")
    owner.get_by_text("已将 1 条消息标为已读。").wait_for()
    assert owner.locator("#notification-count").count() == 0
    assert owner.locator("#notifications > li.unread").count() == 0
    journey.check_both(owner, "inbox-read")

    owner.locator("#notifications > li", has_text="模板").locator("a", has_text="查看详情").click()
    owner.wait_for_url(f"**/shop/{shop.pk}/templates/")

    # Settings: e-mail off for low balance; the next one reaches only the inbox.
    owner.goto(f"/shop/{shop.pk}/notifications/settings/")
    journey.ready(owner)
    assert owner.locator("#no-email-warning").count() == 0
    assert owner.is_checked("input[name=email_balance_low]")
    journey.check_both(owner, "settings")
    owner.uncheck("input[name=email_balance_low]")
    owner.click("#notification-preferences button[type=submit]")
    owner.get_by_text("通知设置已保存。").wait_for()
    assert not owner.is_checked("input[name=email_balance_low]")
    low = notify(shop_id=shop.pk, kind=Kind.BALANCE_LOW, event_key="journey:3", title="余量不足提醒", body="")
    assert low == 1
    assert not MailDelivery.objects.filter(notification__event_key="journey:3").exists()
    owner.goto(f"/shop/{shop.pk}/")
    journey.ready(owner)
    assert owner.inner_text("#notification-count") == "1"

    # A member without an e-mail address is warned on the settings page.
    lily.email = ""
    lily.save(update_fields=["email"])
    owner.goto(f"/shop/{shop.pk}/notifications/settings/")
    journey.ready(owner)
    assert "没有设置邮箱地址" in owner.inner_text("#no-email-warning")
    journey.check_both(owner, "settings-no-email")
    journey.assert_console_clean()
