"""Static files: a fresh clone serves its pages and their CSS before any ``collectstatic``."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from django.conf import settings

from tests.dburl import test_database_url as database_url_of_test_db

# Transactional: the processes these tests start must see the test database's committed rows
# (a marker, not the transactional_db fixture, so tests/conftest.py adds serialized_rollback).
pytestmark = pytest.mark.django_db(transaction=True)



def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


@pytest.fixture
def uncollected_server(tmp_path):
    """``manage.py runserver`` with the production settings and an empty STATIC_ROOT."""
    database_url = database_url_of_test_db()
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "smsmarketing.settings",
        "DATABASE_URL": database_url,
        "STATIC_ROOT": str(tmp_path / "never-collected"),
    }
    env.pop("DEBUG", None)
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert server.poll() is None, server.stderr.read()
            assert time.monotonic() < deadline, "runserver did not start"
            time.sleep(0.2)
    yield base
    server.terminate()
    server.wait(timeout=20)


def test_it_serves_the_login_pages_and_their_css_without_collectstatic(uncollected_server, tmp_path):
    assert not (tmp_path / "never-collected" / "staticfiles.json").exists()
    for path in ("/accounts/login/", "/admin/login/"):
        status, page = get(uncollected_server + path)
        assert status == 200, page[:2000]
        stylesheets = re.findall(r'<link[^>]+href="(/static/[^"]+\.css)"', page)
        assert stylesheets, "the page links no stylesheet"
        for href in stylesheets:
            status, css = get(uncollected_server + href)
            assert status == 200, href
            assert "{" in css
