"""Benchmark dispatch against a real Kannel on loopback, next to a minimal keep-alive client.

One run starts everything on free 127.0.0.1 ports and stops it afterwards: the SMPP
simulator (``python -m bench.smsc_sim``, a process), Kannel (``scripts/kannel/start.sh``,
DLR state in this database), and gunicorn serving this app for Kannel's delivery-report
callbacks. Then, for N messages planned through the pipeline:

A. **minimal client**: the same N ``sendsms`` GETs (same parameters, same dlr-url) sent by
   ``concurrency`` threads, each one ``http.client`` keep-alive connection, nothing else;
B. **pipeline**: ``run_dispatch`` through ``KannelBackend`` (per batch one statement that
   claims, re-validates and marks ``sending``, the hand-over, one statement that records; the
   next batch claimed while one is on the wire), with the same concurrency, no rate limit;
   ``--profile N`` prints the N costliest functions of the dispatching thread;
C. **delivery reports**: Kannel's callbacks through ``/hooks/kannel/dlr/`` (gunicorn), counted
   from the first to the last report stored; then ``delivery_settle`` of every message.

Between A and B, **A2** sends the same messages once more through ``KannelBackend.send_batch``
alone (no database work), to split the gap between the HTTP client and the pipeline's own work.
Phase A's and A2's reports reach messages that are still ``planned``; they are stored and
ignored, so every phase costs Kannel and the callback endpoint the same number of calls (B's
also change their messages: slightly more database work in B). Each phase starts once the
previous phase's reports stopped arriving. The load and UTC time are printed at the start and
the end (other jobs share the machine). Not a test.
"""

from __future__ import annotations

import cProfile
import http.client
import io
import os
import pstats
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.utils import timezone

from bench.harness import (
    bench_campaign_start,
    bench_shop_create,
    bench_shop_delete,
    peak_rss_mb,
    plan_all,
    send_moment,
)
from campaigns.gateways.base import OutboundSms
from campaigns.gateways.kannel import KannelBackend, mo_url
from campaigns.models import DeliveryReport, Message
from campaigns.services.campaigns import full_text
from campaigns.services.delivery import delivery_settle
from campaigns.services.sending import run_dispatch
from reviews.selectors import live_signature

ROOT = Path(settings.BASE_DIR)
SCRIPTS = ROOT / "scripts" / "kannel"
CALLBACK_APP_NAME = "bench-dispatch-callbacks"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(condition, *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise CommandError(f"timed out after {seconds:.0f} s waiting for {what}")
        time.sleep(0.2)


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux /proc), None if it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _CpuMeter(threading.Thread):
    """Samples ``Stack.callback_cpu`` every 0.2 s until stopped, in its own thread (and database
    connection): gunicorn recycles its database connections after CONN_MAX_AGE, so a session
    first seen in a later sample started in between and counts from its start."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(daemon=True)
        self.stack = stack
        self.first: dict[tuple[str, int], float] = {}
        self.last: dict[tuple[str, int], float] = {}
        self.unreadable: set[str] = set()
        self.stopping = threading.Event()
        self.sampled = threading.Event()

    def sample(self, *, initial: bool) -> None:
        for what, processes in self.stack.callback_cpu().items():
            for pid, cpu in processes.items():
                if cpu is None:
                    self.unreadable.add(what)
                    continue
                self.first.setdefault((what, pid), cpu if initial else 0.0)
                self.last[(what, pid)] = cpu

    def run(self) -> None:
        try:
            self.sample(initial=True)
            self.sampled.set()
            while not self.stopping.wait(0.2):
                self.sample(initial=False)
            self.sample(initial=False)
        finally:
            self.sampled.set()
            connection.close()

    def used(self) -> dict[str, float | None]:
        """CPU seconds per kind of process over the sampled span (None: unreadable)."""
        self.stopping.set()
        self.join()
        used: dict[str, float | None] = {"gunicorn": 0.0, "database": 0.0}
        for (what, pid), cpu in self.last.items():
            used[what] = (used[what] or 0.0) + cpu - self.first[(what, pid)]
        return {what: None if what in self.unreadable else seconds for what, seconds in used.items()}


def _load() -> str:
    """The machine's load (other jobs share its cores) and the UTC time, printed with each run."""
    one, five, fifteen = os.getloadavg()
    clock = time.strftime("%H:%M:%S", time.gmtime())
    return f"{clock} UTC, load {one:.2f} {five:.2f} {fifteen:.2f}, {os.cpu_count()} cores"


def _answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=1)
        return True
    except httpx.HTTPError:
        return False


