"""``make run`` stops on Ctrl-C and on SIGTERM: within 10 s nothing it started is left, nothing
printed a traceback, and a task enqueued afterwards stays in the queue (no stray cluster takes it).

The Procfile runs under honcho (what ``make run`` ends in) against the test database, five times
per signal after varying delays from the moment the login page answers; one more try goes
through ``make run`` itself. django-q2's cluster hung in a futex wait, or left its processes
running, when all its processes got the stop signal at once (smsmarketing.killmode_mixed).
"""

from __future__ import annotations

import signal
import time

import pytest
from django.utils import timezone
from django_q.models import OrmQ, Task
from django_q.tasks import async_task, result

from tests.dburl import test_database_url as database_url
from tests.smsmarketing.local_run import VENV_BIN, LocalRun, free_port, run_env

DELAYS = (0, 1, 2.5, 4, 7)  # seconds after the login page first answers
STOP_WITHIN = 10  # seconds, the bound
UNCONSUMED_FOR = 3  # seconds a task enqueued after the stop is watched
CLUSTER_STARTS_WITHIN = 4  # tries at least this long after readiness check the cluster ran a task

# The run's processes see only committed rows (and restore the migrations' data: conftest).
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def start_run(tmp_path):
    runs: list[LocalRun] = []

    def start(*command: str, **env: str) -> LocalRun:
        port = free_port()
        run = LocalRun(
            list(command),
            env=run_env(DATABASE_URL=database_url(), PORT=str(port), **env),
            port=port,
            log=tmp_path / f"run-{len(runs)}.log",
        )
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.kill_everything()


def honcho(start_run) -> LocalRun:
    return start_run(str(VENV_BIN / "honcho"), "start")


def ping() -> str:
    # The test settings run tasks synchronously; this one goes through the ORM broker.
    return async_task("smsmarketing.tasks.ping", "lifecycle", sync=False)


def serve_for(run: LocalRun, delay: float) -> None:
    """Let the run serve for ``delay`` seconds; a long enough wait must see the cluster work."""
    task_id = ping()
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        run.watch(0.2)
    if delay >= CLUSTER_STARTS_WITHIN:
        assert result(task_id) == "pong:lifecycle", f"the cluster ran no task in {delay} s:\n{run.output()}"


def assert_stopped_cleanly(run: LocalRun) -> None:
    took = run.wait_until_all_gone(seconds=STOP_WITHIN)
    output = run.output()
    assert "Traceback" not in output, output
    # Neither honcho's last resort nor killmode_mixed's was needed: everything stopped on its own.
    assert "SIGKILL" not in output, output
    assert took < STOP_WITHIN
    assert_a_new_task_is_not_consumed()


def assert_a_new_task_is_not_consumed() -> None:
    OrmQ.objects.all().delete()
    task_id = ping()
    # The ORM broker stamps a new row's ``lock`` with the time it was enqueued; a cluster's pusher
    # taking it moves ``lock`` to the end of its retry period, and a finished task is saved.
    enqueued = list(OrmQ.objects.values_list("lock", flat=True))
    assert len(enqueued) == 1
    deadline = time.monotonic() + UNCONSUMED_FOR
    while time.monotonic() < deadline:
        assert list(OrmQ.objects.values_list("lock", flat=True)) == enqueued
        assert not Task.objects.filter(id=task_id).exists()
        time.sleep(0.2)


@pytest.mark.parametrize("delay", DELAYS, ids=[f"after_{delay}s" for delay in DELAYS])
def test_it_stops_everything_on_ctrl_c(start_run, delay):
    run = honcho(start_run)
    run.wait_until_serving()
    serve_for(run, delay)

    run.signal_group(signal.SIGINT)

    assert_stopped_cleanly(run)
    assert run.popen.returncode == 130  # honcho's code for SIGINT


@pytest.mark.parametrize("delay", DELAYS, ids=[f"after_{delay}s" for delay in DELAYS])
def test_it_stops_everything_on_sigterm_to_honcho(start_run, delay):
    run = honcho(start_run)
    run.wait_until_serving()
    serve_for(run, delay)

    run.popen.send_signal(signal.SIGTERM)

    assert_stopped_cleanly(run)
    assert run.popen.returncode == 143  # honcho's code for SIGTERM


def test_it_stops_everything_within_10_s_while_a_task_runs(start_run):
    run = honcho(start_run)
    run.wait_until_serving()
    OrmQ.objects.all().delete()
    async_task("time.sleep", 600, sync=False)  # a task far longer than any stop may take
    deadline = time.monotonic() + 60
    # The cluster has taken it when the broker moved the row's lock into the future.
    while not OrmQ.objects.filter(lock__gt=timezone.now()).exists():
        assert time.monotonic() < deadline, f"the cluster took no task:\n{run.output()}"
        run.watch(0.2)
    run.watch(1)  # a worker is in the task

    run.signal_group(signal.SIGINT)

    took = run.wait_until_all_gone(seconds=STOP_WITHIN)
    # The cluster waits for its busy worker; killmode_mixed ends it after STOP_TIMEOUT (4 s).
    assert "killing its process group (SIGKILL)" in run.output()
    assert "Traceback" not in run.output()
    assert took < STOP_WITHIN


def test_it_stops_make_run_on_ctrl_c(start_run, tmp_path):
    # make run collects static files: into a folder of this test, not the checkout's.
    run = start_run("make", "run", STATIC_ROOT=str(tmp_path / "static"))
    run.wait_until_serving()
    serve_for(run, CLUSTER_STARTS_WITHIN)

    run.signal_group(signal.SIGINT)

    assert_stopped_cleanly(run)
    assert "Serving on http://127.0.0.1:" in run.output()


def test_it_stops_make_run_on_sigterm_to_make(start_run, tmp_path):
    run = start_run("make", "run", STATIC_ROOT=str(tmp_path / "static"))
    run.wait_until_serving()
    serve_for(run, 1)

    run.popen.send_signal(signal.SIGTERM)  # make passes it on to honcho

    assert_stopped_cleanly(run)
