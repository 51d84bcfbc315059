"""The message history partitioned by month, and the retention that archives and drops a month
(docs/RETENTION.md): real PostgreSQL partitions, the real planner and dispatcher."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.urls import reverse
from django.utils import timezone

from campaigns.models import (
    ArchivedMonth,
    Campaign,
    CampaignRun,
    Click,
    DeliveryReport,
    Message,
    MessageArchive,
)
from campaigns.models.counters import MessageCounter
from campaigns.results import campaign_results
from campaigns.selectors import MESSAGE_EXPORT_HEADER, campaign_statistics, retention_cutoff
from campaigns.services.campaigns import campaign_create, campaign_schedule
from campaigns.services.delivery import delivery_settle
from campaigns.services.links import link_code_month_character, link_follow
from campaigns.services.message_partitions import (
    CLICK,
    MESSAGE,
    REPORT,
    message_months,
    message_months_forget,
    message_partitions_ensure,
)
from campaigns.services.retention import message_history_retain
from campaigns.tasks import run_campaign
from smsmarketing.models import SmsAccount
from tests.campaigns.campaign_fixtures import (
    SH,
    assert_ledger_clean,
    import_customers,
    live_signature_for,
    phones,
)
from tests.factories import make_active_account

OLD = datetime(2025, 1, 13, 10, 0, tzinfo=SH)  # a Monday morning, 17 months before NOW
NOW = datetime(2026, 6, 8, 10, 0, tzinfo=SH)  # a Monday morning
LINK_TEXT = "周末特惠，点击领券 ${shop_link} 满199减20"


def partition_of(message_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {MESSAGE.name} WHERE id = %s", [message_id])
        return cursor.fetchone()[0]


def attached(parent: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = to_regclass(%s)""",
            [parent],
        )
        return {row[0] for row in cursor.fetchall()}


def run_deferred_checks() -> None:
    """The test's rows are not committed (the test is one transaction): their deferred foreign-key
    checks would forbid dropping a partition; in production the month's rows are long committed."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def send_campaign(shop, user, capture, *, at: datetime, name: str, text: str = LINK_TEXT) -> Campaign:
    """A marketing campaign to the shop's customers, sent at ``at`` to the end (synchronous tasks)."""
    with time_machine.travel(at, tick=False):
        campaign = campaign_create(shop=shop, user=user, kind="marketing", name=name, text=text)
        with capture(execute=True):
            campaign_schedule(campaign=campaign, user=user)
        delivery_settle()
    campaign.refresh_from_db()
    return campaign


@pytest.fixture
def history_shop(alice, alice_shop, reviewer, pipeline_settings, settings, tmp_path):
    settings.SMS_ARCHIVE_DIR = tmp_path / "archive"
    make_active_account(alice_shop, balance=100_000, user=alice)
    live_signature_for(alice_shop, alice, reviewer)
    import_customers(alice_shop, [f"{p},客户{i},,,," for i, p in enumerate(phones(30))])
    message_months_forget()
    yield alice_shop
    message_months_forget()


