"""The Kannel backend against a real Kannel, with the SMPP simulator as its SMSC.

Delivery reports go to a tiny recording HTTP server here (the app's own
endpoint is tested in test_callbacks.py and test_kannel_campaign.py).
"""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from bench.smsc_sim import Outcomes
from campaigns.gateways.base import OutboundSms
from campaigns.gateways.kannel import KannelBackend, dlr_token_valid
from tests.gateway.conftest import wait_until

# Transactional (the live server must see committed rows); serialized_rollback so the
# flush after each test leaves the migrations' data for the transactional tests that follow.
pytestmark = [pytest.mark.kannel, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

LONG_CHINESE = (
    "【爱丽丝服饰】亲爱的会员，您的专属满199减30元优惠券已到账，限时三天有效，"
    "全场冬季新品同享，点击链接立即领取使用，数量有限先到先得，快来选购吧！拒收请回复R"
)


def _idle_connections(backend: KannelBackend) -> set[int]:
    """The backend's kept-alive connections, once its workers have put back every connection
    it opened (a worker leaves just after the last answer of a batch; none is dropped)."""
    wait_until(
        lambda: len(backend._idle) == backend.connections_opened, seconds=5, what="every connection kept idle"
    )
    with backend._lock:
        return {id(conn) for conn in backend._idle}


def _stored(kannel) -> int:
    """Messages Kannel holds in its store (accepted, not yet acknowledged by the SMSC)."""
    return int(re.search(r"store size (-?\d+)", kannel.status())[1])


def _reports(paths: list[str]) -> list[dict[str, str]]:
    return [{k: v[0] for k, v in parse_qs(urlsplit(p).query).items()} for p in paths]


def test_it_sends_chinese_that_arrives_intact_and_gets_delivery_reports(kannel, fresh_smsc, callbacks):
    backend = kannel.backend(callback_base_url=callbacks.url)
    results = backend.send_batch(
        [
            OutboundSms(101, "13800138000", LONG_CHINESE),
            OutboundSms(102, "13800138001", "【爱丽丝服饰】短信 emoji 😀 与全角ＡＢＣ"),
        ]
    )
    backend.close()
    assert [(r.message_id, r.accepted) for r in results] == [(101, True), (102, True)]
    wait_until(lambda: len(fresh_smsc.received()) == 2, seconds=10, what="both messages at the SMSC")
    by_phone = {m.destination: m for m in fresh_smsc.received()}
    assert by_phone["13800138000"].text == LONG_CHINESE
    assert by_phone["13800138000"].parts == 2
    assert by_phone["13800138000"].data_coding == 8
    assert by_phone["13800138001"].text == "【爱丽丝服饰】短信 emoji 😀 与全角ＡＢＣ"
    wait_until(lambda: len(callbacks.snapshot()) >= 4, seconds=10, what="delivery reports")
    reports = _reports(callbacks.snapshot())
    assert {(r["id"], r["type"]) for r in reports} == {("101", "8"), ("101", "1"), ("102", "8"), ("102", "1")}
    assert all(dlr_token_valid(r["id"], r["token"]) for r in reports)
    assert all(urlsplit(p).path == "/hooks/kannel/dlr/" for p in callbacks.snapshot())


def test_it_reports_failed_and_rejected_messages_with_their_kannel_types(kannel, fresh_smsc, callbacks):
    phones = [f"1390000{i:04d}" for i in range(40)]
    # The delay leaves time for the buffered report (4) to pass through Kannel before the
    # final one even on a loaded machine (Kannel drops an intermediate report that arrives
    # after the final one has closed its DLR entry).
    outcomes = Outcomes(failed=0.3, rejected=0.2, delayed=0.2, delayed_seconds=2.0, seed="types")
    fresh_smsc.set_outcomes(outcomes)
    backend = kannel.backend(callback_base_url=callbacks.url)
    results = backend.send_batch(
        [OutboundSms(i, phone, "【测试】状态回执") for i, phone in enumerate(phones)]
    )
    backend.close()
    assert all(r.accepted for r in results)  # the refusal comes later, from the SMSC
    expected_final = {"delivered": "1", "delayed": "1", "failed": "2", "rejected": "16"}
    expected = {str(i): expected_final[outcomes.choose(p)] for i, p in enumerate(phones)}
    assert set(expected.values()) == {"1", "2", "16"}

    def finals() -> dict[str, str]:
        return {r["id"]: r["type"] for r in _reports(callbacks.snapshot()) if r["type"] in ("1", "2", "16")}

    wait_until(lambda: len(finals()) == len(phones), seconds=15, what="a final report per message")
    assert finals() == expected
    # A delayed message is reported buffered at the SMSC (4) before it is delivered.
    delayed = {str(i) for i, p in enumerate(phones) if outcomes.choose(p) == "delayed"}
    assert delayed
    buffered = {r["id"] for r in _reports(callbacks.snapshot()) if r["type"] == "4"}
    assert buffered == delayed


def test_it_maps_kannel_refusals_and_outages_to_results(kannel, fresh_smsc, callbacks):
    refused = kannel.backend(password="wrong").send_batch([OutboundSms(1, "13800138000", "【测试】你好")])
    assert not refused[0].accepted and not refused[0].retryable
    assert refused[0].error.startswith("403")

    backend = kannel.backend(callback_base_url=callbacks.url)
    empty, no_receiver = backend.send_batch(
        [OutboundSms(2, "13800138000", ""), OutboundSms(3, "", "【测试】你好")]
    )
    assert (empty.accepted, empty.retryable, empty.error) == (False, False, "empty text")
    assert (no_receiver.accepted, no_receiver.retryable) == (False, False)
    bad_receiver = backend.send_batch([OutboundSms(4, "138;00", "【测试】你好")])[0]
    assert (bad_receiver.accepted, bad_receiver.retryable) == (False, False)
    assert bad_receiver.error.startswith("4")

    unreachable = KannelBackend(url="http://127.0.0.1:9/cgi-bin/sendsms").send_batch(
        [OutboundSms(5, "13800138000", "【测试】你好")]
    )[0]
    assert (unreachable.accepted, unreachable.retryable) == (False, True)
    # Sentinel: one valid message after the refused ones. Kannel hands its queue to the SMSC
    # in order, so once the sentinel is there, anything refused but queued would be too.
    [sentinel] = backend.send_batch([OutboundSms(6, "13800138999", "【测试】哨兵")])
    backend.close()
    assert sentinel.accepted
    wait_until(lambda: fresh_smsc.received(), seconds=10, what="the sentinel at the SMSC")
    assert [m.destination for m in fresh_smsc.received()] == ["13800138999"]  # nothing refused got there


def test_it_queues_in_kannel_while_the_smsc_is_down_and_delivers_once_it_is_back(
    kannel, fresh_smsc, callbacks
):
    fresh_smsc.stop()
    wait_until(lambda: not kannel.smsc_online(), seconds=10, what="Kannel to see the SMSC down")
    backend = kannel.backend(callback_base_url=callbacks.url)
    results = backend.send_batch([OutboundSms(i, f"1370000{i:04d}", "【测试】断线重发") for i in range(10)])
    backend.close()
    assert all(r.accepted for r in results)
    # Kannel holds all ten in its store while the SMSC is down (none was sent).
    wait_until(lambda: _stored(kannel) == 10, seconds=10, what="the ten messages in Kannel's store")
    assert fresh_smsc.received() == []
    fresh_smsc.start()
    wait_until(lambda: len(fresh_smsc.received()) == 10, seconds=20, what="the queued messages at the SMSC")
    wait_until(
        lambda: (
            {r["id"] for r in _reports(callbacks.snapshot()) if r["type"] == "1"}
            == {str(i) for i in range(10)}
        ),
        seconds=15,
        what="delivered reports after the restart",
    )
    assert sorted(m.destination for m in fresh_smsc.received()) == [f"1370000{i:04d}" for i in range(10)]


def test_it_sends_concurrently_within_the_configured_rate(kannel, fresh_smsc, callbacks):
    messages = [OutboundSms(i, f"1360000{i:04d}", f"【测试】第{i}条") for i in range(60)]
    slow = kannel.backend(callback_base_url=callbacks.url, rate=40, concurrency=4)
    started = time.monotonic()
    assert all(r.accepted for r in slow.send_batch(messages[:20]))
    assert time.monotonic() - started >= 19 / 40  # 20 starts spaced 1/40 s apart
    slow.close()

    fast = kannel.backend(callback_base_url=callbacks.url, rate=0, concurrency=8)
    assert all(r.accepted for r in fast.send_batch(messages[20:40]))
    assert 1 <= fast.connections_opened <= 8  # 20 requests over at most 8 kept-alive connections
    first = _idle_connections(fast)
    assert all(r.accepted for r in fast.send_batch(messages[40:]))
    # The next batch reuses them: every connection of the first batch is still kept, and at
    # most 8 were ever opened. (Not "none opened": on a loaded machine a worker of the first
    # batch can start only after the others drained the queue and take an idle connection,
    # so the first batch opens 7 and the second, with 8 workers busy, the 8th.)
    assert first <= _idle_connections(fast)
    assert len(_idle_connections(fast)) == fast.connections_opened <= 8
    fast.close()
    wait_until(lambda: len(fresh_smsc.received()) == 60, seconds=15, what="all 60 at the SMSC")
