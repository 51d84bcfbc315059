"""A local run (``make run``, or the Procfile under honcho) started by a test, and every process of it.

The run gets a process group of its own, as a terminal's foreground job has. Every process it
starts is remembered while it runs (psutil, polled every 0.1 s), so that a test can tell which
of them are left after a stop, whatever their parent or process group by then.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

import psutil
from django.conf import settings

VENV_BIN = Path(sys.executable).parent
POLL = 0.1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_env(**overrides: str | None) -> dict[str, str]:
    """The environment of a run: the production settings, the venv first on PATH; None removes."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "smsmarketing.settings",
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
    }
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def is_gone(process: psutil.Process) -> bool:
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


class LocalRun:
    def __init__(self, command: list[str], *, env: dict[str, str], port: int, log: Path) -> None:
        self.port = port
        self.log = log
        with log.open("wb") as out:
            self.popen = subprocess.Popen(
                command,
                cwd=settings.BASE_DIR,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, like a terminal's foreground job
            )
        self.seen: dict[int, psutil.Process] = {}
        self.track()

    def track(self) -> None:
        try:
            top = psutil.Process(self.popen.pid)
            for process in [top, *top.children(recursive=True)]:
                self.seen.setdefault(process.pid, process)
        except psutil.NoSuchProcess:
            pass
        for process in list(self.seen.values()):  # orphans of a killed parent keep their children
            try:
                for child in process.children(recursive=True):
                    self.seen.setdefault(child.pid, child)
            except psutil.NoSuchProcess:
                pass

    def watch(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.track()
            time.sleep(POLL)

    def answers(self, path: str) -> bool:
        try:
            with urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as response:
                return response.status == 200
        except (URLError, OSError):
            return False

    def wait_until_serving(self, *, seconds: float = 180) -> None:
        deadline = time.monotonic() + seconds
        while not self.answers("/accounts/login/"):
            assert self.popen.poll() is None, f"the run ended early:\n{self.output()}"
            assert time.monotonic() < deadline, f"not serving after {seconds} s:\n{self.output()}"
            self.watch(0.5)

    def signal_group(self, signum: int) -> None:
        """What a terminal's Ctrl-C does: the signal to every process of the foreground group."""
        os.killpg(self.popen.pid, signum)

    def left(self) -> list[psutil.Process]:
        return [process for process in self.seen.values() if not is_gone(process)]

    def wait_until_all_gone(self, *, seconds: float) -> float:
        """Seconds until the run and every process it started have ended; fails after ``seconds``."""
        start = time.monotonic()
        while self.left() or self.popen.poll() is None:
            if time.monotonic() - start > seconds:
                raise AssertionError(
                    f"{seconds} s after the stop signal these are left: {self.describe(self.left())}\n"
                    f"{self.output()}"
                )
            self.track()
            time.sleep(POLL)
        return time.monotonic() - start

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    @staticmethod
    def describe(processes: list[psutil.Process]) -> str:
        described = []
        for process in processes:
            try:
                described.append(f"{process.pid} {' '.join(process.cmdline())[:100]}")
            except psutil.NoSuchProcess:
                described.append(f"{process.pid} (ended)")
        return "; ".join(described)

    def kill_everything(self) -> None:
        """A test's last resort, so that a failure leaves nothing behind either."""
        self.track()
        for process in self.seen.values():
            try:
                process.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(list(self.seen.values()), timeout=10)
        if self.popen.poll() is None:
            self.popen.wait(timeout=10)
