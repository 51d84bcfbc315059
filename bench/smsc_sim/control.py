"""Ways to drive the simulator from outside its event loop.

- ``SimulatorThread``: runs a simulator on a loop in a background thread; its
  methods are safe to call from any thread (tests use it).
- ``serve_control``: a tiny HTTP interface for a simulator running as its own
  process (``python -m bench.smsc_sim``)::

      GET  /status                      bound sessions, counts
      GET  /messages                    every message received, as JSON
      POST /mo?from=...&to=...&text=... send a mobile-originated message
      POST /stop[?crash=1], POST /start an SMSC outage (graceful or a crash) and its end
      POST /outcomes?failed=0.1&...     change the outcome shares
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bench.smsc_sim.server import Outcomes, ReceivedMessage, SentMo, SmscSimulator


class SimulatorThread:
    """A simulator on its own event loop in a daemon thread."""

    def __init__(self, **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="smsc-sim", daemon=True)
        self._thread.start()
        self.sim: SmscSimulator = self._call(self._make(kwargs))

    async def _make(self, kwargs: dict[str, Any]) -> SmscSimulator:
        sim = SmscSimulator(**kwargs)
        await sim.start()
        return sim

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def _run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        async def call() -> Any:
            return fn(*args, **kwargs)

        return self._call(call())

    @property
    def port(self) -> int:
        return self.sim.port

    def start(self) -> None:
        self._call(self.sim.start())

    def stop(self, *, graceful: bool = True) -> None:
        self._call(self.sim.stop(graceful=graceful))

    def set_outcomes(self, outcomes: Outcomes) -> None:
        self._run(setattr, self.sim, "outcomes", outcomes)

    def send_mo(self, *, source: str, destination: str, text: str) -> SentMo:
        return self._run(self.sim.send_mo, source=source, destination=destination, text=text)

    def received(self) -> list[ReceivedMessage]:
        return self._run(lambda: list(self.sim.received))

    def parts_received(self) -> int:
        return self._run(lambda: self.sim.parts_received)

    def outbox_size(self) -> int:
        return self._run(lambda: len(self.sim._outbox) + sum(len(s.in_flight) for s in self.sim._sessions))

    def bound(self) -> list[tuple[str | None, str | None]]:
        return self._run(self.sim.bound)

    def clear(self) -> None:
        self._run(self.sim.received.clear)

    def close(self) -> None:
        self._call(self.sim.shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


def _status(sim: SmscSimulator) -> dict[str, Any]:
    return {
        "running": sim.running,
        "port": sim.port,
        "bound": sim.bound(),
        "received": len(sim.received),
        "parts_received": sim.parts_received,
        "outbox": len(sim._outbox),
        "outcomes": dataclasses.asdict(sim.outcomes),
    }


async def _handle(sim: SmscSimulator, method: str, path: str, query: dict[str, str]) -> tuple[int, Any]:
    if path == "/status":
        return 200, _status(sim)
    if path == "/messages":
        return 200, [dataclasses.asdict(m) for m in sim.received]
    if method != "POST":
        return 405, {"error": "use POST"}
    if path == "/mo":
        if not query.get("from") or not query.get("text"):
            return 400, {"error": "from and text are required"}
        record = sim.send_mo(
            source=query["from"], destination=query.get("to", "10690000"), text=query["text"]
        )
        return 200, dataclasses.asdict(record)
    if path == "/stop":
        await sim.stop(graceful=query.get("crash", "") not in ("1", "true"))
        return 200, _status(sim)
    if path == "/start":
        await sim.start()
        return 200, _status(sim)
    if path == "/outcomes":
        fields = {f.name: f.type for f in dataclasses.fields(Outcomes)}
        values = {k: (v if k == "seed" else float(v)) for k, v in query.items() if k in fields}
        sim.outcomes = dataclasses.replace(sim.outcomes, **values)
        return 200, _status(sim)
    return 404, {"error": "unknown path"}


async def serve_control(sim: SmscSimulator, host: str, port: int) -> asyncio.base_events.Server:
    """Serve the control interface (one request per connection)."""

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await reader.readline()).decode("latin-1").split()
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass  # headers; request bodies are not used
            if len(request_line) < 2:
                return
            url = urlsplit(request_line[1])
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            status, payload = await _handle(sim, request_line[0].upper(), url.path.rstrip("/") or "/", query)
            body = json.dumps(payload, ensure_ascii=False).encode()
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Type: application/json; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        finally:
            writer.close()

    return await asyncio.start_server(client, host, port)
