"""Notification e-mail through a real SMTP server (aiosmtpd on 127.0.0.1, started by each test):
Chinese subjects, a server that is down never blocks the action and loses nothing (retried with
back-off, delivered once it is back), and no mail is sent twice, however often or concurrently
its task runs."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.db import close_old_connections, connection, transaction
from django.utils import timezone
from django_q.models import Schedule
from django_q.scheduler import scheduler

from campaigns.models import Campaign
from campaigns.services.campaigns import campaign_create, campaign_schedule
from reviews.models.review import RejectReason
from reviews.services.signatures import signature_reject, signature_submit
from smsmarketing.models import MailDelivery, Membership, Notification
from smsmarketing.services.notifications import (
    RETRY_WINDOW,
    notification_mails_send_due,
    notify,
)
from smsmarketing.tasks import send_due_notification_mails, send_notification_mail
from tests.campaigns.campaign_fixtures import (  # noqa: F401 - pipeline_settings is a fixture
    MARKETING_TEXT,
    MORNING,
    import_customers,
    live_signature_for,
    phones,
    pipeline_settings,
)
from tests.dburl import test_database_url as database_url
from tests.factories import make_active_account, make_shop, make_user

pytestmark = pytest.mark.django_db(transaction=True)

Kind = Notification.Kind


class Mailbox:
    """An aiosmtpd handler keeping every message it accepts (optionally slowly)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.delay = 0.0

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        if self.delay:
            await asyncio.sleep(self.delay)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"

    def subjects(self) -> list[str]:
        # Django folds the encoded Subject onto its next line; the decoded value keeps that space.
        return sorted(str(m["Subject"]).strip() for m in self.messages)


