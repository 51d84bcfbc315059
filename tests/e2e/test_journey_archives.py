"""Journey: a campaign whose messages are past the retention (issue 25), at 1440x900 and 390x844.

A shop sent a campaign in January 2025 (clock moved there; tasks run synchronously, the simulated
gateway reports). The nightly retention archives that month: one gzip CSV for the shop, the
month's partitions dropped. The owner opens the campaign: its statistics are all still there, and
a notice says the message details of 2025年1月 are archived, with 下载归档明细 instead of the
export. She follows it to 历史归档, sees the month with its count, and downloads the file: the
export's columns after 营销任务ID, one row per message.
"""

from __future__ import annotations

import csv
import gzip
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from campaigns.models import Message, MessageArchive
from campaigns.selectors import MESSAGE_EXPORT_HEADER
from campaigns.services.campaigns import campaign_create, campaign_schedule
from campaigns.services.delivery import delivery_settle
from campaigns.services.message_partitions import message_months_forget
from campaigns.services.retention import message_history_retain
from tests.campaigns.campaign_fixtures import import_customers, live_signature_for
from tests.factories import PASSWORD, make_active_account, make_reviewer, make_shop, make_user

JOURNEY = "archives"

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

JANUARY = datetime(2025, 1, 13, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def test_it_shows_an_archived_campaign_and_downloads_its_month(journey, settings, tmp_path):
    settings.SMS_ARCHIVE_DIR = tmp_path / "archive"
    message_months_forget()
    gina = make_user("gina")
    shop = make_shop("吉娜家居", owner=gina)
    make_active_account(shop, balance=1000, user=gina)
    live_signature_for(shop, gina, make_reviewer("rita"), text="吉娜家居")
    import_customers(shop, [f"1390014{i:04d},客户{i},,,," for i in range(40)])
    with time_machine.travel(JANUARY, tick=False):
        campaign = campaign_create(
            shop=shop,
            user=gina,
            kind="marketing",
            name="新年焕新季",
            text="新年焕新季，全场满299减30，欢迎进店。",
        )
        campaign_schedule(campaign=campaign, user=gina)  # the tasks run once it commits
        delivery_settle()
    sent = Message.objects.filter(campaign=campaign).count()
    assert sent == 40
    result = message_history_retain()  # today's nightly task: January 2025 is past 13 months
    assert result.archived and not Message.objects.filter(campaign=campaign).exists()

    owner = journey.open(accept_downloads=True)
    journey.login(owner, "gina", PASSWORD)
    owner.goto(f"/shop/{shop.pk}/campaigns/{campaign.pk}/")
    journey.ready(owner)
    notice = owner.locator("#archived-notice")
    assert "2025年1月的短信明细已超过保留期" in notice.inner_text()
    assert owner.locator("#export-csv").count() == 0
    assert "40" in owner.locator("#statistics").inner_text()  # the counts are still there
    journey.check_both(owner, "archived-campaign")

    owner.click("#archives-link")
    owner.wait_for_url(f"**/shop/{shop.pk}/archives/")
    journey.ready(owner)
    row = owner.locator("#archives tbody tr").first
    assert "2025年1月" in row.inner_text() and "40" in row.inner_text()
    journey.check_both(owner, "archives")

    with owner.expect_download() as download:
        row.locator("a", has_text="下载").click()
    assert download.value.suggested_filename == "messages-2025-01.csv.gz"
    with open(download.value.path(), "rb") as handle:
        rows = list(csv.reader(io.StringIO(gzip.decompress(handle.read()).decode("utf-8-sig"))))
    assert rows[0] == ["营销任务ID", *MESSAGE_EXPORT_HEADER]
    assert len(rows) == 1 + 40 and {r[0] for r in rows[1:]} == {str(campaign.pk)}
    assert MessageArchive.objects.get(shop=shop).messages == 40
    journey.assert_console_clean()
