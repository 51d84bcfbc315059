"""A gateway that sends nothing: it accepts every message, then reports it
delivered or — for a deterministic share ``fail_ratio`` — failed.

The reports go through the real delivery service, from an enqueued django-q2
task (so they are asynchronous in a running cluster and immediate in the
synchronous test mode). Which messages fail depends only on the message id,
so tests can predict it: ``SimulatedGateway.fails(message_id, fail_ratio)``.

Options: ``fail_ratio`` (0.0–1.0), ``reject_ratio`` (share refused at
hand-over, not retryable), ``outage`` (True: every hand-over fails retryably),
``report`` (False: accept and never report, for the 72-hour sweep).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from django.db import transaction
from django_q.tasks import async_task

from campaigns.gateways.base import GatewayBackend, OutboundSms, SendResult

REPORT_TASK = "campaigns.tasks.simulated_reports"


def _share(message_id: int, salt: str) -> float:
    digest = hashlib.sha256(f"{salt}:{message_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


class SimulatedGateway(GatewayBackend):
    @staticmethod
    def fails(message_id: int, fail_ratio: float) -> bool:
        return _share(message_id, "dlr") < fail_ratio

    @staticmethod
    def rejects(message_id: int, reject_ratio: float) -> bool:
        return _share(message_id, "reject") < reject_ratio

    def send_batch(self, messages: Sequence[OutboundSms]) -> list[SendResult]:
        if self.options.get("outage"):
            return [
                SendResult(m.message_id, accepted=False, retryable=True, error="503 simulated outage")
                for m in messages
            ]
        fail_ratio = float(self.options.get("fail_ratio", 0.0))
        reject_ratio = float(self.options.get("reject_ratio", 0.0))
        results, reports = [], []
        for message in messages:
            if self.rejects(message.message_id, reject_ratio):
                results.append(SendResult(message.message_id, accepted=False, error="simulated rejection"))
                continue
            results.append(SendResult(message.message_id, accepted=True))
            reports.append(
                [message.message_id, "failed" if self.fails(message.message_id, fail_ratio) else "delivered"]
            )
        if reports and self.options.get("report", True):
            transaction.on_commit(lambda: async_task(REPORT_TASK, reports))
        return results
