"""The interface between the send pipeline and an SMS gateway.

The pipeline hands a gateway batches of ``OutboundSms`` (full text as the
phone will show it: 【signature】 + body + unsubscribe suffix) and gets one
``SendResult`` per message. Delivery reports come back later, asynchronously,
through the delivery-report service (keyed by our own message id).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class OutboundSms:
    message_id: int  # our Message primary key; gateways echo it in delivery reports
    phone: str  # normalised mainland mobile number, 11 digits
    text: str  # the full message as received
    sender: str | None = None  # the shop's sender code (extension), if any


@dataclass(frozen=True)
class SendResult:
    message_id: int
    accepted: bool  # the gateway took responsibility for the message
    retryable: bool = False  # not accepted, but worth trying again later (outage, 5xx)
    error: str = ""  # the gateway's answer when not accepted


class PendingBatch:
    """A batch handed to ``submit_batch``; ``results()`` waits for its answers (one per message,
    in order) and re-raises an error of the backend itself."""

    def results(self) -> list[SendResult]:
        raise NotImplementedError


class _Sent(PendingBatch):
    def __init__(self, results: list[SendResult]) -> None:
        self._results = results

    def results(self) -> list[SendResult]:
        return self._results


class GatewayBackend:
    """Base class of gateway backends, configured by ``settings.SMS_GATEWAY``."""

    # True when ``submit_batch`` returns before the batch is sent and the sending touches
    # no database (other threads, other connections): the pipeline then claims the next
    # batch while this one is on the wire. Backends that write through Django (the simulated
    # gateway enqueues its reports) stay synchronous.
    overlaps_dispatch = False

    def __init__(self, **options: object) -> None:
        self.options = options

    def send_batch(self, messages: Sequence[OutboundSms]) -> list[SendResult]:
        raise NotImplementedError

    def submit_batch(self, messages: Sequence[OutboundSms]) -> PendingBatch:
        """Start handing a batch over; by default synchronously (``send_batch``)."""
        return _Sent(self.send_batch(messages))

    def close(self) -> None:
        """Release connections; called when a dispatch run ends."""
