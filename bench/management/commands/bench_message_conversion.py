"""The live conversion of the message history to month partitions (migration 0030), measured.

``bench_message_conversion --messages N [--database NAME]`` (docs/OPERATIONS.md, "Message
history partitions: the conversion"):

1. drops and recreates the scratch database NAME (default ``sms_conversion_bench``) on this
   process's PostgreSQL server and migrates it, in a subprocess, up to
   ``campaigns 0029_click_order_counters`` (the schema before the conversion; the other apps
   to their latest);
2. seeds, set-based, a shop, a completed campaign with six runs over the past six months and N
   messages spread over them, ~10 % of them with a delivery report and ~1 % with a click (the
   results counters' triggers count them as the pipeline would), and a running campaign whose
   run of this month the writer sends;
3. starts the app's load on it: a writer thread (new messages of the running run in batches of
   50, status updates of 100 random existing messages by id and delivery reports for 10 of
   them, each statement its own transaction and timed), a reader thread (the campaign page's
   counters, a page of its messages by campaign_id, a message's reports) and a monitor
   polling ``pg_stat_activity`` every 50 ms for sessions waiting on a lock;
4. runs ``manage.py migrate`` (through 0030 and later) in a subprocess while they work, then
   stops them and prints the conversion's figures: total time, copy time and rate, time per 10M
   messages, the swap's duration, the longest statement and the longest lock wait of the
   writer and the reader during the migration;
5. verifies: every row of ``<table>_unpartitioned`` is in ``<table>`` with every column equal
   (a message the writer updated after the swap: its last update), the rows only in the new
   tables are the writer's, the writer's every update is the final value, each message's month
   is its run's and each report's and click's its message's, and ``manage.py reconcile_stats``
   exits 0. Exits 1 when a check fails.

The test ``tests/campaigns/test_message_conversion.py`` runs the same pieces at 30,000 messages,
with an interrupted conversion that resumes. The scratch database is left for inspection
(``--drop`` drops it at the end).
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

ROOT = Path(settings.BASE_DIR)
BEFORE = ("campaigns", "0029_click_order_counters")
TABLES = ("campaigns_message", "campaigns_deliveryreport", "campaigns_click")
SEED_CHUNK = 500_000
PAST_RUNS = 6
WRITER_INSERT = 50
WRITER_UPDATE = 100
WRITER_REPORTS = 10
POLL_SECONDS = 0.05
STATUSES = ("delivered", "failed", "expired")
RUN_MONTH = ", (SELECT r.month FROM campaigns_campaignrun r WHERE r.id = {run})"


# --- the scratch database ---------------------------------------------------------------


def server_url(database: str) -> str:
    """The URL of ``database`` on the server this process uses (127.0.0.1:5432, trust auth)."""
    db = settings.DATABASES["default"]
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or "5432"
    user = db.get("USER") or "postgres"
    return f"postgres://{user}@{host}:{port}/{database}"


def scratch_create(database: str) -> str:
    scratch_drop(database)
    with psycopg.connect(server_url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    return server_url(database)


def scratch_drop(database: str) -> None:
    with psycopg.connect(server_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def manage_env(url: str, app: str) -> dict[str, str]:
    # PGAPPNAME names the subprocess's sessions in pg_stat_activity (the lock monitor's report).
    return {**os.environ, "DATABASE_URL": url, "PGAPPNAME": app, "PYTHONUNBUFFERED": "1"}


def manage(
    url: str, *args: str, app: str = "bench-manage", check: bool = True
) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=manage_env(url, app),
        capture_output=True,
        text=True,
    )
    if check and done.returncode:
        raise RuntimeError(
            f"manage.py {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return done


def migrate_before_conversion(url: str) -> None:
    """campaigns up to 0029 (the unpartitioned tables), every other app to its latest."""
    manage(url, "migrate", *BEFORE, "-v0")
    for app in ("smsmarketing", "reviews", "axes", "sessions", "admin"):
        manage(url, "migrate", app, "-v0")
    applied = manage(url, "showmigrations", "campaigns").stdout
    if "[X] 0030" in applied:
        raise RuntimeError("campaigns 0030 got applied before the conversion: an app depends on it")


# --- the seed (the old schema: no month column) -------------------------------------------

SEED_ORM = """
import json
from django.utils import timezone
from bench.harness import MARKETING_TEXT, bench_shop_create
from campaigns.models import Campaign
bench = bench_shop_create(recipients=1, balance=1)
now = timezone.now()
ids = {"shop": bench.shop.pk, "user": bench.users[0].pk}
for key, status in (("campaign", Campaign.Status.COMPLETED), ("live", Campaign.Status.RUNNING)):
    ids[key] = Campaign.objects.create(
        shop=bench.shop, kind=Campaign.Kind.MARKETING, name="转换压测-" + key, status=status,
        text=MARKETING_TEXT, created_by=bench.users[0], started_at=now,
    ).pk
