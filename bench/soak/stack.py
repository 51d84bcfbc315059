"""The soak's processes on 127.0.0.1: SMPP simulator and Kannel (or the simulated gateway),
gunicorn and django-q2 clusters, each in its own process group so a fault can kill exactly it.

Every app process runs with the soak's settings module (written into the soak's folder: the
production settings plus the bench app, the soak's gateway and dispatch rate) and with its
clock shifted by the soak's offset (``bench.soak.clock``), so all of them agree on the time.
Their database sessions carry ``application_name=soak-app``: the ``terminate-sessions`` fault
ends exactly those.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx
from django.conf import settings

from campaigns.gateways.kannel import mo_url
from smsmarketing.db import connection_url as database_url

ROOT = Path(settings.BASE_DIR)
KANNEL_SCRIPTS = ROOT / "scripts" / "kannel"
APP_NAME = "soak-app"
SETTINGS_MODULE = "soak_settings"
RESERVED_PORTS = {8000, 18765}


class StackError(RuntimeError):
    pass


def free_port() -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in RESERVED_PORTS:
            return port


def wait_until(condition, *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise StackError(f"timed out after {seconds:.0f} s waiting for {what}")
        time.sleep(0.2)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(p) for p in handle.read().split()]
    except OSError:
        return []


class Stack:
    def __init__(self, *, gateway: str, offset: float, folder: Path, clusters: int, q_workers: int,
                 web_workers: int, dispatch_rate: int, fail_ratio: float) -> None:  # fmt: skip
        self.gateway = gateway
        self.offset = offset
        self.folder = folder
        self.q_workers = q_workers
        self.web_workers = web_workers
        self.dispatch_rate = dispatch_rate
        self.fail_ratio = fail_ratio
        self.clusters: list[subprocess.Popen | None] = [None] * clusters
        self.gunicorn: subprocess.Popen | None = None
        self.simulator: subprocess.Popen | None = None
        self.kannel_env: dict[str, str] | None = None
        self.app_port = free_port()
        self.app_url = f"http://127.0.0.1:{self.app_port}"
        self.control_url = ""
        self.handover_log = folder / "handover.log"
        self.log = open(folder / "processes.log", "ab")  # noqa: SIM115 (closed in stop)
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url(application_name=APP_NAME),
            "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
            "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)]),
            "Q_WORKERS": str(q_workers),
        }

    # --- start and stop ---------------------------------------------------------------

    def start(self) -> None:
        if self.gateway == "kannel":
            self._start_simulator()
        self._write_settings()
        self.start_gunicorn()
        if self.gateway == "kannel":
            self.start_kannel()
        for index in range(len(self.clusters)):
            self.start_cluster(index)

    def _python(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=env or self.env, stdout=self.log, stderr=self.log,
            start_new_session=True,
        )  # fmt: skip

    def _app(self, *args: str) -> subprocess.Popen:
        """An app process (its clock shifted like every other one of the soak)."""
        return self._python("-m", "bench.soak.clock", repr(self.offset), *args)

    def _start_simulator(self) -> None:
        smsc_port, control_port = free_port(), free_port()
        self.smsc_password = secrets.token_hex(4)
        self.simulator = self._python(
            "-m", "bench.smsc_sim", "--port", str(smsc_port), "--control-port", str(control_port),
            "--system-id", "kannel", "--password", self.smsc_password,
            "--failed", str(self.fail_ratio), "--delayed", "0.05", "--rejected", "0.01",
            env={**os.environ},
        )  # fmt: skip
        self.smsc_port = smsc_port
        self.control_url = f"http://127.0.0.1:{control_port}"
        wait_until(lambda: _answers(f"{self.control_url}/status"), seconds=30, what="the SMPP simulator")

    def _write_settings(self) -> None:
        if self.gateway == "kannel":
            self.kannel_env = {
                **os.environ,
                "DATABASE_URL": database_url(),
                "KANNEL_RUN_DIR": str(self.folder / "kannel"),
                "KANNEL_ADMIN_PORT": str(free_port()),
                "KANNEL_BOX_PORT": str(free_port()),
                "KANNEL_SENDSMS_PORT": str(free_port()),
                "KANNEL_ADMIN_PASSWORD": secrets.token_hex(8),
                "KANNEL_SENDSMS_USER": "soak",
                "KANNEL_SENDSMS_PASSWORD": secrets.token_hex(8),
                "KANNEL_SMSC_PORT": str(self.smsc_port),
                "KANNEL_SMSC_SYSTEM_ID": "kannel",
                "KANNEL_SMSC_PASSWORD": self.smsc_password,
                "KANNEL_MO_URL": mo_url(self.app_url),
                "KANNEL_DLR_DATABASE_URL": database_url(),
            }
            gateway = {
                "BACKEND": "campaigns.gateways.kannel.KannelBackend",
                "OPTIONS": {
                    "url": f"http://127.0.0.1:{self.kannel_env['KANNEL_SENDSMS_PORT']}/cgi-bin/sendsms",
                    "username": self.kannel_env["KANNEL_SENDSMS_USER"],
                    "password": self.kannel_env["KANNEL_SENDSMS_PASSWORD"],
                    "callback_base_url": self.app_url,
                },
            }
        else:
            gateway = {
                "BACKEND": "bench.soak.gateway.LoggedSimulatedGateway",
                "OPTIONS": {"fail_ratio": self.fail_ratio, "log": str(self.handover_log)},
            }
        (self.folder / f"{SETTINGS_MODULE}.py").write_text(
            '"""The soak\'s settings (written by bench.soak.stack): production + bench, its gateway."""\n'
            "from smsmarketing.settings_bench import *  # noqa: F403\n"
            "from smsmarketing.settings_bench import SMS_PIPELINE\n\n"
            f"SMS_GATEWAY = {gateway!r}\n"
            f"SMS_PIPELINE = {{**SMS_PIPELINE, 'DISPATCH_RATE': {self.dispatch_rate!r}}}\n"
        )

    def stop(self) -> None:
        if self.kannel_env is not None:
            self.stop_kannel()
        for process in [*self.clusters, self.gunicorn, self.simulator]:
            if process is not None:
                _end_group(process)
        self.log.close()

    # --- the processes ----------------------------------------------------------------

    def start_gunicorn(self) -> None:
        self.gunicorn = self._app(
            "-m", "gunicorn", "smsmarketing.wsgi:application", "-b", f"127.0.0.1:{self.app_port}",
            "-w", str(self.web_workers), "--graceful-timeout", "10",
        )  # fmt: skip
        wait_until(lambda: _answers(f"{self.app_url}/accounts/login/"), seconds=60, what="gunicorn")

    def term_gunicorn(self) -> None:
        """SIGTERM to gunicorn's master (a graceful stop, as a deploy does); waits for it."""
        if self.gunicorn is not None:
            self.gunicorn.send_signal(signal.SIGTERM)
            try:
                self.gunicorn.wait(timeout=30)
            finally:
                _end_group(self.gunicorn)

    def start_cluster(self, index: int) -> None:
        self.clusters[index] = self._app("manage.py", "qcluster")

    def kill_cluster(self, index: int) -> None:
        """kill -9 the whole cluster: its main process, sentinel, workers, monitor and pusher."""
        process = self.clusters[index]
        if process is not None:
            _signal_group(process, signal.SIGKILL)
            process.wait(timeout=30)

    def kill_cluster_process(self, index: int, pick) -> int | None:
        """kill -9 one process of a cluster below its sentinel (a worker, the monitor or the
        pusher; the sentinel reincarnates it); returns its pid."""
        process = self.clusters[index]
        if process is None:
            return None
        below = [pid for sentinel in _children(process.pid) for pid in _children(sentinel)]
        if not below:
            return None
        victim = pick(sorted(below))
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            return None
        return victim

    def start_kannel(self, *, attempts: int = 3) -> int:
        """scripts/kannel/start.sh, tried again after a failed start (stop.sh first), as an operator
        would: Kannel 1.4's smsbox sometimes panics while it starts under load (``lock_out:
        Assertion `conn != NULL' failed`, seen in the 30-minute soak). Returns the failed tries."""
        failures = []
        for _ in range(attempts):
            done = subprocess.run(
                ["bash", str(KANNEL_SCRIPTS / "start.sh")], env=self.kannel_env, capture_output=True,
                text=True, timeout=90,
            )  # fmt: skip
            if done.returncode == 0:
                return len(failures)
            failures.append(f"{done.stdout}{done.stderr}".strip())
            self.stop_kannel()
        raise StackError(f"scripts/kannel/start.sh failed {attempts} times: {failures[-1]}")

    def kannel_alive(self) -> bool:
        """Both boxes of this soak's Kannel are running (their pid files, as stop.sh reads them)."""
        for box in ("bearerbox", "smsbox"):
            try:
                os.kill(int((self.folder / "kannel" / f"{box}.pid").read_text()), 0)
            except (OSError, ValueError):
                return False
        return True

    def stop_kannel(self) -> None:
        subprocess.run(
            ["bash", str(KANNEL_SCRIPTS / "stop.sh")], env=self.kannel_env, capture_output=True, timeout=90
        )

    def smsc(self, action: str) -> None:
        """``stop`` (graceful: unbind, as in maintenance) or ``start`` the SMPP simulator."""
        httpx.post(f"{self.control_url}/{action}", timeout=30).raise_for_status()

    # --- what the gateway side saw ------------------------------------------------------

    def handed_over(self) -> list:
        """What the gateway side saw, repeats included: with Kannel, every message the SMSC
        received as (phone, text); with the simulated gateway, every message id handed to it."""
        if self.gateway == "kannel":
            received = httpx.get(f"{self.control_url}/messages", timeout=60).json()
            return [(m["destination"], m["text"]) for m in received]
        if not self.handover_log.exists():
            return []
        return [int(line) for line in self.handover_log.read_text().split()]

    def reply(self, *, phone: str, receiver: str, text: str, number: int) -> bool:
        """A handset's reply: through the SMSC and Kannel, or (simulated gateway) straight to the
        app's inbound endpoint as Kannel would call it. False when it could not be delivered."""
        try:
            if self.gateway == "kannel":
                response = httpx.post(
                    f"{self.control_url}/mo", params={"from": phone, "to": receiver, "text": text}, timeout=10
                )
            else:
                url = (
                    mo_url(self.app_url)
                    .replace("%p", phone).replace("%P", receiver).replace("%a", quote(text))
                    .replace("%c", "0").replace("%C", "UTF-8").replace("%T", str(int(time.time())))
                    .replace("%i", "soak").replace("%I", f"soak-{number}")
                )  # fmt: skip
                response = httpx.get(url, timeout=10)
            return response.status_code == 200
        except httpx.HTTPError:
            return False


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def _end_group(process: subprocess.Popen) -> None:
    """SIGTERM the group's main process (it stops its children), then SIGKILL what is left of
    the group after 20 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
    _signal_group(process, signal.SIGKILL)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
