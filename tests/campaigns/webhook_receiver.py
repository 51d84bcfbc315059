"""A merchant's webhook receiver for the tests: a real HTTP server on 127.0.0.1 in a thread.

It checks every request's ``X-Signature`` with the verification function published in
docs/API.md (so the documented snippet is what the tests run), answers 500 to the first
``fail_first`` attempts of each event, then 200, and applies each event once by its id.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs" / "API.md"


def docs_verify_signature():
    """``verify_signature`` as docs/API.md publishes it (the first python block of "## Webhooks")."""
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index("## Webhooks") :]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, str(DOCS), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace["verify_signature"]


class Receiver:
    def __init__(self, *, fail_first: int = 0, always_fail: bool = False) -> None:
        self.secret = ""
        self.fail_first = fail_first
        self.always_fail = always_fail
        self.verify = docs_verify_signature()
        self.lock = threading.Lock()
        self.requests = 0
        self.bad_signatures = 0
        self.attempts: Counter[str] = Counter()  # event id -> requests received
        self.applied: dict[str, dict] = {}  # event id -> the event, applied once
        self.applications: Counter[str] = Counter()  # event id -> times applied (must be 1)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = receiver.handle(self.headers.get("X-Signature", ""), body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format, *args) -> None:  # noqa: A002 - http.server's signature
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/sms?source=test"

    def handle(self, signature: str, body: bytes) -> int:
        with self.lock:
            self.requests += 1
            if not self.verify(self.secret, signature, body):
                self.bad_signatures += 1
                return 400
            event = json.loads(body)
            self.attempts[event["id"]] += 1
            if self.always_fail or self.attempts[event["id"]] <= self.fail_first:
                return 500
            if event["id"] not in self.applied:  # idempotent by event id
                self.applied[event["id"]] = event
                self.applications[event["id"]] += 1
            return 200

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
