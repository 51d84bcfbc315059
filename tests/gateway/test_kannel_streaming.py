"""KannelBackend without Kannel: the query it encodes from cached pieces, and batches streamed
through its worker threads (``submit_batch``), against a small local sendsms stand-in."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from campaigns.gateways.base import OutboundSms
from campaigns.gateways.kannel import KannelBackend, dlr_token_valid, dlr_url


class _Sendsms(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Kannel

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        server: Stand = self.server  # type: ignore[assignment]
        query = parse_qs(urlsplit(self.path).query)
        with server.lock:
            server.received.append(query)
            server.connections.add(self.client_address)
        refused = query["to"][0].startswith("4")
        body = b"Invalid receiver" if refused else b"0: Accepted for delivery"
        self.send_response(400 if refused else 202)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class Stand(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Sendsms)
        self.lock = threading.Lock()
        self.received: list[dict] = []
        self.connections: set = set()


@pytest.fixture
def stand() -> Iterator[Stand]:
    server = Stand()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def backend_for(stand: Stand | None = None, **options) -> KannelBackend:
    url = f"http://127.0.0.1:{stand.server_address[1]}/cgi-bin/sendsms" if stand else options.pop("url")
    return KannelBackend(
        url=url, username="u", password="p&w=1", callback_base_url="http://app.test:8000/", rate=0, **options
    )


@pytest.mark.parametrize(
    "sms",
    [
        OutboundSms(7, "13800138000", "【爱丽丝服饰】夏季新品上架，欢迎进店。拒收请回复R"),
        OutboundSms(123456789, "+86 138;00", "emoji 😀 与全角ＡＢＣ & a=b+c %20", sender="42"),
        OutboundSms(0, "13800138000", "【测试】验证码 123456"),
    ],
)
def test_it_encodes_the_same_query_as_the_parameters_say(sms):
    for options in ({}, {"smsc": "carrier-1", "url": "http://127.0.0.1:13913/cgi-bin/sendsms?x=1"}):
        backend = backend_for(**{"url": "http://127.0.0.1:13913/cgi-bin/sendsms", **options})
        path, query = backend._target(sms).split("?", 1)
        assert path == "/cgi-bin/sendsms"
        prefix = "x=1&" if "?x=1" in backend.url else ""
        assert parse_qs(query) == parse_qs(prefix + urlencode(backend.params(sms)))
        assert parse_qs(query)["dlr-url"] == [dlr_url("http://app.test:8000/", sms.message_id)]
        # twice: the second time from the cache of encoded texts
        assert backend._target(sms) == backend._target(sms)


def test_it_streams_batches_through_its_workers_and_answers_each_in_order(stand):
    backend = backend_for(stand, concurrency=4)
    batches = [
        [
            OutboundSms(b * 100 + i, f"{'4' if i == 3 else '1'}380013{b:02d}{i:02d}", f"【测试】第{i}条")
            for i in range(9)
        ]
        for b in range(3)
    ]
    pending = [backend.submit_batch(batch) for batch in batches]  # all three queued at once
    for batch, handle in zip(batches, pending, strict=True):
        results = handle.results()
        assert [r.message_id for r in results] == [sms.message_id for sms in batch]
        assert [r.accepted for r in results] == [i != 3 for i in range(9)]
        assert not results[3].retryable and results[3].error.startswith("400")
    assert backend.submit_batch([]).results() == []
    backend.close()
    assert len(stand.received) == 27  # each message once
    assert 1 <= backend.connections_opened <= 4 and len(stand.connections) <= 4
    for query in stand.received:
        message_id = parse_qs(urlsplit(query["dlr-url"][0]).query)["id"][0]
        token = parse_qs(urlsplit(query["dlr-url"][0]).query)["token"][0]
        assert dlr_token_valid(message_id, token)


def test_it_reraises_an_error_of_the_backend_itself_from_results(stand, monkeypatch):
    backend = backend_for(stand, concurrency=2)

    def broken(conn, sms):
        raise RuntimeError("a bug, not an answer")

    monkeypatch.setattr(backend, "_send_one", broken)
    handle = backend.submit_batch([OutboundSms(1, "13800138000", "【测试】你好")])
    with pytest.raises(RuntimeError):
        handle.results()
    backend.close()