print("SEED=" + json.dumps(ids))
"""

_RUN_SQL = """
INSERT INTO campaigns_campaignrun (kind, run_date, test_phone, status, plan_cursor, batches_planned,
    created_at, planned_at, finished_at, campaign_id, signature, phase, spend_paused)
VALUES ('audience', (%(at)s AT TIME ZONE 'Asia/Shanghai')::date, '', %(status)s, 0, 1, %(at)s, %(at)s,
    NULL, %(campaign)s, '', '', '')
RETURNING id
"""

# Message g of a run: delivered / failed / expired by g, a link code for one in ten.
_MESSAGES_SQL = """
INSERT INTO campaigns_message (phone, status, reason, body, text, parts, batch, settlement, link_code,
    attempts, sent_at, final_at, created_at, campaign_id, run_id, shop_id)
SELECT (13000000000 + %(run)s::bigint * 100000000 + g)::text,
       (ARRAY['delivered','delivered','delivered','delivered','delivered','delivered','delivered','delivered',
              'failed','expired'])[1 + g %% 10],
       '', '【转换压测】夏季新品上架' || g, '夏季新品上架', 1 + (g %% 3 = 0)::int, g / 1000,
       CASE WHEN g %% 10 < 8 THEN 'charged' ELSE 'released' END,
       CASE WHEN g %% 10 = 3 THEN 'c' || %(run)s || 'x' || g END,
       1, %(at)s + g * interval '1 ms', %(at)s + g * interval '1 ms' + interval '5 s',
       %(at)s, %(campaign)s, %(run)s, %(shop)s
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g
"""

_REPORTS_SQL = """
INSERT INTO campaigns_deliveryreport (status, at, applied, raw, received_at, message_id)
SELECT m.status, m.final_at, true, jsonb_build_object('stat', m.status), m.final_at, m.id
FROM campaigns_message m WHERE m.id BETWEEN %(first)s AND %(last)s AND m.id %% 10 = 0
"""

_CLICKS_SQL = """
INSERT INTO campaigns_click
    (campaign_id, shop_id, phone, at, method, user_agent, client_hash, human, message_id)
SELECT m.campaign_id, m.shop_id, m.phone, m.final_at + interval '1 hour', 'GET', 'Mozilla/5.0 bench',
       md5(m.id::text), m.id %% 200 <> 0, m.id
FROM campaigns_message m WHERE m.id BETWEEN %(first)s AND %(last)s AND m.link_code IS NOT NULL
  AND m.id / 10 %% 10 = 0
