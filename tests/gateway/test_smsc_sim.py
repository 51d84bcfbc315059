"""The SMPP simulator, driven by an independent SMPP client (smpplib)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm
import smpplib.smpp

from bench.smsc_sim import Outcomes, SimulatorThread
from tests.gateway.conftest import _free_port, wait_until

CHINESE = (
    "【爱丽丝服饰】亲爱的会员，您的专属满199减30元优惠券已到账，限时三天有效，"
    "全场冬季新品同享，点击链接立即领取使用，数量有限先到先得，快来选购吧！拒收请回复R"
)


_clients: list[smpplib.client.Client] = []


@pytest.fixture
def sim():
    thread = SimulatorThread(accounts={"esme": "secret"})
    yield thread
    while _clients:
        _clients.pop().disconnect()
    thread.close()


def _connect(sim: SimulatorThread, timeout: float = 5) -> smpplib.client.Client:
    client = smpplib.client.Client("127.0.0.1", sim.port, timeout=timeout, allow_unknown_opt_params=True)
    _clients.append(client)
    client.connect()
    return client


def _client(sim: SimulatorThread, *, mode: str = "transceiver") -> smpplib.client.Client:
    client = _connect(sim)
    getattr(client, f"bind_{mode}")(system_id="esme", password="secret")
    return client


def _submit(client: smpplib.client.Client, phone: str, text: str) -> list:
    parts, coding, esm_class = smpplib.gsm.make_parts(text)
    sent = []
    for part in parts:
        sent.append(
            client.send_message(
                source_addr_ton=smpplib.consts.SMPP_TON_INTL,
                source_addr="10690001",
                dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
                destination_addr=phone,
                short_message=part,
                data_coding=coding,
                esm_class=esm_class,
                registered_delivery=True,
            )
        )
    return sent


def _collect(client: smpplib.client.Client, *, want: int, seconds: float = 5) -> list:
    """Read deliver_sm PDUs until ``want`` arrived (the client acknowledges each)."""
    got: list = []
    client.set_message_received_handler(lambda pdu: got.append(pdu))
    deadline = time.monotonic() + seconds
    while len(got) < want and time.monotonic() < deadline:
        client.read_once()
    return got


def test_it_reassembles_a_long_ucs2_message_and_keeps_the_chinese_intact(sim):
    client = _client(sim)
    _submit(client, "8613800138000", CHINESE)
    _collect(client, want=2)  # a receipt per part
    received = sim.received()
    assert len(received) == 1
    assert received[0].text == CHINESE
    assert received[0].parts == 2
    assert received[0].data_coding == 8
    assert received[0].destination == "8613800138000"


def test_it_sends_receipts_with_the_configured_outcomes(sim):
    sim.set_outcomes(Outcomes(failed=0.5, seed="t"))
    client = _client(sim)
    phones = [f"86138{i:08d}" for i in range(20)]
    for phone in phones:
        _submit(client, phone, "hello")
    receipts = _collect(client, want=20)
    stats = {}
    for pdu in receipts:
        text = pdu.short_message.decode()
        stats[pdu.source_addr.decode()] = text.split("stat:")[1].split()[0]
    expected = {
        p: ("UNDELIV" if Outcomes(failed=0.5, seed="t").choose(p) == "failed" else "DELIVRD") for p in phones
    }
    assert stats == expected
    assert set(stats.values()) == {"UNDELIV", "DELIVRD"}
    assert {m.outcome for m in sim.received()} == {"failed", "delivered"}


def test_it_sends_an_enroute_receipt_before_the_final_one_for_delayed_messages(sim):
    sim.set_outcomes(Outcomes(delayed=1.0, delayed_seconds=0.3))
    client = _client(sim)
    _submit(client, "8613900000001", "later")
    receipts = _collect(client, want=2)
    stats = [p.short_message.decode().split("stat:")[1].split()[0] for p in receipts]
    assert stats == ["ENROUTE", "DELIVRD"]


def test_it_refuses_a_rejected_destination_in_the_submit_response(sim):
    sim.set_outcomes(Outcomes(rejected=1.0))
    client = _client(sim)
    errors = []
    client.set_message_sent_handler(lambda pdu: errors.append(pdu.status))
    client.set_error_pdu_handler(lambda pdu: None)
    _submit(client, "8613900000002", "no")
    client.read_once()
    assert errors == [smpplib.consts.SMPP_ESME_RINVDSTADR]
    assert sim.received()[0].outcome == "rejected"


def test_it_refuses_a_bind_with_a_wrong_password(sim):
    client = _connect(sim)
    with pytest.raises(smpplib.exceptions.PDUError):
        client.bind_transceiver(system_id="esme", password="wrong")


def test_it_sends_an_mo_in_ucs2_to_a_bound_receiver(sim):
    client = _client(sim, mode="receiver")
    record = sim.send_mo(source="8613800138000", destination="10690001", text="退订")
    (mo,) = _collect(client, want=1)
    assert mo.data_coding == 8
    assert mo.short_message.decode("utf-16-be") == "退订"
    assert mo.source_addr.decode() == "8613800138000"
    wait_until(lambda: record.acknowledged, seconds=2, what="the MO acknowledged")


def test_it_keeps_receipts_through_an_outage_and_sends_them_after_the_restart(sim):
    sim.set_outcomes(Outcomes(receipt_delay=0.3))
    client = _client(sim)
    _submit(client, "8613900000003", "outage")
    client.read_once()  # submit_sm_resp
    sim.stop(graceful=False)  # a crash: the client is not reading, so no unbind handshake
    with pytest.raises(smpplib.exceptions.ConnectionError):
        _connect(sim, timeout=1)
    # The receipt comes due while no receiver is bound: it waits in the outbox.
    wait_until(lambda: sim.outbox_size() == 1, seconds=5, what="the receipt waiting in the outbox")
    sim.start()
    again = _client(sim)
    (receipt,) = _collect(again, want=1)
    assert b"stat:DELIVRD" in receipt.short_message
    assert len(sim.received()) == 1


def test_it_unbinds_gracefully_and_refuses_for_now_what_arrives_after_its_unbind(sim):
    client = _client(sim)
    statuses: list[int] = []
    client.set_message_sent_handler(lambda pdu: statuses.append(pdu.status))
    client.set_error_pdu_handler(lambda pdu: None)
    _submit(client, "8613900000004", "before")
    client.read_once()  # submit_sm_resp
    stopping = threading.Thread(target=sim.stop)  # graceful: waits for our unbind_resp
    stopping.start()
    unbind = client.read_pdu()
    while unbind.command == "deliver_sm":  # the receipt of "before" may come first
        unbind = client.read_pdu()
    assert unbind.command == "unbind"
    _submit(client, "8613900000005", "after")  # crossed the unbind on the wire
    client.read_once()
    assert statuses == [smpplib.consts.SMPP_ESME_ROK, 0x58]  # ESME_RTHROTTLED: resubmit later
    client.send_pdu(smpplib.smpp.make_pdu("unbind_resp", client=client, sequence=unbind.sequence))
    stopping.join(timeout=5)
    assert not stopping.is_alive()
    assert [m.destination for m in sim.received()] == ["8613900000004"]


def test_it_runs_as_a_process_driven_by_its_control_interface():
    port, control = _free_port(), _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.smsc_sim",
            "--port",
            str(port),
            "--control-port",
            str(control),
            "--system-id",
            "esme",
            "--password",
            "secret",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    api = f"http://127.0.0.1:{control}"

    def up() -> bool:
        try:
            return httpx.get(f"{api}/status").status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(up, seconds=10, what="the simulator's control interface")
        assert httpx.post(f"{api}/outcomes?failed=1").json()["outcomes"]["failed"] == 1.0
        client = smpplib.client.Client("127.0.0.1", port, timeout=5, allow_unknown_opt_params=True)
        _clients.append(client)
        client.connect()
        client.bind_transceiver(system_id="esme", password="secret")
        assert httpx.get(f"{api}/status").json()["bound"] == [["esme", "trx"]]
        _submit(client, "8613800138000", "你好，世界")
        (receipt,) = _collect(client, want=1)
        assert b"stat:UNDELIV" in receipt.short_message
        assert httpx.get(f"{api}/messages").json()[0]["text"] == "你好，世界"
        assert httpx.get(f"{api}/mo?from=8613800138000&text=R").status_code == 405
        assert httpx.post(f"{api}/mo?from=8613800138000&to=10690001&text=退订").status_code == 200
        (mo,) = _collect(client, want=1)
        assert mo.short_message.decode("utf-16-be") == "退订"
        assert httpx.post(f"{api}/stop?crash=1").json()["running"] is False
        assert httpx.post(f"{api}/start").json()["running"] is True
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
