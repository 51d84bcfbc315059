"""``make stop`` after ``kill -9`` of a run: no postgres process of the embedded data folder is
left, nor any process of the run; ``make status`` says what runs before and after.

The run uses an embedded PostgreSQL in a folder of this test (``EMBEDDED_PGDATA``), never the
developer's ``.pgdata``. pgserver's list of the processes holding the server
(``.handle_pids.json``) keeps the PIDs of killed processes: the old ``make stop`` then never
stopped the server.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import psutil
import pytest
from django.conf import settings

from smsmarketing.embedded_db import server_status, server_stop
from tests.smsmarketing.local_run import VENV_BIN, LocalRun, free_port, is_gone, run_env

MAKE_TIMEOUT = 120


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """An embedded server of this module, its database migrated once; stopped at the end."""
    folder = tmp_path_factory.mktemp("embedded") / "pgdata"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "--verbosity", "0"],
        cwd=settings.BASE_DIR,
        env=run_env(DATABASE_URL=None, EMBEDDED_PGDATA=str(folder)),
        check=True,
        timeout=300,
    )
    yield folder
    server_stop(folder)


@pytest.fixture
def embedded_run(data_dir, tmp_path):
    port = free_port()
    run = LocalRun(
        [str(VENV_BIN / "honcho"), "start"],
        env=run_env(DATABASE_URL=None, EMBEDDED_PGDATA=str(data_dir), PORT=str(port)),
        port=port,
        log=tmp_path / "run.log",
    )
    yield run
    run.kill_everything()


def make(target: str, data_dir) -> str:
    done = subprocess.run(
        ["make", "--no-print-directory", target, f"EMBEDDED_PGDATA={data_dir}"],
        cwd=settings.BASE_DIR,
        env=run_env(DATABASE_URL=None),
        capture_output=True,
        text=True,
        timeout=MAKE_TIMEOUT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def postgres_processes(data_dir) -> list[psutil.Process]:
    """The postmaster of ``data_dir`` (its command line names the folder) and its children."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] == "postgres" and str(data_dir) in (process.info["cmdline"] or []):
            found.append(process)
            found.extend(process.children(recursive=True))
    return found


def serving_with_its_server(run: LocalRun, data_dir) -> list[psutil.Process]:
    run.wait_until_serving()
    run.watch(1)
    server = postgres_processes(data_dir)
    assert server, "the run's embedded server is not running"
    return server


def test_it_stops_the_server_when_killed_processes_still_hold_it(embedded_run, data_dir):
    server = serving_with_its_server(embedded_run, data_dir)

    embedded_run.kill_everything()  # kill -9 of every process of the run

    holders = json.loads((data_dir / ".handle_pids.json").read_text())
    assert holders, "no process of the run registered with pgserver"
    assert not any(psutil.pid_exists(pid) for pid in holders)  # all dead, none removed
    assert f"running, pid {server[0].pid}" in make("status", data_dir)

    said = make("stop", data_dir)

    assert "Embedded PostgreSQL stopped." in said
    assert all(is_gone(process) for process in server)
    assert postgres_processes(data_dir) == []
    assert server_status(data_dir).pid is None
    assert "not running" in make("status", data_dir)


def test_it_stops_what_is_left_of_a_killed_run_and_then_the_server(embedded_run, data_dir):
    server = serving_with_its_server(embedded_run, data_dir)

    embedded_run.signal_group(signal.SIGKILL)  # kill -9 of make run's process group (honcho)
    embedded_run.popen.wait(timeout=10)
    orphans = embedded_run.left()
    assert orphans, "gunicorn and the cluster outlive honcho (each has a process group of its own)"
    assert "gunicorn" in make("status", data_dir)

    said = make("stop", data_dir)

    assert "Sending SIGTERM to gunicorn" in said
    assert "Sending SIGTERM to killmode_mixed" in said
    assert "Embedded PostgreSQL stopped." in said
    assert embedded_run.left() == []
    assert all(is_gone(process) for process in server)
    assert postgres_processes(data_dir) == []


def test_it_says_so_when_nothing_runs(tmp_path):
    said = make("stop", tmp_path / "never-started")

    assert "No process of a local run uses it." in said
    assert "not running; nothing to stop." in said
