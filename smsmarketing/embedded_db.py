"""An embedded PostgreSQL for machines with no database service.

When ``DATABASE_URL`` is not set, settings call :func:`database_url`, which
starts (or reuses) a PostgreSQL server from the pip-installed ``pgserver``
package in ``<project>/.pgdata``. The server keeps running after the process
exits so that the web server, the django-q2 cluster and management commands
share it; ``make stop`` ends it. CI and production set ``DATABASE_URL``.

``python -m smsmarketing.embedded_db status|stop [--data-dir DIR]`` (``make status``,
``make stop``) says what runs, and stops the processes of a local run that use the embedded
server and then the server itself. It relies on PostgreSQL's own ``postmaster.pid`` and
``pg_ctl``, never on pgserver's list of the processes holding the server
(``.handle_pids.json``): that list keeps the PIDs of processes that were killed, and pgserver
then never stops the server.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit, urlunsplit

import psutil
import psycopg
from psycopg import sql

EMBEDDED_DB_NAME = "smsmarketing"
BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = BASE_DIR / ".pgdata"
# make stop: seconds the run's processes get to stop after SIGTERM before SIGKILL (make run's
# own Ctrl-C takes about 2 s), and seconds pg_ctl waits for the server's fast shutdown.
RUN_STOP_TIMEOUT = 10
SERVER_STOP_TIMEOUT = 30


def load_pgserver(data_dir: Path) -> ModuleType:
    """Import pgserver (an optional dependency: only machines without DATABASE_URL need it)."""
    # pgserver logs every process exit at INFO and platformdirs warns without
    # XDG_RUNTIME_DIR; neither is news to an operator.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir.parent / ".run"))
    (data_dir.parent / ".run").mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    return pgserver


def database_url(data_dir: Path) -> str:
    """Start the embedded server if needed and return a URL for our database."""
    pgserver = load_pgserver(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(data_dir), cleanup_mode=None)
    exists = server.psql(
        f"SELECT 1 FROM pg_database WHERE datname = '{EMBEDDED_DB_NAME}';"
    )
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {EMBEDDED_DB_NAME};")
    return f"postgresql://postgres:@/{EMBEDDED_DB_NAME}?host={data_dir}"


def ensure_database(url: str) -> None:
    """Create the database of a ``postgres://`` URL if it does not exist yet."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not found:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


@dataclass(frozen=True)
class Server:
    """The embedded server of a data folder, as its ``postmaster.pid`` describes it."""

    data_dir: Path
    pid: int | None  # None: not running
    socket: Path | None

    def describe(self) -> str:
        if self.pid is None:
            return f"Embedded PostgreSQL ({self.data_dir}): not running"
        return f"Embedded PostgreSQL ({self.data_dir}): running, pid {self.pid}, socket {self.socket}"


def server_status(data_dir: Path) -> Server:
    """The server of ``data_dir``: running when its ``postmaster.pid`` names a live postgres."""
    pid_file = data_dir / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
    except FileNotFoundError:
        return Server(data_dir, None, None)
    # postmaster.pid: pid, data folder, start time, port, socket folder, ... (PostgreSQL's format).
    pid, port, socket_dir = int(lines[0]), lines[3].strip(), lines[4].strip()
    try:
        process = psutil.Process(pid)
        running = process.name() == "postgres"
    except psutil.NoSuchProcess:
        running = False
    if not running:  # a stale file left by a killed server; PostgreSQL ignores it on start
        return Server(data_dir, None, None)
    return Server(data_dir, pid, Path(socket_dir) / f".s.PGSQL.{port}" if socket_dir else None)


def server_stop(data_dir: Path) -> list[str]:
    """Stop the server of ``data_dir`` (a fast shutdown: sessions are ended); say what was done."""
    server = server_status(data_dir)
    if server.pid is None:
        return [f"{server.describe()}; nothing to stop."]
    pgserver = load_pgserver(data_dir)
    # pg_ctl refuses to run as root; pgserver runs the server as the data folder's owner.
    owner = data_dir.stat().st_uid if os.geteuid() == 0 else None
    done = [f"Stopping the embedded PostgreSQL (pid {server.pid}, {data_dir}) with pg_ctl -m fast."]
    try:
        pgserver.pg_ctl(
            ["-m", "fast", "-w", "-t", str(SERVER_STOP_TIMEOUT), "stop"], pgdata=data_dir, user=owner
        )
    except subprocess.CalledProcessError as error:
        done.append(f"pg_ctl failed ({error.returncode}); killing the server (SIGKILL).")
        kill_all([psutil.Process(server.pid)])
    if server_status(data_dir).pid is not None:
        raise SystemExit(f"The embedded PostgreSQL of {data_dir} is still running.")
    done.append("Embedded PostgreSQL stopped.")
    return done


