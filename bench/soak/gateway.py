"""The simulated gateway with a hand-over log, for ``soak --gateway simulated``.

The soak needs the gateway's side of the story ("no message handed over twice") where there is
no SMSC to ask: every message id the pipeline hands to ``send_batch`` is appended to the file
``options["log"]`` before the simulated gateway takes it (one short ``O_APPEND`` write per batch,
so lines of concurrent workers never interleave).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from campaigns.gateways.base import OutboundSms, SendResult
from campaigns.gateways.simulated import SimulatedGateway


class LoggedSimulatedGateway(SimulatedGateway):
    def send_batch(self, messages: Sequence[OutboundSms]) -> list[SendResult]:
        if messages and self.options.get("log"):
            data = "".join(f"{m.message_id}\n" for m in messages).encode()
            fd = os.open(str(self.options["log"]), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        return super().send_batch(messages)
