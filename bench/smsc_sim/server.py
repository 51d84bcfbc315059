"""An SMPP 3.4 SMSC simulator on asyncio, to stand behind Kannel in tests and locally.

It accepts binds (transmitter, receiver, transceiver), answers ``submit_sm``,
reassembles concatenated UCS-2 messages and records them as the phone would
show them, and sends delivery receipts (``deliver_sm`` with esm_class 0x04)
whose outcome is one of ``delivered``, ``failed``, ``delayed`` (an ENROUTE
receipt first, DELIVRD later) or ``rejected`` (the submit itself is refused).
Outcomes are drawn per destination with a seeded hash, so the same phone gets
the same outcome after an outage and a test can predict every message's fate.
It can also send mobile-originated messages (``send_mo``), and be stopped and
started again to simulate an outage. Receipts and MOs wait in an outbox until
a receiver is bound and are re-sent if the connection drops before Kannel
acknowledged them (at least once, as a real SMSC does).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from bench.smsc_sim import pdu

logger = logging.getLogger(__name__)

OUTCOMES = ("delivered", "failed", "delayed", "rejected")


@dataclass
class Outcomes:
    """Shares of each outcome (they need not add up to 1; the rest is delivered)."""

    failed: float = 0.0
    delayed: float = 0.0
    rejected: float = 0.0
    receipt_delay: float = 0.0  # seconds before a final receipt is sent
    delayed_seconds: float = 1.0  # seconds between the ENROUTE and the final receipt of ``delayed``
    seed: str = "smsc-sim"

    def choose(self, destination: str) -> str:
        digest = hashlib.sha256(f"{self.seed}:{destination}".encode()).digest()
        point = int.from_bytes(digest[:8], "big") / 2**64
        for name, share in (("failed", self.failed), ("delayed", self.delayed), ("rejected", self.rejected)):
            if point < share:
                return name
            point -= share
        return "delivered"


@dataclass
class ReceivedMessage:
    """One complete message (all its parts) as it arrived at the simulator."""

    source: str
    destination: str
    text: str
    data_coding: int
    parts: int
    message_ids: list[str]
    outcome: str
    received_at: float = field(default_factory=time.time)


@dataclass
class _Outgoing:
    """A deliver_sm waiting to be sent to a bound receiver."""

    due: float
    body: bytes
    kind: str  # "receipt" or "mo"
    system_id: str | None  # receipts go back to the account that submitted


@dataclass
class SentMo:
    source: str
    destination: str
    text: str
    acknowledged: bool = False


class _Session:
    def __init__(
        self, sim: SmscSimulator, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.sim = sim
        self.reader = reader
        self.writer = writer
        self.mode: str | None = None  # "tx", "rx" or "trx" once bound
        self.system_id: str | None = None
        self.sequence = itertools.count(1)
        self.in_flight: dict[int, _Outgoing] = {}  # deliver_sm sent, awaiting deliver_sm_resp
        self.unbinding = False  # we sent unbind (graceful stop)

    @property
    def can_receive(self) -> bool:
        return self.mode in ("rx", "trx")

    @property
    def can_transmit(self) -> bool:
        return self.mode in ("tx", "trx")

    def send(self, command_id: int, status: int, sequence: int, body: bytes = b"") -> None:
        self.writer.write(pdu.Pdu(command_id, status, sequence, body).encode())

    async def run(self) -> None:
        try:
            while True:
                header = await self.reader.readexactly(pdu.HEADER.size)
                length, command_id, status, sequence = pdu.HEADER.unpack(header)
                body = await self.reader.readexactly(length - pdu.HEADER.size)
                if not self.handle(pdu.Pdu(command_id, status, sequence, body)):
                    break
                await self.writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.sim._session_closed(self)
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()

    def handle(self, p: pdu.Pdu) -> bool:
        """Answer one PDU; False ends the session."""
        if p.command_id in pdu.BINDS:
            return self.bind(p)
        if p.command_id == pdu.ENQUIRE_LINK:
            self.send(pdu.ENQUIRE_LINK | pdu.RESP, pdu.ESME_ROK, p.sequence)
        elif p.command_id == pdu.UNBIND:
            self.send(pdu.UNBIND | pdu.RESP, pdu.ESME_ROK, p.sequence)
            return False
        elif p.command_id == pdu.UNBIND | pdu.RESP:
            return False  # the ESME acknowledged our unbind (graceful stop)
        elif p.command_id == pdu.SUBMIT_SM:
            if not self.can_transmit:
                self.send(pdu.SUBMIT_SM | pdu.RESP, pdu.ESME_RINVBNDSTS, p.sequence, pdu.cstr(""))
            elif self.unbinding:
                # Sent before the ESME read our unbind: refuse it for now, without taking it,
                # so it is resubmitted after the outage instead of being taken twice (the ESME
                # may drop the connection before it reads an acceptance).
                self.send(pdu.SUBMIT_SM | pdu.RESP, pdu.ESME_RTHROTTLED, p.sequence, pdu.cstr(""))
            else:
                status, message_id = self.sim._submit(self, pdu.parse_short_message(p.body))
                self.send(pdu.SUBMIT_SM | pdu.RESP, status, p.sequence, pdu.cstr(message_id))
        elif p.command_id == pdu.DELIVER_SM | pdu.RESP:
            outgoing = self.in_flight.pop(p.sequence, None)
            if outgoing is not None:
                self.sim._acknowledged(outgoing, p.status)
        elif p.command_id & pdu.RESP:
            pass  # responses to PDUs we never send
        else:
            self.send(pdu.GENERIC_NACK, pdu.ESME_RINVCMDID, p.sequence)
        return True

    def bind(self, p: pdu.Pdu) -> bool:
        bind = pdu.parse_bind(p.body)
        resp = p.command_id | pdu.RESP
        expected = self.sim.accounts.get(bind.system_id)
        if self.mode is not None:
            self.send(resp, pdu.ESME_RINVBNDSTS, p.sequence, pdu.cstr(self.sim.system_id))
            return True
        if expected is None or expected != bind.password:
            self.send(resp, pdu.ESME_RINVPASWD, p.sequence, pdu.cstr(self.sim.system_id))
            return False
        self.mode = pdu.BINDS[p.command_id]
        self.system_id = bind.system_id
        self.send(resp, pdu.ESME_ROK, p.sequence, pdu.cstr(self.sim.system_id))
        logger.info("smsc-sim: %s bound as %s", bind.system_id, self.mode)
        self.sim._wake.set()
        return True


class SmscSimulator:
    """The simulator; all methods run on its event loop (see ``SimulatorThread`` for other threads)."""

    system_id = "SMSCSIM"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        accounts: dict[str, str] | None = None,
        outcomes: Outcomes | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.accounts = accounts if accounts is not None else {"kannel": "kannel"}
        self.outcomes = outcomes or Outcomes()
        self.received: list[ReceivedMessage] = []
        self.mo_sent: list[SentMo] = []
        self.parts_received = 0
        self._ids = itertools.count(1)
        self._server: asyncio.base_events.Server | None = None
        self._sessions: set[_Session] = set()
        self._tasks: set[asyncio.Task] = set()
        self._partial: dict[tuple[str, str, int], dict[int, tuple[bytes, str]]] = {}
        self._outbox: list[_Outgoing] = []
        self._mo_records: dict[int, SentMo] = {}
        self._wake = asyncio.Event()
        self._pump: asyncio.Task | None = None

    # -- lifecycle -----------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        """Listen for binds (again, after ``stop``, on the same port)."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        if self._pump is None:
            self._pump = asyncio.create_task(self._pump_outbox())
        logger.info("smsc-sim: listening on %s:%s", self.host, self.port)

    async def stop(self, *, graceful: bool = True, timeout: float = 10.0) -> None:
        """An outage: stop listening and end every connection. The outbox is kept.

        ``graceful``: like an SMSC going down for maintenance, send each bound ESME an
        ``unbind`` and keep answering what it already sent until it acknowledges (or
        ``timeout``), so no submit is left without a response. Otherwise (a crash) the
        connections are dropped at once, and the ESME will resubmit what was unanswered.
        """
        if self._server is None:
            return
        self._server.close()
        self._server = None
        if graceful:
            for session in list(self._sessions):
                if session.mode:
                    session.unbinding = True
                    session.send(pdu.UNBIND, pdu.ESME_ROK, next(session.sequence))
            tasks = list(self._tasks)
            if tasks:
                await asyncio.wait(tasks, timeout=timeout)
        for session in list(self._sessions):
            session.writer.close()
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await task
        logger.info("smsc-sim: stopped")

    async def shutdown(self) -> None:
        await self.stop()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None

    def bound(self) -> list[tuple[str | None, str | None]]:
        return [(s.system_id, s.mode) for s in self._sessions if s.mode]

    # -- MO -------------------------------------------------------------------------

    def send_mo(self, *, source: str, destination: str, text: str) -> SentMo:
        """Queue a message from a handset (``source``) to a service number (``destination``)."""
        if text.isascii():
            coding, payload = pdu.DATA_CODING_DEFAULT, text.encode("ascii")
        else:
            coding, payload = pdu.DATA_CODING_UCS2, text.encode("utf-16-be")
        body = pdu.deliver_sm_body(
            source=source, destination=destination, esm_class=0, data_coding=coding, payload=payload
        )
        record = SentMo(source, destination, text)
        self.mo_sent.append(record)
        outgoing = _Outgoing(time.monotonic(), body, "mo", None)
        self._mo_records[id(outgoing)] = record
        self._queue(outgoing)
        return record

    # -- internals ------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session(self, reader, writer)
        self._sessions.add(session)
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            await session.run()
        finally:
            self._tasks.discard(task)

    def _session_closed(self, session: _Session) -> None:
        self._sessions.discard(session)
        # Deliver_sm that Kannel never acknowledged go out again on the next bind.
        for outgoing in session.in_flight.values():
            self._queue(outgoing)
        session.in_flight.clear()

    def _queue(self, outgoing: _Outgoing) -> None:
        self._outbox.append(outgoing)
        self._wake.set()

    def _acknowledged(self, outgoing: _Outgoing, status: int) -> None:
        if status != pdu.ESME_ROK:
            outgoing.due = time.monotonic() + 1.0
            self._queue(outgoing)
            return
        record = self._mo_records.pop(id(outgoing), None)
        if record is not None:
            record.acknowledged = True

    def _submit(self, session: _Session, sm: pdu.ShortMessage) -> tuple[int, str]:
        outcome = self.outcomes.choose(sm.destination)
        if outcome == "rejected":
            self._collect(sm, "", outcome)
            return pdu.ESME_RINVDSTADR, ""
        message_id = str(next(self._ids))
        self._collect(sm, message_id, outcome)
        if sm.registered_delivery & 0x03:
            self._schedule_receipts(session.system_id, sm, message_id, outcome)
        return pdu.ESME_ROK, message_id

    def _collect(self, sm: pdu.ShortMessage, message_id: str, outcome: str) -> None:
        """Record a part; a message is recorded once all its parts are in."""
        self.parts_received += 1
        payload = sm.payload
        concat = None
        if sm.has_udh:
            concat, payload = pdu.split_udh(payload)
        if concat is None:
            text = pdu.decode_text(sm.data_coding, payload)
            self.received.append(
                ReceivedMessage(sm.source, sm.destination, text, sm.data_coding, 1, [message_id], outcome)
            )
            return
        reference, total, seq = concat
        key = (sm.source, sm.destination, reference)
        parts = self._partial.setdefault(key, {})
        parts[seq] = (payload, message_id)
        if len(parts) < total:
            return
        del self._partial[key]
        ordered = [parts[i] for i in sorted(parts)]
        # UCS-2 parts may split a surrogate pair; join the bytes before decoding.
        text = pdu.decode_text(sm.data_coding, b"".join(p for p, _ in ordered))
        ids = [i for _, i in ordered]
        self.received.append(
            ReceivedMessage(sm.source, sm.destination, text, sm.data_coding, total, ids, outcome)
        )

    def _schedule_receipts(
        self, system_id: str | None, sm: pdu.ShortMessage, message_id: str, outcome: str
    ) -> None:
        now = time.monotonic()
        final_at = now + self.outcomes.receipt_delay
        if outcome == "delayed":
            self._queue(_Outgoing(now, self._receipt(sm, message_id, "ENROUTE"), "receipt", system_id))
            final_at += self.outcomes.delayed_seconds
        stat = "UNDELIV" if outcome == "failed" else "DELIVRD"
        self._queue(_Outgoing(final_at, self._receipt(sm, message_id, stat), "receipt", system_id))

    def _receipt(self, sm: pdu.ShortMessage, message_id: str, stat: str) -> bytes:
        stamp = datetime.now().strftime("%y%m%d%H%M")
        delivered = "001" if stat == "DELIVRD" else "000"
        err = "000" if stat in ("DELIVRD", "ENROUTE") else "001"
        text = (
            f"id:{message_id} sub:001 dlvrd:{delivered} submit date:{stamp} done date:{stamp} "
            f"stat:{stat} err:{err} text:"
        ).encode("ascii")
        state = {
            "DELIVRD": pdu.STATE_DELIVERED,
            "UNDELIV": pdu.STATE_UNDELIVERABLE,
            "ENROUTE": pdu.STATE_ENROUTE,
        }[stat]
        tlvs = pdu.tlv(pdu.TLV_RECEIPTED_MESSAGE_ID, pdu.cstr(message_id)) + pdu.tlv(
            pdu.TLV_MESSAGE_STATE, bytes([state])
        )
        # A receipt goes from the handset (the original destination) back to the sender.
        return pdu.deliver_sm_body(
            source=sm.destination,
            destination=sm.source,
            esm_class=pdu.ESM_DELIVERY_RECEIPT,
            data_coding=pdu.DATA_CODING_DEFAULT,
            payload=text,
            extra_tlvs=tlvs,
        )

    def _receiver_for(self, outgoing: _Outgoing) -> _Session | None:
        for session in self._sessions:
            if not session.can_receive or session.unbinding:
                continue
            if outgoing.system_id in (None, session.system_id):
                return session
        return None

    async def _pump_outbox(self) -> None:
        """Send what is due to a bound receiver; wait when nothing can go."""
        while True:
            now = time.monotonic()
            waiting: list[_Outgoing] = []
            next_due = None
            for outgoing in self._outbox:
                session = self._receiver_for(outgoing) if outgoing.due <= now else None
                if session is None:
                    waiting.append(outgoing)
                    if outgoing.due > now:
                        next_due = outgoing.due if next_due is None else min(next_due, outgoing.due)
                    continue
                sequence = next(session.sequence)
                session.in_flight[sequence] = outgoing
                session.send(pdu.DELIVER_SM, pdu.ESME_ROK, sequence, outgoing.body)
            self._outbox = waiting
            self._wake.clear()
            timeout = None if next_due is None else max(0.01, next_due - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
