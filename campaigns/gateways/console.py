"""A development gateway: writes every message to the console (or a file) and,
unless ``report`` is False, reports it delivered at once.

Options: ``path`` (append to this file instead of stdout), ``report`` (bool).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from campaigns.gateways.base import GatewayBackend, OutboundSms, SendResult
from campaigns.gateways.simulated import REPORT_TASK


class ConsoleGateway(GatewayBackend):
    def send_batch(self, messages: Sequence[OutboundSms]) -> list[SendResult]:
        path = self.options.get("path")
        lines = [
            f"[{timezone.localtime():%Y-%m-%d %H:%M:%S}] #{m.message_id} → {m.phone}: {m.text}\n"
            for m in messages
        ]
        if path:
            with open(path, "a", encoding="utf-8") as out:
                out.writelines(lines)
        else:
            sys.stdout.writelines(lines)
            sys.stdout.flush()
        if messages and self.options.get("report", True):
            reports = [[m.message_id, "delivered"] for m in messages]
            transaction.on_commit(lambda: async_task(REPORT_TASK, reports))
        return [SendResult(m.message_id, accepted=True) for m in messages]