def test_it_puts_a_runs_messages_reports_and_clicks_in_its_month_partition(
    history_shop, alice, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    campaign = send_campaign(history_shop, alice, capture, at=OLD, name="一月上新")
    run = campaign.runs.get()
    assert run.month == date(2025, 1, 1)
    messages = list(Message.objects.filter(run=run))
    assert len(messages) == 30 and {m.month for m in messages} == {date(2025, 1, 1)}
    assert {partition_of(m.pk) for m in messages} == {MESSAGE.partition(date(2025, 1, 1))}
    # Each table is partitioned (relkind 'p'), the run's month has a partition in each.
    for table in (MESSAGE, REPORT, CLICK):
        assert table.partition(date(2025, 1, 1)) in attached(table.name)
    # A link code starts with its month's character.
    assert {m.link_code[0] for m in messages if m.link_code} == {link_code_month_character(date(2025, 1, 1))}
    assert DeliveryReport.objects.filter(message__run=run).exclude(month=date(2025, 1, 1)).count() == 0
    delivered = next(m for m in messages if m.status == Message.Status.DELIVERED or m.link_code)
    with time_machine.travel(OLD + timedelta(hours=3), tick=False):
        assert link_follow(code=delivered.link_code, method="GET", user_agent="Mozilla/5.0", client="1.2.3.4")
    assert Click.objects.get(message_id=delivered.pk).month == date(2025, 1, 1)


def test_it_archives_a_month_per_shop_and_drops_its_partitions_keeping_every_result(
    history_shop, alice, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    old = send_campaign(history_shop, alice, capture, at=OLD, name="一月上新")
    old_messages = {m.pk: m for m in Message.objects.filter(campaign=old)}
    delivered = next(m for m in old_messages.values() if m.status == Message.Status.DELIVERED)
    with time_machine.travel(OLD + timedelta(hours=3), tick=False):
        assert link_follow(code=delivered.link_code, method="GET", user_agent="Mozilla/5.0", client="1.2.3.4")
    recent = send_campaign(history_shop, alice, capture, at=NOW, name="六月上新")
    cache.clear()
    before = (campaign_results(campaign=old), campaign_statistics(campaign=old))
    assert before[0].unique_clicks == 1 and before[1].delivered > 0
    balance = SmsAccount.objects.get(shop=history_shop).balance

    run_deferred_checks()
    with time_machine.travel(NOW + timedelta(days=1), tick=False):
        assert retention_cutoff() == date(2025, 5, 1)  # 13 months before June 2026
        result = message_history_retain()
    assert result.archived == {date(2025, 1, 1): 30}
    assert set(result.dropped) == {date(2025, 1, 1)}
    assert result.dropped[date(2025, 1, 1)][MESSAGE.name] == 30
    assert result.dropped[date(2025, 1, 1)][CLICK.name] == 1
    # The month's partitions are gone (a DROP TABLE, not a DELETE); June's rows are untouched.
    for table in (MESSAGE, REPORT, CLICK):
        assert table.partition(date(2025, 1, 1)) not in attached(table.name)
    assert date(2025, 1, 1) not in message_months()
    assert not Message.objects.filter(campaign=old).exists()
    assert Message.objects.filter(campaign=recent).count() == 30
    # The shop's archive file: gzip CSV, the export's columns after the campaign's id, one row a message.
    archive = MessageArchive.objects.get(shop=history_shop, month=date(2025, 1, 1))
    path = Path(settings.SMS_ARCHIVE_DIR) / archive.path
    assert archive.path == f"{history_shop.pk}/messages-2025-01.csv.gz" and archive.messages == 30
    raw = path.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == archive.sha256 and len(raw) == archive.size
    rows = list(csv.reader(io.StringIO(gzip.decompress(raw).decode("utf-8-sig"))))
    assert rows[0] == ["营销任务ID", *MESSAGE_EXPORT_HEADER]
    assert sorted(int(r[1]) for r in rows[1:]) == sorted(old_messages)
    by_id = {int(r[1]): r for r in rows[1:]}
    assert by_id[delivered.pk][0] == str(old.pk) and by_id[delivered.pk][3] == delivered.phone
    assert by_id[delivered.pk][4] == "发送成功" and by_id[delivered.pk][10] == delivered.text
    marked = ArchivedMonth.objects.get(month=date(2025, 1, 1))
    assert marked.messages == 30 and marked.archived_at and marked.dropped_at
    # The campaign's results (counters) and the ledger are what they were.
    cache.clear()
    after = (campaign_results(campaign=old), campaign_statistics(campaign=old))
    assert after == before
    assert MessageCounter.objects.filter(campaign_id=old.pk).exists()
    assert SmsAccount.objects.get(shop=history_shop).balance == balance
    assert_ledger_clean()  # reconcile_ledger and reconcile_stats (the archived run left alone)
    # Running it again changes nothing.
    with time_machine.travel(NOW + timedelta(days=2), tick=False):
        again = message_history_retain()
    assert again.archived == {} and again.dropped == {}
    assert MessageArchive.objects.get(shop=history_shop, month=date(2025, 1, 1)).sha256 == archive.sha256


def test_it_reports_the_retention_from_the_command(history_shop, alice, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    send_campaign(history_shop, alice, capture, at=OLD, name="一月上新")
    out = io.StringIO()
    call_command("message_partitions", stdout=out)
    assert MESSAGE.partition(date(2025, 1, 1)) in out.getvalue()
    out = io.StringIO()
    run_deferred_checks()
    with time_machine.travel(NOW, tick=False):
        call_command("message_partitions", "--retain", stdout=out)
    assert "2025-01: 30 messages archived" in out.getvalue()


def test_it_creates_the_coming_months_ahead(db):
    with time_machine.travel(datetime(2031, 11, 20, 12, 0, tzinfo=SH), tick=False):
        created = message_partitions_ensure()
    for month in (date(2031, 11, 1), date(2031, 12, 1), date(2032, 1, 1)):
        for table in (MESSAGE, REPORT, CLICK):
            assert table.partition(month) in created and table.partition(month) in attached(table.name)


@pytest.mark.django_db(transaction=True)
def test_it_drops_a_month_while_a_campaign_plans_and_dispatches_without_stalling_it(
    alice, alice_shop, reviewer, pipeline_settings, settings, tmp_path
):
    """A month is archived and dropped while another campaign plans and sends; a long report
    query holds the message table, so the DETACH has to wait and retry. The sends never stop for
    more than 1 s (the longest gap between two progress steps of the run), nothing is lost or
    sent twice, and the ledger and the counters reconcile."""
    settings.SMS_ARCHIVE_DIR = tmp_path / "archive"
    settings.SMS_PIPELINE = {
        **settings.SMS_PIPELINE,
        "PLAN_BATCH": 150,
        "DISPATCH_BATCH": 50,
        "DISPATCH_RATE": 400,  # 2,400 messages: about 6 s of sending, the drop in the middle
        "PLAN_WORKERS": 1,
        "TASK_TIME_BUDGET": 60,
    }
    make_active_account(alice_shop, balance=100_000, user=alice)
    live_signature_for(alice_shop, alice, reviewer)
    message_months_forget()
    import_customers(alice_shop, [f"{p},客户{i},,,," for i, p in enumerate(phones(2400))])
    with time_machine.travel(OLD, tick=False):
        old = campaign_create(
            shop=alice_shop, user=alice, kind="marketing", name="一月上新", text="一月特惠，满199减20"
        )
        campaign_schedule(campaign=old, user=alice)  # tasks run synchronously once it commits
        delivery_settle()
    old_count = Message.objects.filter(campaign=old).count()
    assert old_count == 2400

    traveller = time_machine.travel(NOW, tick=True)
    traveller.start()
    try:
        campaign = campaign_create(
            shop=alice_shop, user=alice, kind="marketing", name="六月上新", text="六月特惠，满199减20"
        )
        campaign_schedule(campaign=campaign, user=alice, at=timezone.now() + timedelta(seconds=1))
        time.sleep(1.1)
        run = CampaignRun.objects.get(campaign=campaign)
        progress: list[tuple[float, int, int]] = []
        done, reader_holds, release_reader = threading.Event(), threading.Event(), threading.Event()
        errors: list[BaseException] = []

        def sender() -> None:
            try:
                # What the schedule's task does at its time, outside any transaction of the test.
                while run_campaign(run.pk) not in {"finished", "skipped"}:
                    pass
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                done.set()
                connections.close_all()

        def monitor() -> None:
            # The run's progress: rows planned, rows handed to the gateway, read every 20 ms.
            try:
                while not done.is_set():
                    with connection.cursor() as cursor:
                        cursor.execute(
                            f"""SELECT count(*), count(*) FILTER (WHERE status <> 'planned')
                                FROM {MESSAGE.name} WHERE campaign_id = %s""",
                            [campaign.pk],
                        )
                        planned, sent = cursor.fetchone()
                    if not progress or progress[-1][1:] != (planned, sent):
                        progress.append((time.monotonic(), planned, sent))
                    time.sleep(0.02)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
            finally:
                connections.close_all()

        def long_report() -> None:
            # An analyst's long read of the history: holds the message table for 1.5 s.
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(f"SELECT count(*) FROM {MESSAGE.name}")
                    reader_holds.set()
                    release_reader.wait(1.5)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=sender), threading.Thread(target=monitor)]
        for thread in threads:
            thread.start()
        # Wait until the run is sending, then hold the table and archive + drop January 2025.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (progress and progress[-1][2] > 0):
            time.sleep(0.02)
        assert progress and progress[-1][2] > 0, "the run never started sending"
        reader = threading.Thread(target=long_report)
        reader.start()
        assert reader_holds.wait(5)
        retained_at = time.monotonic()
        result = message_history_retain()
        retained_took = time.monotonic() - retained_at
        reader.join()
        for thread in threads:
            thread.join(120)
    finally:
        traveller.stop()
    assert not errors, errors

    assert result.dropped[date(2025, 1, 1)][MESSAGE.name] == 2400
    assert retained_took > 1.0  # it had to wait for the long read (the DETACH retried)
    assert not Message.objects.filter(campaign=old).exists()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    sent = Message.objects.filter(campaign=campaign)
    assert sent.count() == 2400 and sent.filter(status=Message.Status.PLANNED).count() == 0
    assert sent.values("phone").distinct().count() == 2400
    # The drop happened while the run progressed: some steps before it and after it.
    print(
        f"\nprogress from {progress[0][0] - retained_at:.2f} s to {progress[-1][0] - retained_at:.2f} s "
        f"around the retention's start ({len(progress)} steps)"
    )
    assert progress[0][0] < retained_at < retained_at + retained_took < progress[-1][0]
    gaps = [b[0] - a[0] for a, b in zip(progress, progress[1:], strict=False)]
    longest = max(gaps)
    print(
        f"\nlongest gap between progress steps: {longest * 1000:.0f} ms over {len(progress)} steps; "
        f"retention took {retained_took:.2f} s"
    )
    assert longest < 1.0
    delivery_settle()
    assert_ledger_clean()


def test_it_lists_and_downloads_a_shops_archives_and_tells_on_the_campaign_page(
    history_shop, alice, bob, client, django_capture_on_commit_callbacks
):
    old = send_campaign(history_shop, alice, django_capture_on_commit_callbacks, at=OLD, name="一月上新")
    run_deferred_checks()
    with time_machine.travel(NOW, tick=False):
        message_history_retain()
    client.force_login(alice)
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        page = client.get(reverse("campaigns:archives", args=[history_shop.pk]))
        detail = client.get(reverse("campaigns:detail", args=[history_shop.pk, old.pk]))
    archive = MessageArchive.objects.get(shop=history_shop)
    body = page.content.decode()
    assert page.status_code == 200 and "2025年1月" in body and "30" in body
    assert reverse("campaigns:archive_download", args=[history_shop.pk, archive.pk]) in body
    # The campaign's page says its messages are archived and links there instead of the export.
    text = detail.content.decode()
    assert 'id="archived-notice"' in text and "2025年1月的短信明细已超过保留期" in text
    assert 'id="export-csv"' not in text and reverse("campaigns:archives", args=[history_shop.pk]) in text
    download = client.get(reverse("campaigns:archive_download", args=[history_shop.pk, archive.pk]))
    assert download.status_code == 200 and download["Content-Type"] == "application/gzip"
    assert 'filename="messages-2025-01.csv.gz"' in download["Content-Disposition"]
    content = b"".join(download.streaming_content)
    assert hashlib.sha256(content).hexdigest() == archive.sha256
    # Another shop's member reaches neither the list's rows nor the file.
    client.force_login(bob)
    assert (
        client.get(reverse("campaigns:archive_download", args=[history_shop.pk, archive.pk])).status_code
        == 404
    )
    # A file missing from the archive directory: a clear message, not an error page.
    client.force_login(alice)
    (Path(settings.SMS_ARCHIVE_DIR) / archive.path).unlink()
    missing = client.get(
        reverse("campaigns:archive_download", args=[history_shop.pk, archive.pk]), follow=True
    )
    assert missing.status_code == 200 and "2025年01月 的归档文件暂时无法下载" in missing.content.decode()