"""


@dataclass
class Seeded:
    shop: int
    campaign: int
    live_campaign: int
    live_run: int
    runs: list[int]
    messages: int
    reports: int
    clicks: int
    min_id: int
    max_id: int
    seconds: float


def seed(url: str, *, messages: int, log=print) -> Seeded:
    started = time.monotonic()
    out = manage(url, "shell", "-c", SEED_ORM).stdout
    ids = json.loads(re.search(r"^SEED=(.*)$", out, re.M).group(1))
    runs: list[int] = []
    with psycopg.connect(url, autocommit=True) as conn:
        now = conn.execute("SELECT now()").fetchone()[0]
        # One run a month for the past six months (the 5th of each month at noon, Shanghai).
        for back in range(PAST_RUNS, 0, -1):
            at = conn.execute(
                """SELECT (date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai') - %s * interval '1 month'
                           + interval '4 days 12 hours') AT TIME ZONE 'Asia/Shanghai'""",
                [back],
            ).fetchone()[0]
            runs.append(
                conn.execute(
                    _RUN_SQL, {"at": at, "status": "finished", "campaign": ids["campaign"]}
                ).fetchone()[0]
            )
        live_run = conn.execute(
            _RUN_SQL, {"at": now, "status": "dispatching", "campaign": ids["live"]}
        ).fetchone()[0]
        per_run = -(-messages // len(runs))
        done = 0
        for run in runs:
            at = conn.execute("SELECT created_at FROM campaigns_campaignrun WHERE id = %s", [run]).fetchone()[
                0
            ]
            count = min(per_run, messages - done)
            for first in range(0, count, SEED_CHUNK):
                last = min(count, first + SEED_CHUNK) - 1
                with conn.transaction():
                    row = conn.execute(
                        _MESSAGES_SQL + " RETURNING id",
                        {"run": run, "at": at, "campaign": ids["campaign"], "shop": ids["shop"],
                         "first": first, "last": last},
                    ).fetchall()  # fmt: skip
                    span = {"first": min(r[0] for r in row), "last": max(r[0] for r in row)}
                    conn.execute(_REPORTS_SQL, span)
                    conn.execute(_CLICKS_SQL, span)
            done += count
            log(f"seeded run {run}: {count} messages ({done}/{messages}, {time.monotonic() - started:.0f}s)")
        for table in TABLES:
            conn.execute(f"VACUUM (ANALYZE) {table}")
        counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
        min_id, max_id = conn.execute("SELECT min(id), max(id) FROM campaigns_message").fetchone()
    return Seeded(
        shop=ids["shop"], campaign=ids["campaign"], live_campaign=ids["live"], live_run=live_run, runs=runs,
        messages=counts[TABLES[0]], reports=counts[TABLES[1]], clicks=counts[TABLES[2]],
        min_id=min_id, max_id=max_id, seconds=time.monotonic() - started,
    )  # fmt: skip


# --- the app's load -----------------------------------------------------------------------


def _has_month(conn, table: str) -> bool:
    return bool(
        conn.execute(
            """SELECT 1 FROM pg_attribute
               WHERE attrelid = to_regclass(%s) AND attname = 'month' AND NOT attisdropped""",
            [table],
        ).fetchone()
    )


@dataclass
class Timings:
    """(started, seconds, statement) of every statement of a thread (wall clock: the migrate
    log's times mark the phases)."""

    rows: list[tuple[float, float, str]] = field(default_factory=list)

    def timed(self, conn, what: str, sql: str, params=None):
        started = time.time()
        cursor = conn.execute(sql, params)
        self.rows.append((started, time.time() - started, what))
        return cursor

    def worst(self, since: float = 0.0, until: float = float("inf")) -> tuple[float, str]:
        inside = [(s, w) for at, s, w in self.rows if since <= at <= until]
        return max(inside, default=(0.0, "-"))

    def slowest(self, since: float, until: float, *, origin: float, n: int = 5) -> list[str]:
        """The ``n`` slowest statements started in [since, until], each with when it started
        relative to ``origin`` (the swap's end)."""
        inside = sorted((r for r in self.rows if since <= r[0] <= until), key=lambda r: -r[1])[:n]
        return [f"{seconds * 1000:.0f} ms {what} at swap{at - origin:+.2f}s" for at, seconds, what in inside]

    def count(self, since: float = 0.0, until: float = float("inf")) -> int:
        return sum(1 for at, _s, _w in self.rows if since <= at <= until)


class LoadThread(threading.Thread):
    app = "bench-load"

    def __init__(self, url: str, seeded: Seeded, *, pause: float) -> None:
        super().__init__(daemon=True)
        self.url, self.seeded, self.pause = url, seeded, pause
        self.stop = threading.Event()
        self.timings = Timings()
        self.errors: list[str] = []

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True, application_name=self.app) as conn:
            rng = random.Random(self.app)
            while not self.stop.is_set():
                try:
                    self.step(conn, rng)
                except psycopg.Error as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}".strip())
                time.sleep(self.pause)


