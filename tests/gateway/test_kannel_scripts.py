"""scripts/kannel: install is idempotent, start waits for the SMSC, stop ends only its own boxes."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.gateway.conftest import SCRIPTS, _free_port

# Transactional (the live server must see committed rows); serialized_rollback so the
# flush after each test leaves the migrations' data for the transactional tests that follow.
pytestmark = [pytest.mark.kannel, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _env(run_dir: Path, smsc_port: int, smsc_password: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "KANNEL_RUN_DIR": str(run_dir),
        "KANNEL_ADMIN_PORT": str(_free_port()),
        "KANNEL_BOX_PORT": str(_free_port()),
        "KANNEL_SENDSMS_PORT": str(_free_port()),
        "KANNEL_ADMIN_PASSWORD": secrets.token_hex(6),
        "KANNEL_SMSC_PORT": str(smsc_port),
        "KANNEL_SMSC_PASSWORD": smsc_password,
        "KANNEL_MO_URL": "http://127.0.0.1:9/hooks/kannel/mo/?from=%p",
        **extra,
    }


def _run(script: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPTS / script)], env=env, capture_output=True, text=True, timeout=60
    )


def _status(env: dict[str, str]) -> str:
    url = f"http://127.0.0.1:{env['KANNEL_ADMIN_PORT']}/status.txt?password={env['KANNEL_ADMIN_PASSWORD']}"
    return httpx.get(url, timeout=5).text


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def test_it_installs_idempotently():
    result = _run("install.sh", dict(os.environ))
    assert result.returncode == 0, result.stderr
    assert "already installed" in result.stdout


def test_it_starts_with_the_smsc_online_and_stops_only_the_boxes_it_started(kannel, smsc, tmp_path):
    from tests.gateway.conftest import SMSC_ACCOUNT

    env = _env(tmp_path / "second", smsc.port, SMSC_ACCOUNT[1])
    started = time.monotonic()
    result = _run("start.sh", env)
    start_seconds = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SMSC online" in result.stdout
    status = _status(env)
    assert "(online" in status and "smsbox:" in status  # online when start.sh returns
    config = (tmp_path / "second" / "kannel.conf").read_text()
    assert "admin-interface = 127.0.0.1" in config and "max-pending-requests = 16" in config
    assert "@" not in "".join(line for line in config.splitlines() if not line.startswith("#"))
    pids = [int((tmp_path / "second" / f"{box}.pid").read_text()) for box in ("bearerbox", "smsbox")]
    assert all(_alive(pid) for pid in pids)

    assert _run("start.sh", env).returncode == 1  # refuses to start twice in one run dir

    started = time.monotonic()
    result = _run("stop.sh", env)
    stop_seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert not any(_alive(pid) for pid in pids)
    assert not list((tmp_path / "second").glob("*.pid"))
    assert kannel.smsc_online()  # the session's Kannel was not touched
    print(f"\nKannel start to SMSC online: {start_seconds:.2f}s, stop: {stop_seconds:.2f}s")


def test_it_fails_and_says_why_when_the_smsc_never_comes_online(tmp_path):
    env = _env(tmp_path / "nosmsc", _free_port(), "x", KANNEL_WAIT="2")
    result = _run("start.sh", env)
    try:
        assert result.returncode == 1
        assert "SMSC not online after 2s" in result.stderr
        assert "re-connecting" in result.stderr or "connecting" in result.stderr
    finally:
        assert _run("stop.sh", env).returncode == 0
    assert not list((tmp_path / "nosmsc").glob("*.pid"))


def test_it_stop_leaves_a_process_alone_whose_pid_was_reused(tmp_path):
    run_dir = tmp_path / "stale"
    run_dir.mkdir()
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        (run_dir / "bearerbox.pid").write_text(str(sleeper.pid))  # a stale pid file, now someone else's
        result = _run("stop.sh", {**os.environ, "KANNEL_RUN_DIR": str(run_dir)})
        assert result.returncode == 0
        assert sleeper.poll() is None  # not a bearerbox: not killed
        assert not (run_dir / "bearerbox.pid").exists()
    finally:
        sleeper.kill()
        sleeper.wait()
