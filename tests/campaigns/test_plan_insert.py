"""The planner writes a batch's message rows in one statement (``planning._insert``): every value
arrives as it was, whatever characters it holds, NULLs stay NULL, and a replayed batch is
refused whole by the unique (run, phone) index."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from campaigns.models import CampaignRun, Message
from campaigns.models.audience import Customer
from campaigns.selectors import Recipient
from campaigns.services.campaigns import campaign_create
from campaigns.services.planning import Row, _insert
from tests.campaigns.campaign_fixtures import MORNING

pytestmark = pytest.mark.django_db

TRICKY = "第一行\n第二行\t制表符 \\反斜杠\\N 回车\r结束 ，【店】"


@pytest.fixture
def run(alice, alice_shop) -> CampaignRun:
    campaign = campaign_create(
        shop=alice_shop, user=alice, kind="marketing", name="转义", text="夏季新品上架"
    )
    return CampaignRun.objects.create(campaign=campaign, status=CampaignRun.Status.PLANNING)


def test_it_copies_every_value_as_it_was(run, alice_shop):
    customer = Customer.objects.create(shop=alice_shop, phone="13800138000", name="张\t三")
    rows = [
        Row(Recipient(customer.pk, customer.pk, "13800138000", "张\t三"), Message.Status.PLANNED,
            body=TRICKY, parts=2, link_code="Ab\\Cd_12"),
        Row(Recipient(0, None, "138\t0\\38001", ""), Message.Status.SUPPRESSED, reason="INVALID-PHONE"),
        Row(Recipient(0, None, "13800138002", ""), Message.Status.PLANNED, body="普通正文", parts=1),
    ]  # fmt: skip
    _insert(run=run, rows=rows, batch=7, now=MORNING)

    stored = {m.phone: m for m in Message.objects.filter(run=run)}
    assert set(stored) == {"13800138000", "138\t0\\38001", "13800138002"}
    first = stored["13800138000"]
    assert (first.body, first.parts, first.link_code, first.customer_id) == (
        TRICKY,
        2,
        "Ab\\Cd_12",
        customer.pk,
    )
    assert (first.status, first.reason, first.settlement, first.batch, first.text) == (
        "planned",
        "",
        "pending",
        7,
        "",
    )
    assert first.counted_at == MORNING and first.created_at == MORNING and first.attempts == 0
    assert (first.campaign_id, first.shop_id) == (run.campaign_id, run.campaign.shop_id)
    suppressed = stored["138\t0\\38001"]
    assert (suppressed.status, suppressed.reason, suppressed.body, suppressed.parts) == (
        "suppressed",
        "INVALID-PHONE",
        "",
        0,
    )
    assert suppressed.customer_id is None and suppressed.link_code is None and suppressed.counted_at is None
    assert suppressed.settlement == "none"
    assert stored["13800138002"].link_code is None and stored["13800138002"].body == "普通正文"


def test_a_replayed_batch_is_refused_whole(run):
    rows = [
        Row(Recipient(0, None, f"1380013800{i}", ""), Message.Status.PLANNED, body="正文", parts=1)
        for i in range(3)
    ]
    _insert(run=run, rows=rows, batch=1, now=MORNING)
    again = [
        Row(Recipient(0, None, "13800138009", ""), Message.Status.PLANNED, body="正文", parts=1),
        rows[1],
    ]
    with pytest.raises(IntegrityError), transaction.atomic():
        _insert(run=run, rows=again, batch=2, now=MORNING)
    assert Message.objects.filter(run=run).count() == 3
    assert not Message.objects.filter(run=run, phone="13800138009").exists()
