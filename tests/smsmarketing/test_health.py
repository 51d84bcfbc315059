"""/healthz, /readyz and who may scrape /metrics: in-process, and on a real gunicorn whose
PostgreSQL is unreachable, or is the test database."""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.dburl import test_database_url as the_test_database_url

ROOT = Path(__file__).resolve().parents[2]
UNREACHABLE_DATABASE = "postgres://postgres@127.0.0.1:1/unreachable"
START_DEADLINE = 90  # seconds: a loaded 2-core machine starts gunicorn slowly


def test_it_answers_liveness_without_any_query_or_login(db, client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok"
    assert response["Content-Type"].startswith("text/plain")


def test_it_is_ready_when_the_database_the_cache_and_the_broker_answer(db, client):
    response = client.get("/readyz", HTTP_ACCEPT="text/plain")
    assert response.status_code == 200, response.content
    lines = response.content.decode().splitlines()
    assert lines == ["Database(alias='default'): OK", "Cache(alias='default'): OK", "Broker(): OK"]


@pytest.mark.parametrize(
    ("remote", "forwarded", "nets", "token", "authorization", "status"),
    [
        ("127.0.0.1", None, ["127.0.0.1/32", "::1/128"], "", None, 200),
        ("::1", None, ["127.0.0.1/32", "::1/128"], "", None, 200),
        ("203.0.113.9", None, ["127.0.0.1/32", "::1/128"], "", None, 403),
        ("10.1.2.3", None, ["10.0.0.0/8"], "", None, 200),
        # Behind one trusted proxy the client is the proxy's X-Forwarded-For entry.
        ("127.0.0.1", "203.0.113.9", ["127.0.0.1/32"], "", None, 403),
        # A bearer token lets a scraper in from anywhere; a wrong one does not.
        ("203.0.113.9", None, ["127.0.0.1/32"], "s3cret-token", "Bearer s3cret-token", 200),
        ("203.0.113.9", None, ["127.0.0.1/32"], "s3cret-token", "Bearer guessed", 403),
        ("203.0.113.9", None, ["127.0.0.1/32"], "", "Bearer ", 403),
        # No network at all: only the token.
        ("127.0.0.1", None, [], "", None, 403),
        ("127.0.0.1", None, [], "s3cret-token", "Bearer s3cret-token", 200),
    ],
)
def test_it_lets_only_allowed_networks_or_the_token_scrape_metrics(
    db, client, settings, remote, forwarded, nets, token, authorization, status
):
    settings.METRICS_ALLOWED_NETS = nets
    settings.METRICS_TOKEN = token
    settings.TRUSTED_PROXY_COUNT = 1 if forwarded else 0
    headers = {"REMOTE_ADDR": remote}
    if forwarded:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded
    if authorization:
        headers["HTTP_AUTHORIZATION"] = authorization
    response = client.get("/metrics", **headers)
    assert response.status_code == status
    if status == 200:
        names = {family.name for family in text_string_to_metric_families(response.content.decode())}
        # django-prometheus' request metrics and the pipeline's own, in one answer.
        assert {"django_http_requests_before_middlewares", "sms_messages_last_minute"} <= names
    else:
        assert b"sms_" not in response.content


# --- a real server ----------------------------------------------------------------------


@contextmanager
def gunicorn(
    database_url: str, *, workers: int = 1, tmpdir: Path | None = None, log: list[str] | None = None
) -> Iterator[str]:
    """gunicorn with the production settings, gunicorn.conf.py and HTTPS on, on a free port;
    yields its URL. ``tmpdir``: its temporary folder (TMPDIR), where the metrics folder goes;
    ``log``: a list that gets its log lines, with one ``served <pid> <path>`` line per request."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "smsmarketing.settings",
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "HTTPS": "1",
        "ALLOWED_HOSTS": "127.0.0.1",
        **({"TMPDIR": str(tmpdir)} if tmpdir else {}),
    }
    command = ["gunicorn", "--bind", "127.0.0.1:0", "--workers", str(workers), "--timeout", "60"]
    command += ["--access-logfile", "-", "--access-logformat", "served %(p)s %(U)s"]
    process = subprocess.Popen(
        [sys.executable, "-m", *command],
        cwd=ROOT,  # gunicorn reads gunicorn.conf.py from here
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    lines = log if log is not None else []

    def read() -> None:
        for line in process.stderr:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + START_DEADLINE
        while not (url := _listening(lines)):
            assert process.poll() is None, "gunicorn exited:\n" + "".join(lines)
            assert time.monotonic() < deadline, "gunicorn did not start:\n" + "".join(lines)
            time.sleep(0.1)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
        reader.join(timeout=10)


def _listening(lines: list[str]) -> str | None:
    for line in list(lines):
        if match := re.search(r"Listening at: (http://\S+)", line):
            return match.group(1)
    return None


def test_it_is_not_ready_while_postgresql_is_unreachable_and_stays_alive():
    with gunicorn(UNREACHABLE_DATABASE) as url, httpx.Client(base_url=url, timeout=60) as http:
        ready = http.get("/readyz", headers={"Accept": "text/plain"})
        assert ready.status_code == 503
        assert ready.text.splitlines() == [
            "Database(alias='default'): Unavailable: connection failed",
            "Cache(alias='default'): OK",
            "Broker(): Unavailable: broker unavailable",
        ]
        live = http.get("/healthz")
        assert (live.status_code, live.text) == (200, "ok")
        # The request metrics still answer; the pipeline's figures say they could not be read.
        scraped = http.get("/metrics")
        assert scraped.status_code == 200
        samples = {
            sample.name: sample.value
            for family in text_string_to_metric_families(scraped.text)
            for sample in family.samples
        }
        assert samples["sms_pipeline_metrics_up"] == 0
        pipeline = {name for name in samples if name.startswith("sms_")}
        assert pipeline == {"sms_pipeline_metrics_up", "sms_quiet_hours"}
        assert "django_http_requests_total_by_method_total" in samples


def test_it_is_ready_on_the_test_database_over_plain_http_while_https_is_required(db):
    with gunicorn(the_test_database_url()) as url, httpx.Client(base_url=url, timeout=60) as http:
        ready = http.get("/readyz", headers={"Accept": "text/plain"})
        assert ready.status_code == 200, ready.text
        assert http.get("/healthz").status_code == 200
        assert http.get("/metrics").status_code == 200
        # The exemption is only theirs: the login page redirects to https.
        login = http.get("/accounts/login/")
        assert login.status_code == 301 and login.headers["Location"].startswith("https://")


def test_it_adds_up_the_request_metrics_of_every_gunicorn_worker(db, tmp_path):
    log: list[str] = []
    with gunicorn(the_test_database_url(), workers=2, tmpdir=tmp_path, log=log) as url:
        # Rounds of concurrent requests until both workers have served some (the access log
        # names the worker's pid), so that no single worker's counters hold them all.
        sent, deadline = 0, time.monotonic() + START_DEADLINE
        with ThreadPoolExecutor(8) as pool:
            while len(served_by(log)) < 2:
                assert time.monotonic() < deadline, "one worker served every request:\n" + "".join(log)
                answers = list(pool.map(lambda _: httpx.get(f"{url}/healthz", timeout=60), range(8)))
                assert {answer.status_code for answer in answers} == {200}
                sent += len(answers)
        (folder,) = tmp_path.glob("smsmarketing-prometheus-*")
        for _ in range(4):  # whichever worker answers the scrape, it reports both workers' sum
            scraped = httpx.get(f"{url}/metrics", timeout=60)
            healthz = [
                sample.value
                for family in text_string_to_metric_families(scraped.text)
                for sample in family.samples
                if sample.name == "django_http_requests_total_by_view_transport_method_total"
                and sample.labels["view"] == "healthz"
            ]
            assert healthz == [sent]
    assert not folder.exists()  # removed when gunicorn stopped


def served_by(log: list[str]) -> set[str]:
    return {match.group(1) for line in list(log) if (match := re.search(r"served <(\d+)> /healthz", line))}