class Writer(LoadThread):
    """Sends of a running run (new messages), dispatch results and delivery reports (status
    updates by id, reports), each statement committed on its own, as the pipeline's small
    batches. Writes ``month`` (its run's, the message's) once the table has the column, as the
    partitioned app does; the mirror triggers compute it before that."""

    app = "bench-writer"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.inserted = 0
        self.reports = 0
        self.updated: dict[int, tuple[int, str]] = {}  # id -> (attempts, status) of the last update
        self.phone = 0

    def step(self, conn, rng: random.Random) -> None:
        run = self.seeded.live_run
        month = _has_month(conn, "campaigns_message")
        first = self.phone
        cursor = self.timings.timed(
            conn,
            "insert messages",
            f"""INSERT INTO campaigns_message (phone, status, reason, body, text, parts, batch, settlement,
                    attempts, created_at, campaign_id, run_id, shop_id{", month" if month else ""})
                SELECT (15000000000 + g)::text, 'planned', '', '【转换压测】新品', '新品', 1, 0, 'pending', 0,
                       now(), %(campaign)s, %(run)s, %(shop)s
                       {RUN_MONTH.format(run="%(run)s") if month else ""}
                FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g""",
            {"campaign": self.seeded.live_campaign, "run": run, "shop": self.seeded.shop,
             "first": first, "last": first + WRITER_INSERT - 1},
        )  # fmt: skip
        self.inserted += cursor.rowcount
        self.phone += WRITER_INSERT
        ids = sorted(rng.sample(range(self.seeded.min_id, self.seeded.max_id + 1), WRITER_UPDATE))
        status = rng.choice(STATUSES)
        rows = self.timings.timed(
            conn,
            "update statuses",
            """UPDATE campaigns_message SET status = %s, attempts = attempts + 1, final_at = now()
               WHERE id = ANY(%s) RETURNING id, attempts, status""",
            [status, ids],
        ).fetchall()
        for message_id, attempts, new_status in rows:
            self.updated[message_id] = (attempts, new_status)
        reported = ids[:WRITER_REPORTS]
        report_month = _has_month(conn, "campaigns_deliveryreport")
        cursor = self.timings.timed(
            conn,
            "insert reports",
            f"""INSERT INTO campaigns_deliveryreport (status, at, applied, raw, received_at, message_id
                    {", month" if report_month else ""})
                SELECT m.status, now(), true, '{{"bench": "writer"}}', now(), m.id
                       {RUN_MONTH.format(run="m.run_id") if report_month else ""}
                FROM campaigns_message m WHERE m.id = ANY(%s)""",
            [reported],
        )
        self.reports += cursor.rowcount


