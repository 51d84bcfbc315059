"""CPU time per request of the web benchmark's pages, in-process (no HTTP server, no load).

What a page costs the machine, measured where a busy, shared machine disturbs it least: the
pages of ``bench/web.sh`` requested N times through Django's test client (the full middleware
stack, the production settings plus the bench app, DEBUG off), timing the process's CPU
(``time.process_time``) and the CPU of its PostgreSQL backend (``/proc/<pid>/stat``, same
machine only). With 20 closed-loop clients on C cores, p95 ≈ 20 × (app + db CPU) / C, roughly.

    export DJANGO_SETTINGS_MODULE=smsmarketing.settings_bench
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/sms_bench CACHE_URL=redis://127.0.0.1:6379/0
    .venv/bin/python manage.py bench_web_seed > /tmp/web_seed.sh     # once, on a fresh database
    .venv/bin/python manage.py collectstatic --noinput --verbosity 0  # the hashed static names
    .venv/bin/python manage.py bench_web_cpu /tmp/web_seed.sh [page ...] [--requests 60] [--rounds 3]

Pages: dashboard, campaigns, statistics, review-queue (default: all). Each round prints one line
per page; compare the lowest of a few rounds (a busy machine only adds).

``--instructions`` counts instead the machine instructions the app executes per request (its
PostgreSQL backend not included), under ``valgrind --tool=callgrind``: the same count whatever
else the machine is doing, so a change of a few per cent shows without repeated rounds. Each
page is requested 2 and 12 times (after 3 warm-up requests) in two processes started the same
way; the difference divided by 10 is one request's. Needs valgrind (apt-get install valgrind);
about a minute per page.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import Client

PAGES = {  # name: (seed variable of the path, seed variable of the session cookie)
    "dashboard": ("PAGE_DASHBOARD", "MERCHANT_COOKIE"),
    "campaigns": ("PAGE_CAMPAIGNS", "MERCHANT_COOKIE"),
    "statistics": ("PAGE_STATISTICS", "MERCHANT_COOKIE"),
    "review-queue": ("PAGE_REVIEW_QUEUE", "REVIEWER_COOKIE"),
}
INSTRUCTION_RUNS = (2, 12)  # requests per process; the difference is counted


def seed_values(path: str) -> dict[str, str]:
    """The ``NAME=value`` lines ``bench_web_seed`` printed."""
    values = {}
    for line in Path(path).read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and name.isupper() and name.replace("_", "").isalnum():
            values[name] = value.strip()
    return values


def backend_cpu_seconds() -> float | None:
    """CPU (user + system) of this connection's PostgreSQL backend, when it runs here."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _get(client: Client, path: str):
    response = client.get(path)
    if response.status_code != 200:
        raise CommandError(f"{path}: HTTP {response.status_code}")
    return response


def measure(client: Client, path: str, requests: int) -> tuple[float, float | None, int]:
    """(app CPU ms, database backend CPU ms or None, response bytes) per request."""
    for _ in range(5):  # warm up: templates, connections, caches
        _get(client, path)
    db0, cpu0 = backend_cpu_seconds(), time.process_time()
    for _ in range(requests):
        response = client.get(path)
    app = (time.process_time() - cpu0) * 1000 / requests
    db1 = backend_cpu_seconds()
    db = (db1 - db0) * 1000 / requests if db0 is not None and db1 is not None else None
    return app, db, len(response.content)


def _client(seed: dict[str, str], name: str) -> Client:
    host = (settings.ALLOWED_HOSTS or ["127.0.0.1"])[0].replace("*", "127.0.0.1")
    client = Client(HTTP_HOST=host)
    client.cookies[settings.SESSION_COOKIE_NAME] = seed[PAGES[name][1]]
    return client


def instructions_per_request(seed_path: str, name: str) -> float:
    """Instructions of one request of page ``name``: two counted processes, their difference
    (Django's start-up is the same in both and cancels out)."""
    manage = Path(settings.BASE_DIR) / "manage.py"
    procs = [
        subprocess.Popen(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
             sys.executable, str(manage), "bench_web_cpu", seed_path, name, "--serve-only", str(n)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        for n in INSTRUCTION_RUNS
    ]  # fmt: skip
    counts = []
    for proc in procs:
        _, err = proc.communicate()
        found = re.search(r"Collected : (\d+)", err)
        if proc.returncode != 0 or found is None:
            raise CommandError(f"valgrind run of {name} failed (exit {proc.returncode}):\n{err[-2000:]}")
        counts.append(int(found.group(1)))
    low, high = INSTRUCTION_RUNS
    return (counts[1] - counts[0]) / (high - low)


class Command(BaseCommand):
    help = "CPU per request (or instructions, --instructions) of the web benchmark's pages, in-process."

    def add_arguments(self, parser) -> None:
        parser.add_argument("seed", help="the output of manage.py bench_web_seed")
        parser.add_argument("pages", nargs="*", choices=[[], *PAGES], default=[])
        parser.add_argument("--requests", type=int, default=60)
        parser.add_argument("--rounds", type=int, default=1)
        parser.add_argument(
            "--instructions", action="store_true",
            help="count instructions per request under valgrind instead of timing",
        )  # fmt: skip
        parser.add_argument("--serve-only", type=int, metavar="N", help=argparse.SUPPRESS)

    def handle(self, *args, seed: str, pages: list[str], serve_only: int | None, **options) -> None:
        values = seed_values(seed)
        if serve_only is not None:
            # The process valgrind counts: 3 warm-up requests, then N more, nothing printed.
            client, path = _client(values, pages[0]), values[PAGES[pages[0]][0]]
            for _ in range(3 + serve_only):
                _get(client, path)
            return
        if options["instructions"]:
            self.stdout.write(
                f"instructions per request (app process; valgrind callgrind, {INSTRUCTION_RUNS[1]} - "
                f"{INSTRUCTION_RUNS[0]} requests after 3 warm-up)"
            )
            for name in pages or PAGES:
                count = instructions_per_request(seed, name)
                path = values[PAGES[name][0]]
                self.stdout.write(f"{name:13s} {path:34s} {count / 1e6:7.1f} M instructions")
            return
        self.stdout.write(
            f"DEBUG={settings.DEBUG} cache={settings.CACHES['default']['BACKEND'].rsplit('.', 1)[1]} "
            f"sessions={settings.SESSION_ENGINE.rsplit('.', 1)[1]} load={os.getloadavg()[0]:.2f}"
        )
        for _ in range(options["rounds"]):
            for name in pages or PAGES:
                path = values[PAGES[name][0]]
                app, db, size = measure(_client(values, name), path, options["requests"])
                db_text = f"{db:5.1f}ms" if db is not None else "    ?"
                self.stdout.write(f"{name:13s} {path:34s} app_cpu={app:5.1f}ms db_cpu={db_text} bytes={size}")
