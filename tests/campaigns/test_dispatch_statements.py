"""The dispatch statements: one claim (claim + re-validate + mark ``sending``) and one record
per batch, and the dispatch loop that claims the next batch while one is on the wire.

Real PostgreSQL; the concurrent claims run on real threads, each with its own connection."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from campaigns.gateways.base import GatewayBackend, PendingBatch, SendResult
from campaigns.models import Campaign, CampaignRun, Message
from campaigns.models.frequency import OptOut
from campaigns.services.campaigns import full_text, shop_sms_state
from campaigns.services.delivery import delivery_report_apply
from campaigns.services.sending import (
    GATEWAY_ERROR,
    GATEWAY_REJECTED,
    dispatch_claim,
    dispatch_record,
    run_dispatch,
)
from reviews.models.signatures import Signature
from reviews.policy.length import count_parts
from tests.campaigns.campaign_fixtures import MARKETING_TEXT, SH, live_signature_for, run_in_threads
from tests.campaigns.durability import commit_settings
from tests.factories import make_active_account

SIGNATURE = "爱丽丝服饰"
NOON = datetime(2026, 6, 1, 12, 0, tzinfo=SH)


@pytest.fixture
def shop(alice, alice_shop, reviewer):
    make_active_account(alice_shop, balance=1000, user=alice)
    live_signature_for(alice_shop, alice, reviewer, text=SIGNATURE)
    return alice_shop


def make_run(shop, bodies: list[str], *, parts: list[int] | None = None) -> CampaignRun:
    """A running campaign whose run has one planned message per body (parts as planned
    with the live signature, unless given)."""
    campaign = Campaign.objects.create(
        shop=shop, kind="marketing", name="t", text=MARKETING_TEXT, status=Campaign.Status.RUNNING
    )
    run = CampaignRun.objects.create(campaign=campaign, status=CampaignRun.Status.DISPATCHING)
    Message.objects.bulk_create(
        Message(
            campaign=campaign,
            run=run,
            shop=shop,
            phone=f"1390000{i:04d}",
            status=Message.Status.PLANNED,
            body=body,
            parts=parts[i] if parts else count_parts(len(full_text(signature=SIGNATURE, body=body))),
            settlement=Message.Settlement.PENDING,
        )
        for i, body in enumerate(bodies)
    )
    return run


def statuses(run) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in Message.objects.filter(run=run).values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


def test_it_claims_and_marks_sending_with_the_full_text_in_id_order(shop):
    run = make_run(shop, [MARKETING_TEXT] * 10)
    outbound = dispatch_claim(run_id=run.pk, limit=4)
    assert [sms.message_id for sms in outbound] == list(
        Message.objects.filter(run=run).order_by("id").values_list("id", flat=True)[:4]
    )
    expected = full_text(signature=SIGNATURE, body=MARKETING_TEXT)
    assert {sms.text for sms in outbound} == {expected}
    sending = Message.objects.filter(run=run, status="sending")
    assert sending.count() == 4
    assert all(m.text == expected and m.attempts == 1 and m.sent_at for m in sending)
    assert len(dispatch_claim(run_id=run.pk, limit=100)) == 6
    assert dispatch_claim(run_id=run.pk, limit=100) is None


def test_it_computes_parts_in_sql_as_count_parts_does_at_every_boundary(shop):
    # Full lengths around 70 (one part), 67-multiples (two, three parts ...) and the 500 maximum.
    frame = len(full_text(signature=SIGNATURE, body=""))
    lengths = sorted(
        {n for edge in (70, 134, 201, 268, 335, 402, 469, 500) for n in range(edge - 2, edge + 3)}
    )
    bodies = ["优" * (n - frame) for n in lengths]
    right = make_run(shop, bodies)
    sent = dispatch_claim(run_id=right.pk, limit=1000)
    assert len(sent) == len(bodies) and statuses(right) == {"sending": len(bodies)}
    # Planned with one part more or less than the live signature gives: never sent mis-billed.
    wrong_parts = [count_parts(n) + (1 if i % 2 else -1) for i, n in enumerate(lengths)]
    wrong = make_run(shop, bodies, parts=wrong_parts)
    assert dispatch_claim(run_id=wrong.pk, limit=1000) == []
    assert set(Message.objects.filter(run=wrong).values_list("status", "reason")) == {
        ("dropped", "SIGNATURE-CHANGED")
    }


def test_it_drops_opted_out_phones_and_a_signature_that_changed_the_parts(shop, alice, reviewer):
    body = "优" * (70 - len(full_text(signature=SIGNATURE, body="")))  # exactly one part now
    run = make_run(shop, [MARKETING_TEXT, MARKETING_TEXT, MARKETING_TEXT])
    long_run = make_run(shop, [body])
    opted = Message.objects.filter(run=run).order_by("id")[1]
    OptOut.objects.create(shop=shop, phone=opted.phone, keyword="TD", source="sms_reply")
    sent = dispatch_claim(run_id=run.pk, limit=10)
    assert opted.pk not in {sms.message_id for sms in sent} and len(sent) == 2
    opted.refresh_from_db()
    assert (opted.status, opted.reason, opted.text, opted.attempts) == ("dropped", "OPTED-OUT", "", 0)
    assert opted.final_at is not None and opted.sent_at is None
    # A longer signature goes live: the 70-character message would need two parts.
    live_signature_for(shop, alice, reviewer, text=SIGNATURE + "旗舰")
    assert dispatch_claim(run_id=long_run.pk, limit=10) == []
    assert Message.objects.get(run=long_run).reason == "SIGNATURE-CHANGED"


@pytest.mark.parametrize("change", ["closed", "restricted", "no-signature"])
def test_it_drops_the_batch_with_the_reason_shop_sms_state_gives(shop, change):
    run = make_run(shop, [MARKETING_TEXT] * 3)
    if change == "closed":
        shop.active = False
        shop.save(update_fields=["active"])
    elif change == "restricted":
        shop.category.restricted = True
        shop.category.save(update_fields=["restricted"])
    else:
        Signature.objects.filter(shop=shop, state="approved").update(state="withdrawn")
    shop.refresh_from_db()
    reason = shop_sms_state(shop=shop, campaign=run.campaign).reason
    assert reason  # the Python rule refuses too ...
    assert dispatch_claim(run_id=run.pk, limit=10) == []
    # ... and the statement gives the same reason to every message of the batch.
    assert set(Message.objects.filter(run=run).values_list("status", "reason")) == {("dropped", reason)}


def test_it_leaves_messages_that_are_not_due_or_no_longer_planned(shop):
    run = make_run(shop, [MARKETING_TEXT] * 3)
    later, cancelled, due = Message.objects.filter(run=run).order_by("id")
    Message.objects.filter(pk=later.pk).update(next_attempt_at=timezone.now() + timedelta(minutes=5))
    Message.objects.filter(pk=cancelled.pk).update(status="dropped", reason="X")
    assert [sms.message_id for sms in dispatch_claim(run_id=run.pk, limit=10)] == [due.pk]
    assert dispatch_claim(run_id=run.pk, limit=10) is None
    later.refresh_from_db()
    assert later.status == "planned" and later.attempts == 0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_it_gives_each_message_to_exactly_one_of_concurrent_claimers(shop):
    run = make_run(shop, [MARKETING_TEXT] * 400)
    workers = 6

    def claimer(index: int) -> list[int]:
        ids = []
        while (batch := dispatch_claim(run_id=run.pk, limit=7)) is not None:
            ids.extend(sms.message_id for sms in batch)
        return ids

    claimed = run_in_threads(claimer, workers)
    everything = [message_id for ids in claimed for message_id in ids]
    assert len(everything) == len(set(everything)) == 400  # nobody claimed a message twice
    assert sum(1 for ids in claimed if ids) > 1  # the claimers really ran side by side
    assert statuses(run) == {"sending": 400}
    assert set(Message.objects.filter(run=run).values_list("attempts", flat=True)) == {1}


def test_it_records_a_batch_of_mixed_outcomes_in_one_statement(shop, settings):
    settings.SMS_PIPELINE = {**settings.SMS_PIPELINE, "MAX_ATTEMPTS": 3, "RETRY_BACKOFF": 60}
    run = make_run(shop, [MARKETING_TEXT] * 6)
    ids = list(Message.objects.filter(run=run).order_by("id").values_list("id", flat=True))
    accepted, refused, retry, exhausted, reported, other_run = ids
    Message.objects.filter(pk=exhausted).update(attempts=2)  # this claim is its third try
    Message.objects.filter(pk=other_run).update(status="dropped")  # not claimed: never touched
    assert len(dispatch_claim(run_id=run.pk, limit=10)) == 5
    # The gateway's report of one message arrives before the pipeline records the answers.
    delivery_report_apply(message_id=reported, status="delivered", at=timezone.now())
    now = timezone.now()
    dispatch_record(
        results=[
            SendResult(accepted, accepted=True),
            SendResult(refused, accepted=False, error="400 bad receiver"),
            SendResult(retry, accepted=False, retryable=True, error="503"),
            SendResult(exhausted, accepted=False, retryable=True, error="503"),
            SendResult(reported, accepted=True),
            SendResult(other_run, accepted=True),
        ],
        now=now,
    )
    rows = {m.pk: m for m in Message.objects.filter(run=run)}
    assert rows[accepted].status == "accepted" and rows[accepted].final_at is None
    assert (rows[refused].status, rows[refused].reason, rows[refused].final_at) == (
        "failed",
        GATEWAY_REJECTED,
        now,
    )
    assert (rows[retry].status, rows[retry].sent_at, rows[retry].next_attempt_at) == (
        "planned",
        None,
        now + timedelta(seconds=60),  # RETRY_BACKOFF * 2^(attempts - 1), attempts = 1
    )
    assert (rows[exhausted].status, rows[exhausted].reason, rows[exhausted].final_at) == (
        "failed",
        GATEWAY_ERROR,
        now,
    )
    assert rows[reported].status == "delivered"  # a final state is never overwritten
    assert rows[other_run].status == "dropped"
    # The retried message comes back once its back-off is over, as its second attempt.
    assert dispatch_claim(run_id=run.pk, limit=10, now=now + timedelta(seconds=59)) is None
    again = dispatch_claim(run_id=run.pk, limit=10, now=now + timedelta(seconds=61))
    assert [sms.message_id for sms in again] == [retry]
    rows[retry].refresh_from_db()
    assert rows[retry].attempts == 2


class WindowGateway(GatewayBackend):
    """Accepts everything, answering only when the pipeline asks for the results; records how
    many messages were ``sending`` (claimed, not recorded) at each hand-over."""

    overlaps_dispatch = True
    seen: list[int] = []

    def send_batch(self, messages):
        return [SendResult(sms.message_id, accepted=True) for sms in messages]

    def submit_batch(self, messages) -> PendingBatch:
        WindowGateway.seen.append(Message.objects.filter(status="sending").count())
        gateway = self

        class Later(PendingBatch):
            def results(self):
                return gateway.send_batch(messages)

        return Later()


def test_it_claims_the_next_batch_while_one_is_on_the_wire_within_the_window(shop, settings):
    settings.SMS_PIPELINE = {**settings.SMS_PIPELINE, "DISPATCH_RATE": 0, "DISPATCH_BATCH": 5}
    settings.SMS_GATEWAY = {"BACKEND": f"{__name__}.WindowGateway", "OPTIONS": {}}
    WindowGateway.seen = []
    run = make_run(shop, [MARKETING_TEXT] * 23)
    with time_machine.travel(NOON):
        result = run_dispatch(run_id=run.pk)
    assert result.done
    assert statuses(run) == {"accepted": 23}
    # 5 batches; from the second on, the previous batch is still unrecorded at hand-over,
    # never more than DISPATCH_WINDOW (2) batches: what a crash could leave 'sending'.
    assert WindowGateway.seen == [5, 10, 10, 10, 8]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_it_records_on_its_own_commit_without_leaving_the_setting_on_the_connection(shop):
    # Outside a transaction the record commits without waiting for the WAL flush; that
    # setting is local to its own transaction and must not reach the next statements (the
    # claim's commit, which makes the hand-over at-most-once, stays durable).
    run = make_run(shop, [MARKETING_TEXT] * 4)
    sent: list = []
    claims = commit_settings(lambda: sent.extend(dispatch_claim(run_id=run.pk, limit=10)), marker="UPDATE")
    assert claims == ["on"]
    assert not connection.in_atomic_block
    records = commit_settings(
        lambda: dispatch_record(results=[SendResult(sms.message_id, accepted=True) for sms in sent]),
        marker="UPDATE",
    )
    assert records == ["off"]
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
    assert statuses(run) == {"accepted": 4}


class ClockGateway(WindowGateway):
    """Each hand-over takes 30 s of (travelled) time."""

    traveller = None

    def submit_batch(self, messages) -> PendingBatch:
        ClockGateway.traveller.shift(timedelta(seconds=30))
        return super().submit_batch(messages)


def test_it_stops_claiming_when_the_marketing_window_closes_mid_run(shop, settings):
    settings.SMS_PIPELINE = {**settings.SMS_PIPELINE, "DISPATCH_RATE": 0, "DISPATCH_BATCH": 5}
    settings.SMS_GATEWAY = {"BACKEND": f"{__name__}.ClockGateway", "OPTIONS": {}}
    run = make_run(shop, [MARKETING_TEXT] * 23)
    with time_machine.travel(datetime(2026, 6, 1, 20, 59, 0, tzinfo=SH), tick=False) as traveller:
        ClockGateway.traveller = traveller
        result = run_dispatch(run_id=run.pk)  # quiet hours respected unless the caller says not
    # Batches claimed at 20:59:00 and 20:59:30 go out and are recorded; at 21:00 it stops.
    assert (result.done, result.retry_at) == (False, datetime(2026, 6, 2, 8, 0, tzinfo=SH))
    assert statuses(run) == {"accepted": 10, "planned": 13}


def test_it_sends_nothing_in_quiet_hours_unless_the_caller_says_so(shop, settings):
    settings.SMS_PIPELINE = {**settings.SMS_PIPELINE, "DISPATCH_RATE": 0, "DISPATCH_BATCH": 5}
    settings.SMS_GATEWAY = {"BACKEND": f"{__name__}.WindowGateway", "OPTIONS": {}}
    run = make_run(shop, [MARKETING_TEXT] * 7)
    with time_machine.travel(datetime(2026, 6, 1, 23, 30, tzinfo=SH), tick=False):
        waiting = run_dispatch(run_id=run.pk)
        assert (waiting.done, waiting.retry_at) == (False, datetime(2026, 6, 2, 8, 0, tzinfo=SH))
        assert statuses(run) == {"planned": 7}
        # The dispatch benchmark, which sends to no customer, runs at night too.
        anyway = run_dispatch(run_id=run.pk, quiet_hours=False)
    assert anyway.done
    assert statuses(run) == {"accepted": 7}