class Stack:
    """Simulator, gunicorn and Kannel processes of one benchmark run."""

    def __init__(self, *, workers: int, threads: int = 0) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="bench-kannel-"))
        self.procs: list[subprocess.Popen] = []
        self.workers = workers
        self.threads = threads
        self.kannel_env: dict[str, str] | None = None

    def start(self, database_url: str) -> None:
        python = sys.executable
        smsc_port, control_port, app_port = _free_port(), _free_port(), _free_port()
        smsc_password = secrets.token_hex(4)
        log = open(self.dir / "procs.log", "ab")  # noqa: SIM115 (closed with the processes)
        self.procs.append(
            subprocess.Popen(
                [python, "-m", "bench.smsc_sim", "--port", str(smsc_port), "--control-port",
                 str(control_port), "--system-id", "kannel", "--password", smsc_password],
                cwd=ROOT, stdout=log, stderr=log,
            )
        )  # fmt: skip
        env = {**os.environ, "DATABASE_URL": database_url}
        # The callbacks' database sessions are found by this name (their CPU time, phase C).
        app_env = {**env, "DATABASE_URL": f"{database_url}?application_name={CALLBACK_APP_NAME}"}
        self.procs.append(
            subprocess.Popen(
                [str(Path(python).parent / "gunicorn"), "smsmarketing.wsgi:application",
                 "-b", f"127.0.0.1:{app_port}", "-w", str(self.workers), "--log-level", "warning",
                 *(["-k", "gthread", "--threads", str(self.threads)] if self.threads else [])],
                cwd=ROOT, env=app_env, stdout=log, stderr=log,
            )
        )  # fmt: skip
        self.app_url = f"http://127.0.0.1:{app_port}"
        _wait(lambda: _answers(f"http://127.0.0.1:{control_port}/status"), seconds=30, what="the simulator")
        _wait(lambda: _answers(f"{self.app_url}/accounts/login/"), seconds=60, what="gunicorn")
        self.kannel_env = {
            **env,
            "KANNEL_RUN_DIR": str(self.dir / "kannel"),
            "KANNEL_ADMIN_PORT": str(_free_port()),
            "KANNEL_BOX_PORT": str(_free_port()),
            "KANNEL_SENDSMS_PORT": str(_free_port()),
            "KANNEL_ADMIN_PASSWORD": secrets.token_hex(8),
            "KANNEL_SENDSMS_USER": "bench",
            "KANNEL_SENDSMS_PASSWORD": secrets.token_hex(8),
            "KANNEL_SMSC_PORT": str(smsc_port),
            "KANNEL_SMSC_SYSTEM_ID": "kannel",
            "KANNEL_SMSC_PASSWORD": smsc_password,
            "KANNEL_MO_URL": mo_url(self.app_url),
            "KANNEL_DLR_DATABASE_URL": database_url,
        }
        done = subprocess.run(
            ["bash", str(SCRIPTS / "start.sh")],
            env=self.kannel_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise CommandError(f"scripts/kannel/start.sh failed:\n{done.stdout}{done.stderr}")

    def backend_options(self, concurrency: int) -> dict[str, object]:
        env = self.kannel_env
        return {
            "url": f"http://127.0.0.1:{env['KANNEL_SENDSMS_PORT']}/cgi-bin/sendsms",
            "username": env["KANNEL_SENDSMS_USER"],
            "password": env["KANNEL_SENDSMS_PASSWORD"],
            "callback_base_url": self.app_url,
            "rate": 0,
            "concurrency": concurrency,
            "timeout": 10,
        }

    def callback_cpu(self) -> dict[str, dict[int, float | None]]:
        """CPU seconds used so far by each gunicorn worker and each of their database sessions
        (None where the server's processes cannot be read: another host, another user)."""
        workers = subprocess.run(["pgrep", "-P", str(self.procs[1].pid)], capture_output=True, text=True)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s", [CALLBACK_APP_NAME]
            )
            sessions = [pid for (pid,) in cursor.fetchall()]
        return {
            "gunicorn": {int(pid): _cpu_seconds(int(pid)) for pid in workers.stdout.split()},
            "database": {pid: _cpu_seconds(pid) for pid in sessions},
        }

    def stop(self) -> None:
        if self.kannel_env is not None:
            subprocess.run(
                ["bash", str(SCRIPTS / "stop.sh")], env=self.kannel_env, capture_output=True, timeout=60
            )
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def minimal_client(*, url: str, queries: list[str], concurrency: int) -> tuple[float, int]:
    """Send every query with ``concurrency`` keep-alive connections; (seconds, accepted)."""
    parts = urlsplit(url)
    chunks = [queries[i::concurrency] for i in range(concurrency)]
    accepted = [0] * concurrency

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        for query in chunks[index]:
            conn.request("GET", f"{parts.path}?{query}")
            response = conn.getresponse()
            response_body = response.read()
            if response.status == 202 and response_body[:2] in (b"0:", b"3:"):
                accepted[index] += 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, sum(accepted)


