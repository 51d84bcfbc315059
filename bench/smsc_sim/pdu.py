"""SMPP 3.4 PDUs: just the ones an ESME such as Kannel exchanges with an SMSC.

A PDU on the wire is a 16-byte header (length, command id, status, sequence)
followed by a body of C-strings, single octets and optional TLVs.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

HEADER = struct.Struct(">IIII")

GENERIC_NACK = 0x80000000
BIND_RECEIVER = 0x00000001
BIND_TRANSMITTER = 0x00000002
BIND_TRANSCEIVER = 0x00000009
SUBMIT_SM = 0x00000004
DELIVER_SM = 0x00000005
UNBIND = 0x00000006
ENQUIRE_LINK = 0x00000015
RESP = 0x80000000  # bit set on every response command id

BINDS = {BIND_RECEIVER: "rx", BIND_TRANSMITTER: "tx", BIND_TRANSCEIVER: "trx"}

ESME_ROK = 0x00000000
ESME_RINVCMDID = 0x00000003
ESME_RINVBNDSTS = 0x00000004
ESME_RINVDSTADR = 0x0000000B
ESME_RBINDFAIL = 0x0000000D
ESME_RINVPASWD = 0x0000000E
ESME_RSYSERR = 0x00000008
ESME_RTHROTTLED = 0x00000058  # a temporary refusal: the ESME resubmits later

TLV_RECEIPTED_MESSAGE_ID = 0x001E
TLV_MESSAGE_STATE = 0x0427
TLV_MESSAGE_PAYLOAD = 0x0424

DATA_CODING_DEFAULT = 0
DATA_CODING_LATIN1 = 3
DATA_CODING_UCS2 = 8

ESM_UDHI = 0x40
ESM_DELIVERY_RECEIPT = 0x04

# message_state values (SMPP 3.4, 5.2.28)
STATE_ENROUTE = 1
STATE_DELIVERED = 2
STATE_UNDELIVERABLE = 5
STATE_REJECTED = 8


@dataclass
class Pdu:
    command_id: int
    status: int
    sequence: int
    body: bytes = b""

    def encode(self) -> bytes:
        return (
            HEADER.pack(HEADER.size + len(self.body), self.command_id, self.status, self.sequence) + self.body
        )


class Reader:
    """Reads the fields of a PDU body in order."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def cstring(self) -> bytes:
        end = self.data.index(b"\x00", self.pos)
        value = self.data[self.pos : end]
        self.pos = end + 1
        return value

    def octet(self) -> int:
        value = self.data[self.pos]
        self.pos += 1
        return value

    def octets(self, n: int) -> bytes:
        value = self.data[self.pos : self.pos + n]
        self.pos += n
        return value

    def tlvs(self) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        while self.pos + 4 <= len(self.data):
            tag, length = struct.unpack_from(">HH", self.data, self.pos)
            self.pos += 4
            found[tag] = self.octets(length)
        return found


def cstr(value: str | bytes) -> bytes:
    raw = value.encode("ascii") if isinstance(value, str) else value
    return raw + b"\x00"


def tlv(tag: int, value: bytes) -> bytes:
    return struct.pack(">HH", tag, len(value)) + value


@dataclass
class Bind:
    system_id: str
    password: str
    system_type: str


def parse_bind(body: bytes) -> Bind:
    r = Reader(body)
    return Bind(r.cstring().decode("latin-1"), r.cstring().decode("latin-1"), r.cstring().decode("latin-1"))


@dataclass
class ShortMessage:
    """The fields of a submit_sm or deliver_sm that the simulator uses."""

    source: str
    destination: str
    esm_class: int
    registered_delivery: int
    data_coding: int
    payload: bytes  # short_message, or the message_payload TLV when that is used
    tlvs: dict[int, bytes] = field(default_factory=dict)

    @property
    def has_udh(self) -> bool:
        return bool(self.esm_class & ESM_UDHI)


def parse_short_message(body: bytes) -> ShortMessage:
    r = Reader(body)
    r.cstring()  # service_type
    r.octet(), r.octet()  # source ton, npi
    source = r.cstring().decode("latin-1")
    r.octet(), r.octet()  # dest ton, npi
    destination = r.cstring().decode("latin-1")
    esm_class = r.octet()
    r.octet(), r.octet()  # protocol_id, priority_flag
    r.cstring(), r.cstring()  # schedule_delivery_time, validity_period
    registered_delivery = r.octet()
    r.octet()  # replace_if_present_flag
    data_coding = r.octet()
    r.octet()  # sm_default_msg_id
    length = r.octet()
    payload = r.octets(length)
    tlvs = r.tlvs()
    if not payload and TLV_MESSAGE_PAYLOAD in tlvs:
        payload = tlvs[TLV_MESSAGE_PAYLOAD]
    return ShortMessage(source, destination, esm_class, registered_delivery, data_coding, payload, tlvs)


def deliver_sm_body(
    *,
    source: str,
    destination: str,
    esm_class: int,
    data_coding: int,
    payload: bytes,
    extra_tlvs: bytes = b"",
) -> bytes:
    """A deliver_sm body; payloads over 254 octets go in the message_payload TLV."""
    if len(payload) > 254:
        extra_tlvs = tlv(TLV_MESSAGE_PAYLOAD, payload) + extra_tlvs
        payload = b""
    return (
        cstr("")  # service_type
        + bytes([1, 1])  # international, ISDN
        + cstr(source)
        + bytes([1, 1])
        + cstr(destination)
        + bytes([esm_class, 0, 0])  # esm_class, protocol_id, priority_flag
        + cstr("")
        + cstr("")  # schedule_delivery_time, validity_period
        + bytes([0, 0, data_coding, 0, len(payload)])
        + payload
        + extra_tlvs
    )


def split_udh(payload: bytes) -> tuple[tuple[int, int, int] | None, bytes]:
    """Split a user data header off a payload: ((reference, total, seq) or None, text)."""
    udh_length = payload[0]
    header, text = payload[1 : 1 + udh_length], payload[1 + udh_length :]
    pos = 0
    while pos + 2 <= len(header):
        iei, length = header[pos], header[pos + 1]
        value = header[pos + 2 : pos + 2 + length]
        if iei == 0x00 and length == 3:  # concatenated SMS, 8-bit reference
            return (value[0], value[1], value[2]), text
        if iei == 0x08 and length == 4:  # concatenated SMS, 16-bit reference
            return ((value[0] << 8) | value[1], value[2], value[3]), text
        pos += 2 + length
    return None, text


def decode_text(data_coding: int, data: bytes) -> str:
    """The text of a message as the phone would show it."""
    if data_coding == DATA_CODING_UCS2:
        return data.decode("utf-16-be", errors="replace")
    if data_coding == DATA_CODING_LATIN1:
        return data.decode("latin-1")
    # GSM 03.38 default alphabet: the ASCII subset is what we send and check.
    return data.decode("ascii", errors="replace")
