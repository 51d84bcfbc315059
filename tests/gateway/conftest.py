"""Fixtures for the gateway tests: the SMPP simulator and a real Kannel in front of it.

Tests marked ``kannel`` need Kannel's ``bearerbox`` and ``smsbox``. Without them
they are skipped locally with a message saying how to install them; under
``CI=true`` a missing Kannel fails them instead (CI installs it).

One Kannel per test session: its config is generated for the session (free
ports on 127.0.0.1, the SMPP simulator as its SMSC, the inbound get-url
pointing at pytest-django's live server) by ``scripts/kannel/start.sh``, and
``scripts/kannel/stop.sh`` ends exactly those boxes afterwards.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from bench.smsc_sim import Outcomes, SimulatorThread
from campaigns.gateways.kannel import KannelBackend, mo_url
from tests.dburl import test_database_url as _database_url

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts" / "kannel"
HOW_TO_RUN = (
    "Kannel is not installed (bearerbox/smsbox not found). Install it with "
    "`scripts/kannel/install.sh` (Debian packages kannel, kannel-extras), then run "
    "`pytest -m kannel tests/gateway`."
)
SMSC_ACCOUNT = ("kannel", secrets.token_hex(4))

# Kannel calls the live server back; it must listen where Kannel can reach it.
os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1")


def kannel_installed() -> bool:
    return all(shutil.which(box) or os.access(f"/usr/sbin/{box}", os.X_OK) for box in ("bearerbox", "smsbox"))


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("kannel") is None or kannel_installed():
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but Kannel is missing: {HOW_TO_RUN}", pytrace=False)
    pytest.skip(HOW_TO_RUN)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], bool], *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds}s waiting for {what}")
        time.sleep(0.05)


class Kannel:
    """A running Kannel of this test session."""

    def __init__(self, *, run_dir: Path, env: dict[str, str], smsc: SimulatorThread, app_url: str) -> None:
        self.run_dir = run_dir
        self.env = env
        self.smsc = smsc
        self.app_url = app_url
        self.sendsms_url = f"http://127.0.0.1:{env['KANNEL_SENDSMS_PORT']}/cgi-bin/sendsms"
        self.status_url = (
            f"http://127.0.0.1:{env['KANNEL_ADMIN_PORT']}/status.txt?password={env['KANNEL_ADMIN_PASSWORD']}"
        )

    def options(self, **overrides: object) -> dict[str, object]:
        return {
            "url": self.sendsms_url,
            "username": self.env["KANNEL_SENDSMS_USER"],
            "password": self.env["KANNEL_SENDSMS_PASSWORD"],
            "callback_base_url": self.app_url,
            "rate": 500,
            "concurrency": 8,
            **overrides,
        }

    def backend(self, **overrides: object) -> KannelBackend:
        return KannelBackend(**self.options(**overrides))

    def restart(self) -> None:
        """Stop the boxes and start them again with the same config (a gateway restart)."""
        for script in ("stop.sh", "start.sh"):
            done = subprocess.run(
                ["bash", str(SCRIPTS / script)], env=self.env, capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 0, f"{script}: {done.stdout}{done.stderr}"

    def status(self) -> str:
        return httpx.get(self.status_url, timeout=5).text

    def smsc_online(self) -> bool:
        return "(online" in self.status()

    def idle(self) -> bool:
        """Nothing queued in Kannel (sent, DLRs handed over) and the simulator's outbox empty."""
        status = self.status()
        return "queued 0 msgs" in status and "(0 queued)" in status and self.smsc.outbox_size() == 0


@pytest.fixture(scope="session")
def smsc() -> Iterator[SimulatorThread]:
    sim = SimulatorThread(accounts=dict([SMSC_ACCOUNT]))
    yield sim
    sim.close()


@pytest.fixture(scope="session")
def kannel(
    django_db_setup, smsc: SimulatorThread, live_server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Kannel]:
    run_dir = tmp_path_factory.mktemp("kannel")
    env = {
        **os.environ,
        "KANNEL_RUN_DIR": str(run_dir),
        "KANNEL_ADMIN_PORT": str(_free_port()),
        "KANNEL_BOX_PORT": str(_free_port()),
        "KANNEL_SENDSMS_PORT": str(_free_port()),
        "KANNEL_ADMIN_PASSWORD": secrets.token_hex(8),
        "KANNEL_SENDSMS_USER": "tests",
        "KANNEL_SENDSMS_PASSWORD": secrets.token_hex(8),
        "KANNEL_SMSC_PORT": str(smsc.port),
        "KANNEL_SMSC_SYSTEM_ID": SMSC_ACCOUNT[0],
        "KANNEL_SMSC_PASSWORD": SMSC_ACCOUNT[1],
        "KANNEL_MO_URL": mo_url(live_server.url),
        "KANNEL_DLR_DATABASE_URL": _database_url(),
    }
    started = subprocess.run(
        ["bash", str(SCRIPTS / "start.sh")], env=env, capture_output=True, text=True, timeout=60
    )
    if started.returncode != 0:
        subprocess.run(["bash", str(SCRIPTS / "stop.sh")], env=env, capture_output=True, timeout=60)
        pytest.fail(f"scripts/kannel/start.sh failed:\n{started.stdout}\n{started.stderr}", pytrace=False)
    instance = Kannel(run_dir=run_dir, env=env, smsc=smsc, app_url=live_server.url)
    yield instance
    subprocess.run(["bash", str(SCRIPTS / "stop.sh")], env=env, capture_output=True, timeout=60, check=True)


@pytest.fixture
def fresh_smsc(smsc: SimulatorThread) -> Iterator[SimulatorThread]:
    """The session's simulator, emptied, delivering everything, listening."""
    smsc.start()
    smsc.clear()
    smsc.set_outcomes(Outcomes())
    yield smsc
    smsc.start()
    smsc.set_outcomes(Outcomes())


class CallbackRecorder:
    """A tiny HTTP server that records the callbacks Kannel makes to it."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self._lock = threading.Lock()
        self._last_at = time.monotonic()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                with recorder._lock:
                    recorder.paths.append(self.path)
                    recorder._last_at = time.monotonic()
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def snapshot(self) -> list[str]:
        with self._lock:
            return list(self.paths)

    def settle(self, kannel: Kannel, *, quiet: float = 1.0, seconds: float = 15.0) -> None:
        """Wait (at most ``seconds``, never failing) until Kannel has nothing queued and no
        callback came for ``quiet`` seconds. A test may end as soon as its messages reach the
        SMSC, while their delivery reports are still on their way here: closing the server
        under them resets smsbox's connections, and Kannel 1.4.5's smsbox then aborts
        (``conn_unregister: Assertion `conn != NULL' failed``), failing every later test."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self._lock:
                still = time.monotonic() - self._last_at >= quiet
            try:
                if still and kannel.idle():
                    return
            except httpx.HTTPError:
                return  # Kannel is not answering: nothing left to wait for
            time.sleep(0.1)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def callbacks(kannel: Kannel) -> Iterator[CallbackRecorder]:
    recorder = CallbackRecorder()
    yield recorder
    recorder.settle(kannel)
    recorder.close()