class Command(BaseCommand):
    help = "Messages/s handed to a real Kannel by the pipeline vs. a minimal keep-alive client; DLRs/s."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--messages", type=int, default=10_000)
        parser.add_argument("--concurrency", type=int, default=8, help="connections to Kannel (both clients)")
        parser.add_argument(
            "--batch", type=int, default=None, help="SMS_PIPELINE DISPATCH_BATCH (default: setting)"
        )
        parser.add_argument("--gunicorn-workers", type=int, default=2)
        parser.add_argument(
            "--gunicorn-threads", type=int, default=0,
            help="threads per gunicorn worker (gthread: keep-alive, concurrent callbacks); 0 = sync workers",
        )  # fmt: skip
        parser.add_argument("--report-timeout", type=float, default=300.0)
        parser.add_argument(
            "--rounds", type=int, default=1,
            help="alternate the phases on this many chunks of the messages (load drift hits all sides)",
        )  # fmt: skip
        parser.add_argument(
            "--profile", type=int, default=0, metavar="N",
            help="cProfile phase B (the dispatching thread) and print its N costliest functions",
        )  # fmt: skip

    def handle(self, *args, messages: int, concurrency: int, batch: int | None, **options) -> None:
        if not (shutil.which("bearerbox") or os.access("/usr/sbin/bearerbox", os.X_OK)):
            raise CommandError("Kannel is not installed: scripts/kannel/install.sh")
        db = connection.settings_dict
        database_url = (
            f"postgres://{db['USER']}{':' + db['PASSWORD'] if db['PASSWORD'] else ''}"
            f"@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
        at = send_moment()
        bench = bench_shop_create(recipients=messages, balance=2 * messages)
        threads = options["gunicorn_threads"]
        stack = Stack(workers=options["gunicorn_workers"], threads=threads)
        try:
            run = bench_campaign_start(bench=bench)
            plan_all(run=run, at=at)
            stack.start(database_url)
            self.stdout.write(
                f"{messages:,} messages planned; Kannel, SMPP simulator and gunicorn "
                f"({options['gunicorn_workers']} workers{f', {threads} threads each' if threads else ''}) "
                f"started on 127.0.0.1; {_load()}"
            )
            options_ = stack.backend_options(concurrency)
            backend = KannelBackend(**options_)
            signature = live_signature(shop=bench.shop).text
            planned = list(
                Message.objects.filter(run=run, status=Message.Status.PLANNED)
                .order_by("id")
                .values_list("id", "phone", "body")
            )
            pipeline = dict(settings.SMS_PIPELINE, DISPATCH_RATE=0)
            if batch:
                pipeline["DISPATCH_BATCH"] = batch
            settings.SMS_GATEWAY = {"BACKEND": "campaigns.gateways.kannel.KannelBackend", "OPTIONS": options_}
            settings.SMS_PIPELINE = pipeline
            # --rounds K: the phases alternate on K chunks of the messages (A, A2, B on chunk 1,
            # then on chunk 2 ...), so a change of the machine's load hits every side alike.
            # Later chunks wait parked (not due), so run_dispatch of a round sends its chunk only.
            size = -(-len(planned) // max(1, options["rounds"]))
            chunks = [planned[i : i + size] for i in range(0, len(planned), size)]
            Message.objects.filter(pk__in=[m[0] for chunk in chunks[1:] for m in chunk]).update(
                next_attempt_at=timezone.now() + timedelta(days=1)
            )
            took = {"A": 0.0, "A2": 0.0, "B": 0.0}
            accepted = accepted2 = 0
            reports_before = None
            meter: _CpuMeter | None = None
            profiler = cProfile.Profile() if options["profile"] else None
            for number, chunk in enumerate(chunks, 1):
                queries = [
                    urlencode(
                        backend.params(OutboundSms(i, phone, full_text(signature=signature, body=body)))
                    )
                    for i, phone, body in chunk
                ]
                seconds, ok = minimal_client(
                    url=str(options_["url"]), queries=queries, concurrency=concurrency
                )
                took["A"] += seconds
                accepted += ok
                self._quiet(run, seconds=options["report_timeout"])
                # A2: the backend alone (its HTTP client, no database work), the same messages again.
                outbound = [
                    OutboundSms(i, phone, full_text(signature=signature, body=body))
                    for i, phone, body in chunk
                ]
                started = time.perf_counter()
                results = KannelBackend(**options_).send_batch(outbound)
                took["A2"] += time.perf_counter() - started
                accepted2 += sum(r.accepted for r in results)
                self._quiet(run, seconds=options["report_timeout"])
                Message.objects.filter(pk__in=[m[0] for m in chunk]).update(next_attempt_at=None)
                if reports_before is None:
                    reports_before = self._reports(run)
                    meter = _CpuMeter(stack)
                    meter.start()
                    meter.sampled.wait()
                started = time.perf_counter()
                if profiler is not None:
                    profiler.enable()
                result = run_dispatch(run_id=run.pk, quiet_hours=False)  # it runs at night too
                if profiler is not None:
                    profiler.disable()
                took["B"] += time.perf_counter() - started
                if len(chunks) > 1:
                    self.stdout.write(
                        f"  round {number}/{len(chunks)} done ({len(chunk):,} messages; {_load()})"
                    )
                    if number < len(chunks):
                        self._quiet(run, seconds=options["report_timeout"])
            minimal_rate = len(planned) / took["A"]
            self.stdout.write(
                f"A minimal client : {len(planned):,} sendsms in {took['A']:.2f} s = "
                f"{minimal_rate:,.0f} msg/s "
                f"({accepted:,} accepted, {concurrency} keep-alive connections)"
            )
            self.stdout.write(
                f"A2 backend alone : {len(planned):,} in {took['A2']:.2f} s = "
                f"{len(planned) / took['A2']:,.0f} msg/s "
                f"({accepted2:,} accepted; KannelBackend.send_batch, no database)"
            )
            seconds = took["B"]
            handed = Message.objects.filter(run=run).exclude(sent_at=None).count()
            pipe_rate = handed / seconds
            self.stdout.write(
                f"B pipeline       : {handed:,} handed over in {seconds:.2f} s = {pipe_rate:,.0f} msg/s "
                f"(KannelBackend, DISPATCH_BATCH {pipeline['DISPATCH_BATCH']}, done={result.done})\n"
                f"ratio pipeline/minimal: {100 * pipe_rate / minimal_rate:.1f}% (target >= 70%)"
                + (f" over {len(chunks)} alternating rounds" if len(chunks) > 1 else "")
            )
            if profiler is not None:
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(options["profile"])
                self.stdout.write(out.getvalue())
            finals = Message.objects.filter(run=run, status__in=[s.value for s in Message.FINAL])
            _wait(lambda: finals.count() >= handed, seconds=options["report_timeout"], what="final reports")
            cpu_used = meter.used() if meter is not None else {}
            reports = DeliveryReport.objects.filter(message__run=run).order_by("received_at")
            window = reports.values_list("received_at", flat=True)
            phase_b = list(window[reports_before:])
            span = (phase_b[-1] - phase_b[0]).total_seconds() if len(phase_b) > 1 else 0.0
            if len(chunks) > 1:
                # Later rounds' A and A2 reports came in between: no clean window for a rate.
                self.stdout.write(f"C delivery reports: {finals.count():,} messages final (rate: --rounds 1)")
            else:
                self.stdout.write(
                    f"C delivery reports: {len(phase_b):,} callbacks (/hooks/kannel/dlr/, gunicorn) "
                    f"in {span:.2f} s "
                    f"= {len(phase_b) / span if span else 0:,.0f} reports/s; "
                    f"{finals.count():,} messages final"
                )
                if phase_b and cpu_used:
                    # From the start of B to its last final report: the workers served B's callbacks only.
                    shown = {
                        what: "unreadable" if seconds is None else f"{1000 * seconds / len(phase_b):.2f} ms"
                        for what, seconds in cpu_used.items()
                    }
                    self.stdout.write(
                        f"  CPU per callback: gunicorn workers {shown['gunicorn']}, "
                        f"their database sessions {shown['database']}"
                    )
            started = time.perf_counter()
            settled = delivery_settle()
            seconds = time.perf_counter() - started
            self.stdout.write(
                f"  settlement     : {settled:,} messages charged/released in {seconds:.2f} s = "
                f"{settled / seconds if seconds else 0:,.0f} messages/s; peak RSS {peak_rss_mb():.0f} MB"
            )
            self.stdout.write(f"end: {_load()}")
        finally:
            stack.stop()
            bench_shop_delete(bench)

    def _quiet(self, run, *, seconds: float) -> None:
        """Wait until no report of the run arrived for 3 s (phase A's reports are all in)."""
        deadline = time.monotonic() + seconds
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            count = self._reports(run)
            if count != last:
                last, since = count, time.monotonic()
            elif time.monotonic() - since > 3:
                return
            time.sleep(0.5)

    @staticmethod
    def _reports(run) -> int:
        return DeliveryReport.objects.filter(message__run=run).count()
