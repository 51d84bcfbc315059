"""Logs: one line format for every process, ISO-8601 times with the zone, English, optional JSON."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from django.conf import settings

from tests.dburl import test_database_url as database_url_of_test_db

ISO_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+08:00"
ISO_LINE = re.compile(rf"^{ISO_TIME} (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S+ .+$")
CJK = re.compile(r"[\u3400-\u9fff]")
LOG_A_LINE = "import logging; logging.getLogger('ops.check').warning('disk %s is %d%% full', '/var', 91)"

# Transactional: the processes these tests start must see the test database's committed rows
# (a marker, not the transactional_db fixture, so tests/conftest.py adds serialized_rollback).
pytestmark = pytest.mark.django_db(transaction=True)



def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "smsmarketing.settings", **env}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_writes_one_iso_line_and_no_start_up_chatter():
    result = manage("shell", "-c", LOG_A_LINE, DATABASE_URL=database_url_of_test_db())
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines  # nothing but the line logged: no axes banner, no pgserver exits
    assert ISO_LINE.match(lines[0]), lines[0]
    assert lines[0].endswith(" WARNING ops.check disk /var is 91% full")


def test_it_writes_json_lines_for_log_shippers():
    result = manage("shell", "-c", LOG_A_LINE, DATABASE_URL=database_url_of_test_db(), LOG_FORMAT="json")
    assert result.returncode == 0, result.stderr
    (line,) = result.stderr.splitlines()
    record = json.loads(line)
    assert record["level"] == "WARNING"
    assert record["logger"] == "ops.check"
    assert record["message"] == "disk /var is 91% full"
    assert re.fullmatch(ISO_TIME, record["time"])


def test_it_logs_the_task_cluster_in_english_in_the_same_format():
    """django-q2 translates its messages; under LANGUAGE_CODE zh-hans they came out half Chinese."""
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "smsmarketing.settings",
        "DATABASE_URL": database_url_of_test_db(),
        "Q_WORKERS": "1",
    }
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=settings.BASE_DIR,
        env=environment,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = cluster.stderr.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if "running" in line.lower():  # "Q Cluster <name> running."
                break
        cluster.send_signal(signal.SIGTERM)
        _, rest = cluster.communicate(timeout=60)
        lines += rest.splitlines()
    finally:
        if cluster.poll() is None:
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait()
    assert any("Q Cluster" in line and "starting" in line for line in lines), lines
    assert any("has stopped" in line for line in lines), lines
    for line in lines:
        assert ISO_LINE.match(line), line
        assert not CJK.search(line), line