class Reader(LoadThread):
    """The campaign pages' queries: the counters, a keyset page of a campaign's messages in id
    order (the open API's ``campaign_messages``), a phone's message in the live run (its unique
    (run, phone) key) and a message's delivery reports."""

    app = "bench-reader"

    def __init__(self, *args, writer: Writer | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.writer = writer

    def step(self, conn, rng: random.Random) -> None:
        campaign = rng.choice((self.seeded.campaign, self.seeded.live_campaign))
        self.timings.timed(
            conn,
            "counters",
            """SELECT status, sum(messages), sum(parts) FROM campaigns_messagecounter
               WHERE campaign_id = %s GROUP BY status""",
            [campaign],
        ).fetchall()
        self.timings.timed(
            conn,
            "messages page",
            """SELECT id, phone, status, final_at FROM campaigns_message WHERE campaign_id = %s AND id > %s
               ORDER BY id LIMIT 50""",
            [self.seeded.campaign, rng.randint(self.seeded.min_id, self.seeded.max_id - 1000)],
        ).fetchall()
        sent = self.writer.phone if self.writer else 0
        self.timings.timed(
            conn,
            "phone lookup",
            "SELECT id, status FROM campaigns_message WHERE run_id = %s AND phone = %s",
            [self.seeded.live_run, str(15_000_000_000 + rng.randint(0, max(sent - 1, 0)))],
        ).fetchall()
        self.timings.timed(
            conn,
            "message reports",
            "SELECT status, at FROM campaigns_deliveryreport WHERE message_id = %s",
            [rng.randint(self.seeded.min_id, self.seeded.max_id)],
        ).fetchall()


class LockMonitor(threading.Thread):
    """Polls pg_stat_activity every 50 ms for the sessions waiting on a lock: (when, application,
    how long its statement has run, the statement) of each one seen."""

    def __init__(self, url: str, database: str) -> None:
        super().__init__(daemon=True)
        self.url, self.database = url, database
        self.stop = threading.Event()
        self.samples: list[tuple[float, str, float, str]] = []
        self.polls = 0

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True, application_name="bench-monitor") as conn:
            while not self.stop.is_set():
                rows = conn.execute(
                    """SELECT application_name, extract(epoch FROM clock_timestamp() - query_start)::float,
                              left(regexp_replace(query, '\\s+', ' ', 'g'), 90)
                       FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'""",
                    [self.database],
                ).fetchall()
                self.polls += 1
                now = time.time()
                self.samples.extend((now, app or "?", seconds, query) for app, seconds, query in rows)
                time.sleep(POLL_SECONDS)

    def worst(self, since: float = 0.0, until: float = float("inf")) -> dict[str, tuple[float, str]]:
        worst: dict[str, tuple[float, str]] = {}
        for at, app, seconds, query in self.samples:
            if since <= at <= until and seconds > worst.get(app, (0.0, ""))[0]:
                worst[app] = (seconds, query)
        return worst


# --- the migration ------------------------------------------------------------------------


def migrate_popen(url: str, *args: str, log_path: Path) -> subprocess.Popen:
    out = open(log_path, "w")  # noqa: SIM115 (closed by migrate_wait)
    return subprocess.Popen(
        [sys.executable, "manage.py", "migrate", *args],
        cwd=ROOT,
        env=manage_env(url, "bench-migrate"),
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
    )


@dataclass
class Conversion:
    seconds: float
    copied: dict[str, int]
    copy_seconds: dict[str, float]
    swap_seconds: float | None
    # (name, start, end) in time.time(): setup (the run months, the new tables, the mirror
    # triggers), copy, swap, after (the later migrations, until migrate exits).
    phases: list[tuple[str, float, float]]
    log: str


_LOG_LINE = r"^(\S+) INFO campaigns\.services\.message_partitions (.*)$"


def conversion_figures(log: str, started: float, ended: float) -> Conversion:
    copied, copy_seconds = {}, {}
    copy_start = swap_start = swap_end = None
    for at, text in re.findall(_LOG_LINE, log, re.M):
        at = datetime.fromisoformat(at).timestamp()
        if text.startswith("campaigns_click: mirror triggers installed"):
            copy_start = at
        if match := re.match(r"(campaigns_\w+): copied (\d+) rows in ([\d.]+)s", text):
            table = match.group(1)
            copied[table] = copied.get(table, 0) + int(match.group(2))
            copy_seconds[table] = copy_seconds.get(table, 0.0) + float(match.group(3))
        if match := re.match(r"swapped campaigns_message.* in ([\d.]+)s", text):
            swap_end, swap_start = at, at - float(match.group(1))
    phases = []
    if copy_start and swap_start:
        phases = [
            ("setup", started, copy_start),
            ("copy", copy_start, swap_start),
            ("swap", swap_start, swap_end),
            ("after", swap_end, ended),
        ]
    swap = swap_end - swap_start if swap_end else None
    return Conversion(ended - started, copied, copy_seconds, swap, phases, log)