class SmtpServer:
    """A real SMTP server on 127.0.0.1 at a fixed free port that can be stopped and started."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.mailbox = Mailbox()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp(settings):
    server = SmtpServer()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    settings.EMAIL_TIMEOUT = 5
    settings.SITE_URL = "https://sms.example.com"
    yield server
    server.stop()


@pytest.fixture
def team():
    owner = make_user("alice")
    owner.email = "alice@example.com"
    owner.save(update_fields=["email"])
    operator = make_user("olga")
    operator.email = "olga@example.com"
    operator.save(update_fields=["email"])
    shop = make_shop("爱丽丝服饰", owner=owner)
    Membership.objects.create(user=operator, shop=shop, role=Membership.Role.OPERATOR)
    return shop


def mails() -> list[MailDelivery]:
    return list(MailDelivery.objects.order_by("pk"))


def reject_signature(shop, *, key: str = "signature_rejected:1") -> int:
    """What the review's rejection does: notify in the action's transaction."""
    with transaction.atomic():
        return notify(
            shop_id=shop.pk,
            kind=Kind.SIGNATURE_REJECTED,
            event_key=key,
            title="签名【爱丽丝】审核未通过",
            body="驳回原因：签名与店铺名称不一致。请修改后重新提交。",
            link=f"/shop/{shop.pk}/signature/",
        )


def finish_campaign(shop) -> int:
    with transaction.atomic():
        return notify(
            shop_id=shop.pk,
            kind=Kind.CAMPAIGN_FINISHED,
            event_key="campaign_finished:7",
            title="营销任务「双11会员券」已完成",
            body="成功 980 条，失败 20 条，已退回 20 条。",
            link=f"/shop/{shop.pk}/campaigns/7/",
        )


def test_it_mails_the_rejection_and_the_campaign_finished_with_chinese_subjects(smtp, team):
    smtp.start()
    assert reject_signature(team) == 2
    assert finish_campaign(team) == 2
    # The tasks ran after each commit (django-q2 runs them inline in the tests).
    assert set(MailDelivery.objects.values_list("status", flat=True)) == {MailDelivery.Status.SENT}
    assert smtp.mailbox.subjects() == sorted(
        ["【短信管理】签名【爱丽丝】审核未通过"] * 2 + ["【短信管理】营销任务「双11会员券」已完成"] * 2
    )
    rejection = next(
        m
        for m in smtp.mailbox.messages
        if "审核未通过" in str(m["Subject"]) and m["To"] == "alice@example.com"
    )
    text = rejection.get_content()
    assert "驳回原因：签名与店铺名称不一致。" in text
    assert "店铺：爱丽丝服饰" in text
    assert f"查看详情：https://sms.example.com/shop/{team.pk}/signature/" in text
    assert f"https://sms.example.com/shop/{team.pk}/notifications/settings/" in text
    assert {str(m["To"]) for m in smtp.mailbox.messages} == {"alice@example.com", "olga@example.com"}
    # Emitted again (a retried emitter): nobody is notified or mailed twice.
    assert reject_signature(team) == 0
    assert len(smtp.mailbox.messages) == 4


def test_it_retries_while_the_server_is_down_and_delivers_once_it_is_back(smtp, team):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        began = time.monotonic()
        assert reject_signature(team) == 2  # the action succeeds with no mail server at all
        assert time.monotonic() - began < 5
        assert [(m.status, m.attempts) for m in mails()] == [(MailDelivery.Status.PENDING, 1)] * 2
        assert all(m.next_attempt_at == start + timedelta(minutes=1) for m in mails())
        assert all("ConnectionRefusedError" in m.last_error for m in mails())

        # Not yet due: the sweeper leaves them.
        assert send_due_notification_mails() == 0
        assert MailDelivery.objects.filter(attempts=1).count() == 2

        # Still down a minute later: tried again, the wait doubles.
        clock.shift(timedelta(minutes=1))
        assert send_due_notification_mails() == 0
        assert all(
            m.attempts == 2 and m.next_attempt_at == timezone.now() + timedelta(minutes=2) for m in mails()
        )

        # The server comes back; the next sweep after the back-off delivers each mail once.
        smtp.start()
        clock.shift(timedelta(minutes=1))
        assert send_due_notification_mails() == 0  # not due yet
        clock.shift(timedelta(minutes=1))
        assert send_due_notification_mails() == 2
        assert [(m.status, m.attempts, m.last_error) for m in mails()] == [
            (MailDelivery.Status.SENT, 3, "")
        ] * 2
        assert smtp.mailbox.subjects() == ["【短信管理】签名【爱丽丝】审核未通过"] * 2

        # Later sweeps and a late run of a mail's own task send nothing more.
        clock.shift(timedelta(hours=1))
        assert send_due_notification_mails() == 0
        assert send_notification_mail(mails()[0].pk) is None
        assert len(smtp.mailbox.messages) == 2


def test_it_gives_up_after_the_retry_window_and_logs_it(smtp, team, caplog):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        reject_signature(team)
        tries = 1
        while MailDelivery.objects.filter(status=MailDelivery.Status.PENDING).exists():
            clock.move_to(
                MailDelivery.objects.filter(status="pending").order_by("next_attempt_at")[0].next_attempt_at
            )
            notification_mails_send_due()
            tries += 1
            assert tries < 60
    failed = list(MailDelivery.objects.all())
    assert {m.status for m in failed} == {MailDelivery.Status.FAILED}
    assert all(m.next_attempt_at is None and m.attempts == tries for m in failed)
    # 1, 2, 4 … 32 minutes, then hourly until 24 h after the event: about 30 tries, none later.
    assert 25 <= tries <= 32
    assert "given up after" in caplog.text
    assert all(m.give_up_at == start + RETRY_WINDOW for m in failed)
    # The inbox still has the notice.
    assert Notification.objects.filter(in_inbox=True).count() == 2


def test_it_never_sends_a_mail_twice_when_its_task_runs_twice_or_concurrently(smtp, team):
    # The server is down when the action commits: the mail waits, pending, for its retry.
    with transaction.atomic():
        notify(shop_id=team.pk, kind=Kind.BALANCE_LOW, event_key="balance_low:1", title="余量不足提醒",
               body="可用余量 120 条，低于提醒阈值 500 条。")  # fmt: skip
    delivery = MailDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == (MailDelivery.Status.PENDING, 1)
    smtp.start()
    smtp.mailbox.delay = 0.5  # a slow server: both runs are in flight at once
    results: list[bool | None] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            barrier.wait()
            results.append(send_notification_mail(delivery.pk))
        finally:
            connection.close()

    with time_machine.travel(timezone.now() + timedelta(minutes=1), tick=True):  # the retry is due
        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(results, key=str) == [None, True]
    assert len(smtp.mailbox.messages) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (MailDelivery.Status.SENT, 2)
    assert send_notification_mail(delivery.pk) is None
    assert len(smtp.mailbox.messages) == 1


def test_it_sends_each_due_mail_once_with_two_sweepers_at_once(smtp, team):
    for i in range(3, 13):
        user = make_user(f"member{i}")
        user.email = f"member{i}@example.com"
        user.save(update_fields=["email"])
        Membership.objects.create(user=user, shop=team, role=Membership.Role.OWNER)
    with time_machine.travel(timezone.now(), tick=True) as clock:
        reject_signature(team)  # server down: all 12 pending
        assert MailDelivery.objects.filter(status="pending").count() == 12
        smtp.start()
        clock.shift(timedelta(minutes=2))
        sent: list[int] = []
        barrier = threading.Barrier(2)

        def sweep() -> None:
            try:
                close_old_connections()
                barrier.wait()
                sent.append(notification_mails_send_due())
            finally:
                connection.close()

        threads = [threading.Thread(target=sweep) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sum(sent) == 12
    assert sorted(str(m["To"]) for m in smtp.mailbox.messages) == sorted(
        MailDelivery.objects.values_list("to", flat=True)
    )
    assert len(smtp.mailbox.messages) == 12
    assert set(MailDelivery.objects.values_list("status", flat=True)) == {MailDelivery.Status.SENT}


def test_it_shows_failed_mails_to_the_platforms_operators_who_may_send_them_again(client, smtp, team):
    admin = make_user("ops", superuser=True)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        reject_signature(team)  # server down
        clock.shift(RETRY_WINDOW)
        notification_mails_send_due()  # past the window: given up
        assert set(MailDelivery.objects.values_list("status", flat=True)) == {MailDelivery.Status.FAILED}
    client.force_login(admin)
    page = client.get("/admin/smsmarketing/maildelivery/?status__exact=failed").content.decode()
    assert "alice@example.com" in page and "olga@example.com" in page
    assert "ConnectionRefusedError" in page
    assert "签名【爱丽丝】审核未通过" in page
    smtp.start()
    ids = list(MailDelivery.objects.values_list("pk", flat=True))
    response = client.post(
        "/admin/smsmarketing/maildelivery/", {"action": "resend", "_selected_action": ids}, follow=True
    )
    assert "已重新排队发送 2 封邮件。" in response.content.decode()
    assert set(MailDelivery.objects.values_list("status", flat=True)) == {MailDelivery.Status.SENT}
    assert len(smtp.mailbox.messages) == 2
    # Sent mails are never sent again by the action.
    client.post("/admin/smsmarketing/maildelivery/", {"action": "resend", "_selected_action": ids})
    assert len(smtp.mailbox.messages) == 2
    assert client.get("/admin/smsmarketing/notification/").status_code == 200


def _settings_with(**variables: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_")}
    env.update({"DJANGO_SETTINGS_MODULE": "smsmarketing.settings", **variables})
    env.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/unused")
    code = (
        "from django.conf import settings as s; "
        "print(s.EMAIL_BACKEND, s.EMAIL_HOST, s.EMAIL_PORT, s.EMAIL_USE_TLS)"
    )
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.django_db(transaction=False)
def test_it_reads_the_mail_server_from_the_environment():
    development = _settings_with()
    assert development.stdout.splitlines()[-1].split()[0] == "django.core.mail.backends.console.EmailBackend"
    production = _settings_with(EMAIL_HOST="smtp.example.com", EMAIL_PORT="587", EMAIL_USE_TLS="1")
    assert production.stdout.splitlines()[-1].split() == [
        "django.core.mail.backends.smtp.EmailBackend",
        "smtp.example.com",
        "587",
        "True",
    ]
    both = _settings_with(EMAIL_HOST="smtp.example.com", EMAIL_USE_TLS="1", EMAIL_USE_SSL="1")
    assert both.returncode != 0 and "EMAIL_USE_TLS and EMAIL_USE_SSL are exclusive" in both.stderr


def test_it_mails_the_real_rejection_and_campaign_finished_notices(smtp, reviewer, pipeline_settings):  # noqa: F811
    """Through the emitters themselves: a reviewer rejects the signature, a campaign runs to its end."""
    smtp.start()
    owner = make_user("alice")
    owner.email = "alice@example.com"
    owner.save(update_fields=["email"])
    shop = make_shop("爱丽丝服饰", owner=owner)
    signature = signature_submit(shop=shop, text="爱丽丝旗舰", by=owner)
    signature_reject(signature=signature, reviewer=reviewer, reason_code=RejectReason.SHOP_MISMATCH)
    assert smtp.mailbox.subjects() == ["【短信管理】审核未通过：短信签名【爱丽丝旗舰】（签名与店铺名称不符）"]
    assert "驳回原因：签名与店铺名称不符" in smtp.mailbox.messages[0].get_content()

    live_signature_for(shop, owner, reviewer)
    import_customers(shop, [f"{p},客户{i},,T恤,2026-05-01 12:00,99" for i, p in enumerate(phones(10))])
    make_active_account(shop, balance=1000, user=owner)
    with time_machine.travel(MORNING, tick=False):
        campaign = campaign_create(
            shop=shop, user=owner, kind="marketing", name="夏季上新", text=MARKETING_TEXT
        )
        campaign_schedule(campaign=campaign, user=owner, at=MORNING + timedelta(minutes=30))
    with time_machine.travel(MORNING + timedelta(minutes=31), tick=False):
        scheduler()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    finished = [str(m["Subject"]).strip() for m in smtp.mailbox.messages if "发送完成" in str(m["Subject"])]
    assert len(finished) == 1 and finished[0].startswith("【短信管理】营销任务「夏季上新」发送完成：成功 ")
    assert MailDelivery.objects.exclude(status=MailDelivery.Status.SENT).count() == 0
    assert len(smtp.mailbox.messages) == MailDelivery.objects.count()  # each mail once


def test_a_real_cluster_delivers_the_mails_left_by_a_server_that_was_down(smtp, team):
    """The retry through a real django-q2 cluster (its own processes, the every-minute sweeper
    schedule): the mails failed while the server was down are delivered once it is back."""
    reject_signature(team)  # the server is down: both mails wait for their retry
    assert MailDelivery.objects.filter(status=MailDelivery.Status.PENDING, attempts=1).count() == 2
    assert Schedule.objects.filter(name="smsmarketing-send-notification-mails").exists()
    smtp.start()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(application_name="notify-qcluster"),
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp.port),
    }
    # The cluster's clock is a minute and a bit ahead: the retries are due.
    ahead = timezone.now() + timedelta(minutes=1, seconds=5)
    cluster = subprocess.Popen(
        [sys.executable, "-m", "tests.security.qcluster_runner", ahead.isoformat()],
        env=env, cwd=Path(__file__).resolve().parents[2], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while MailDelivery.objects.filter(status=MailDelivery.Status.SENT).count() < 2:
            assert time.monotonic() < deadline, list(
                MailDelivery.objects.values("status", "attempts", "last_error")
            )
            time.sleep(0.5)
    finally:
        os.killpg(cluster.pid, signal.SIGTERM)
        try:
            cluster.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait()
    assert [(m.status, m.attempts) for m in mails()] == [(MailDelivery.Status.SENT, 2)] * 2
    assert smtp.mailbox.subjects() == ["【短信管理】签名【爱丽丝】审核未通过"] * 2