@dataclass(frozen=True)
class RunProcess:
    """A process of a local run (make run) started from this checkout."""

    process: psutil.Process
    role: str  # make, honcho, gunicorn, killmode_mixed, qcluster or runserver
    data_dir: Path | None  # the embedded server's folder it uses; None: it has a DATABASE_URL

    def describe(self) -> str:
        database = f"embedded server {self.data_dir}" if self.data_dir else "DATABASE_URL"
        return f"pid {self.process.pid:>7}  ppid {self.process.ppid():>7}  {self.role:<14} {database}"


def process_role(cmdline: list[str]) -> str | None:
    names = [Path(arg).name for arg in cmdline]
    if names[:2] == ["make", "run"]:
        return "make"
    for role in ("honcho", "gunicorn", "runserver"):
        if role in names:
            return role
    if "smsmarketing.killmode_mixed" in cmdline:
        return "killmode_mixed"
    if any(arg.startswith("qcluster") for arg in names):  # manage.py qcluster, or its process titles
        return "qcluster"
    return None


def run_processes(base_dir: Path = BASE_DIR) -> list[RunProcess]:
    """The processes of local runs started in ``base_dir``, and the database each one uses."""
    found = []
    own = {os.getpid(), *(parent.pid for parent in psutil.Process().parents())}
    for process in psutil.process_iter(["cmdline", "cwd"]):
        cmdline, cwd = process.info["cmdline"], process.info["cwd"]
        if not cmdline or cwd != str(base_dir) or process.pid in own:
            continue
        role = process_role(cmdline)
        if role is None:
            continue
        try:
            environ = process.environ()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        # The same rule as settings: no DATABASE_URL means the embedded server of EMBEDDED_PGDATA.
        data_dir = (
            None
            if environ.get("DATABASE_URL")
            else (base_dir / environ.get("EMBEDDED_PGDATA", DEFAULT_DATA_DIR)).resolve()
        )
        found.append(RunProcess(process, role, data_dir))
    return found


def kill_all(processes: list[psutil.Process]) -> None:
    for process in processes:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(processes, timeout=5)


def run_stop(data_dir: Path) -> list[str]:
    """Stop the local run's processes that use the embedded server of ``data_dir``.

    Only the first of each tree gets SIGTERM (honcho, or after ``kill -9`` of honcho the
    gunicorn master and the cluster's wrapper or main process), so that each stops its own
    children in order; whatever is left after ``RUN_STOP_TIMEOUT`` seconds is killed.
    """
    mine = [entry for entry in run_processes() if entry.data_dir == data_dir.resolve()]
    if not mine:
        return ["No process of a local run uses it."]
    pids = {entry.process.pid for entry in mine}
    done = []
    for entry in mine:
        if entry.process.ppid() not in pids:
            done.append(f"Sending SIGTERM to {entry.role} (pid {entry.process.pid}).")
            try:
                entry.process.terminate()
            except psutil.NoSuchProcess:
                pass
    processes = [entry.process for entry in mine]
    __, alive = psutil.wait_procs(processes, timeout=RUN_STOP_TIMEOUT)
    if alive:
        done.append(
            f"Still running after {RUN_STOP_TIMEOUT} s, killed (SIGKILL): "
            + ", ".join(str(process.pid) for process in alive)
            + "."
        )
        kill_all(alive)
    done.append(f"Stopped {len(processes)} process(es) of the local run.")
    return done


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m smsmarketing.embedded_db")
    parser.add_argument("action", nargs="?", choices=["status", "stop"])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    args = parser.parse_args(argv)
    data_dir = args.data_dir.resolve()
    if args.action is None:  # make run, make lint: the database of DATABASE_URL exists
        if os.environ.get("DATABASE_URL"):
            ensure_database(os.environ["DATABASE_URL"])
        return 0
    if args.action == "status":
        print(server_status(data_dir).describe())
        processes = run_processes()
        print(f"Processes of local runs in {BASE_DIR}:" if processes else f"No local run in {BASE_DIR}.")
        for entry in processes:
            print("  " + entry.describe())
        return 0
    for line in [*run_stop(data_dir), *server_stop(data_dir)]:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