def migrate_with_load(
    url: str, database: str, seeded: Seeded, *, log_path: Path, pause: float = 0.01
) -> tuple[Conversion, Writer, Reader, LockMonitor, float, float]:
    """Run ``migrate`` while the writer, the reader and the monitor work; returns the figures,
    the threads (stopped) and the migration's start and end (time.time)."""
    writer = Writer(url, seeded, pause=pause)
    reader = Reader(url, seeded, pause=pause, writer=writer)
    monitor = LockMonitor(url, database)
    for thread in (monitor, writer, reader):
        thread.start()
    time.sleep(1.0)  # the load runs on the old tables first
    started = time.time()
    process = migrate_popen(url, "--no-input", log_path=log_path)
    returncode = process.wait()
    ended = time.time()
    time.sleep(1.0)  # and on the new ones
    for thread in (writer, reader, monitor):
        thread.stop.set()
    for thread in (writer, reader, monitor):
        thread.join()
    text = log_path.read_text()
    if returncode:
        raise RuntimeError(f"migrate exited {returncode}:\n{text[-4000:]}")
    return conversion_figures(text, started, ended), writer, reader, monitor, started, ended


# --- the checks ---------------------------------------------------------------------------


def _columns(conn, table: str) -> list[str]:
    rows = conn.execute(
        """SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0
           AND NOT attisdropped ORDER BY attnum""",
        [table],
    ).fetchall()
    return [r[0] for r in rows if r[0] != "month"]


def verify(url: str, seeded: Seeded, writer: Writer) -> dict[str, object]:
    """Every check of the conversion; ``problems`` lists the failures (empty: all good)."""
    problems: list[str] = []
    result: dict[str, object] = {"problems": problems}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET jit = off")
        for table in TABLES:
            kind = conn.execute(
                "SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [table]
            ).fetchone()
            if not kind or kind[0] != "p":
                problems.append(f"{table} is not partitioned ({kind})")
        for table in TABLES:
            old = f"{table}_unpartitioned"
            if not conn.execute("SELECT to_regclass(%s)", [old]).fetchone()[0]:
                problems.append(f"{old} is missing (the conversion drops it only when it was empty)")
                continue
            cols = _columns(conn, old)
            old_rows = conn.execute(f"SELECT count(*) FROM {old}").fetchone()[0]
            new_rows, distinct = conn.execute(f"SELECT count(*), count(DISTINCT id) FROM {table}").fetchone()
            missing = conn.execute(
                f"SELECT count(*) FROM {old} o WHERE NOT EXISTS (SELECT 1 FROM {table} n WHERE n.id = o.id)"
            ).fetchone()[0]
            different = conn.execute(
                f"""SELECT array_agg(o.id) FROM {old} o JOIN {table} n ON n.id = o.id
                    WHERE ({", ".join(f"o.{c}" for c in cols)})
                          IS DISTINCT FROM ({", ".join(f"n.{c}" for c in cols)})"""
            ).fetchone()[0] or []  # fmt: skip
            max_old = conn.execute(f"SELECT max(id) FROM {old}").fetchone()[0]
            extra = conn.execute(
                f"""SELECT count(*), min(id) FROM {table} n
                    WHERE NOT EXISTS (SELECT 1 FROM {old} o WHERE o.id = n.id)"""
            ).fetchone()
            if table == "campaigns_message":
                # A message the writer updated after the swap differs: its update is the newer.
                later = [i for i in different if i in writer.updated]
                if later:
                    newer = conn.execute(
                        f"""SELECT count(*) FROM {old} o JOIN {table} n ON n.id = o.id
                            WHERE o.id = ANY(%s) AND n.attempts > o.attempts""",
                        [later],
                    ).fetchone()[0]
                    if newer != len(later):
                        problems.append(f"{table}: {len(later) - newer} rows older in the new table")
                different = [i for i in different if i not in writer.updated]
                foreign = conn.execute(
                    f"""SELECT count(*) FROM {table} n WHERE n.run_id <> %s
                        AND NOT EXISTS (SELECT 1 FROM {old} o WHERE o.id = n.id)""",
                    [seeded.live_run],
                ).fetchone()[0]
                written = conn.execute(
                    f"SELECT count(*) FROM {table} WHERE run_id = %s", [seeded.live_run]
                ).fetchone()[0]
                if written != writer.inserted:
                    problems.append(
                        f"{table}: the writer inserted {writer.inserted}, the table holds {written}"
                    )
            elif table == "campaigns_deliveryreport":
                foreign = conn.execute(
                    f"""SELECT count(*) FROM {table} n WHERE NOT (n.raw ? 'bench')
                        AND NOT EXISTS (SELECT 1 FROM {old} o WHERE o.id = n.id)"""
                ).fetchone()[0]
                written = conn.execute(f"SELECT count(*) FROM {table} WHERE raw ? 'bench'").fetchone()[0]
                if written != writer.reports:
                    problems.append(
                        f"{table}: the writer inserted {writer.reports} reports, the table holds {written}"
                    )
            else:
                foreign = extra[0]
            result[table] = {
                "unpartitioned": old_rows, "partitioned": new_rows, "only_in_new": extra[0],
                "missing": missing, "different": len(different), "duplicates": new_rows - distinct,
            }  # fmt: skip
            if missing or different or new_rows != distinct or foreign:
                problems.append(
                    f"{table}: {missing} missing, {len(different)} different (e.g. {different[:5]}), "
                    f"{new_rows - distinct} duplicated, {foreign} rows only in the new table not the writer's"
                )
            if new_rows != old_rows + extra[0]:
                problems.append(f"{table}: {new_rows} rows != {old_rows} + {extra[0]}")
            if extra[0] and max_old is not None and extra[1] <= max_old:
                problems.append(f"{table}: a row written after the swap has id {extra[1]} <= {max_old}")
        # The writer's every update is the final value of its message.
        ids = list(writer.updated)
        stale = conn.execute(
            """SELECT count(*) FROM campaigns_message m
               JOIN unnest(%s::bigint[], %s::int[], %s::text[]) AS w(id, attempts, status) ON w.id = m.id
               WHERE (m.attempts, m.status) IS DISTINCT FROM (w.attempts::smallint, w.status)""",
            [ids, [writer.updated[i][0] for i in ids], [writer.updated[i][1] for i in ids]],
        ).fetchone()[0]
        result["writer_updates_checked"] = len(ids)
        if stale:
            problems.append(f"{stale} of the writer's {len(ids)} updated messages lost their last update")
        months = {
            "message": """SELECT count(*) FROM campaigns_message m
                          JOIN campaigns_campaignrun r ON r.id = m.run_id
                          WHERE m.month IS DISTINCT FROM r.month""",
            "report": """SELECT count(*) FROM campaigns_deliveryreport d
                         JOIN campaigns_message m ON m.id = d.message_id
                         WHERE d.month IS DISTINCT FROM m.month""",
            "click": """SELECT count(*) FROM campaigns_click c JOIN campaigns_message m ON m.id = c.message_id
                        WHERE c.month IS DISTINCT FROM m.month""",
        }  # fmt: skip
        for what, sql in months.items():
            wrong = conn.execute(sql).fetchone()[0]
            if wrong:
                problems.append(f"{wrong} {what} rows in another month than their run's")
        in_default = sum(conn.execute(f"SELECT count(*) FROM {t}_default").fetchone()[0] for t in TABLES)
        result["rows_in_default_partitions"] = in_default
    reconciled = manage(url, "reconcile_stats", check=False)
    result["reconcile_stats"] = reconciled.returncode
    if reconciled.returncode:
        problems.append(f"reconcile_stats exited {reconciled.returncode}: {reconciled.stdout[-2000:]}")
    return result


# --- the command --------------------------------------------------------------------------


class Command(BaseCommand):
    help = (
        "Measure migration 0030's live conversion of the message tables to month partitions on a scratch "
        "database of --messages messages while a writer and a reader work; verify it (exit 1 on a failed "
        "check)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--messages", type=int, default=1_000_000)
        parser.add_argument("--database", default="sms_conversion_bench")
        parser.add_argument(
            "--pause", type=float, default=0.01, help="seconds between the load threads' steps"
        )
        parser.add_argument("--drop", action="store_true", help="drop the scratch database at the end")

    def handle(self, *args, messages: int, database: str, pause: float, drop: bool, **options) -> None:
        if messages < 1000:
            raise CommandError("--messages must be 1000 or more.")
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", database):
            raise CommandError("--database: lower-case letters, digits and _ only.")
        if database == settings.DATABASES["default"]["NAME"]:
            raise CommandError("--database must be a scratch database, not this process's.")
        say = self.stderr.write
        url = scratch_create(database)
        say(f"scratch database {database}: migrating to campaigns {BEFORE[1]}")
        migrate_before_conversion(url)
        seeded = seed(url, messages=messages, log=say)
        say(
            f"seeded {seeded.messages} messages, {seeded.reports} reports, {seeded.clicks} clicks "
            f"in {seeded.seconds:.0f}s; migrating under load"
        )
        log_path = Path(f"/tmp/{database}_migrate.log")
        conversion, writer, reader, monitor, started, ended = migrate_with_load(
            url, database, seeded, log_path=log_path, pause=pause
        )
        say(f"migrated in {conversion.seconds:.1f}s (log {log_path}); verifying")
        checks = verify(url, seeded, writer)
        figures = conversion_report(seeded, conversion, writer, reader, monitor, started, ended)
        figures["checks"] = checks
        self.stdout.write(json.dumps(figures, indent=2, ensure_ascii=False, default=str))
        for thread in (writer, reader):
            for error in thread.errors[:5]:
                say(f"{thread.app} error: {error}")
        if drop:
            scratch_drop(database)
        if checks["problems"] or writer.errors or reader.errors:
            raise SystemExit(1)


def _ms(worst: tuple[float, str]) -> str:
    return f"{worst[0] * 1000:.0f} ms ({worst[1]})"


def conversion_report(
    seeded: Seeded,
    conversion: Conversion,
    writer: Writer,
    reader: Reader,
    monitor: LockMonitor,
    started: float,
    ended: float,
) -> dict[str, object]:
    copied = sum(conversion.copied.values())
    copy_seconds = sum(conversion.copy_seconds.values())
    rate = copied / copy_seconds if copy_seconds else 0.0
    phases = conversion.phases or [("migrate", started, ended)]
    swap_end = phases[-1][1]
    return {
        "messages": seeded.messages,
        "reports": seeded.reports,
        "clicks": seeded.clicks,
        "seed_seconds": round(seeded.seconds, 1),
        "migrate_seconds": round(conversion.seconds, 1),
        "phase_seconds": {name: round(end - start, 3) for name, start, end in phases},
        "copied_rows": conversion.copied,
        "copy_seconds": {k: round(v, 1) for k, v in conversion.copy_seconds.items()},
        "copy_rows_per_second": round(rate),
        "copy_seconds_per_10M_rows": round(10_000_000 / rate) if rate else None,
        "migrate_seconds_per_10M_messages": round(conversion.seconds * 10_000_000 / seeded.messages),
        "swap_seconds": round(conversion.swap_seconds, 3) if conversion.swap_seconds is not None else None,
        "writer": {
            "statements_during_migrate": writer.timings.count(started, ended),
            "longest_statement_before_migrate": _ms(writer.timings.worst(0, started)),
            "longest_statement": {name: _ms(writer.timings.worst(a, b)) for name, a, b in phases},
            "messages_inserted": writer.inserted,
            "messages_updated": len(writer.updated),
            "reports_inserted": writer.reports,
            "errors": len(writer.errors),
            "slowest_during_migrate": writer.timings.slowest(started, ended, origin=swap_end),
        },
        "reader": {
            "statements_during_migrate": reader.timings.count(started, ended),
            "longest_statement_before_migrate": _ms(reader.timings.worst(0, started)),
            "longest_statement": {name: _ms(reader.timings.worst(a, b)) for name, a, b in phases},
            "errors": len(reader.errors),
            "slowest_during_migrate": reader.timings.slowest(started, ended, origin=swap_end),
        },
        "longest_lock_wait": {
            name: {app: _ms(w) for app, w in sorted(monitor.worst(a, b).items())} for name, a, b in phases
        },
        "lock_polls": monitor.polls,
    }
