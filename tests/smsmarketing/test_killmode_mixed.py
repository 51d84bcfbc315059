"""``smsmarketing.killmode_mixed``: honcho's SIGTERM to the whole process group reaches the
command's main process only, once; what the command leaves, or does not stop in time, is killed.

The commands are small Python programs with a child of their own, as django-q2's cluster has; a
program writes the signals it gets into a folder of the test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil

from smsmarketing.killmode_mixed import STOP_TIMEOUT
from tests.smsmarketing.local_run import is_gone

# A child that notes a SIGTERM (it must get none) and stops on SIGUSR1 from its parent.
CHILD = textwrap.dedent("""
    import os, pathlib, signal, sys, time
    out = pathlib.Path(sys.argv[1])
    signal.signal(signal.SIGTERM, lambda *_: (out / "child-got-SIGTERM").touch())
    signal.signal(signal.SIGUSR1, lambda *_: sys.exit(0))
    (out / "child-ready.tmp").write_text(str(os.getpid()))
    (out / "child-ready.tmp").rename(out / "child-ready")
    while True:
        time.sleep(0.1)
""")

# A main process that stops its child in order when it gets a stop signal, like the cluster.
ORDERLY = textwrap.dedent("""
    import pathlib, signal, subprocess, sys, time
    out = pathlib.Path(sys.argv[1])
    child = subprocess.Popen([sys.executable, "-c", sys.argv[2], str(out)])
    def stop(signum, frame):
        with open(out / "main-got", "a") as notes:
            notes.write(signal.Signals(signum).name + "\\n")
        child.send_signal(signal.SIGUSR1)
        child.wait()
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        time.sleep(0.1)
""")

# A main process that does not stop (a hung cluster), with a child that does not stop either.
STUCK = textwrap.dedent("""
    import pathlib, signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    out = pathlib.Path(sys.argv[1])
    child = subprocess.Popen([sys.executable, "-c", sys.argv[2], str(out)])
    while True:
        time.sleep(0.1)
""")

# A main process that exits on its own and leaves its child running.
LEAVES_A_CHILD = textwrap.dedent("""
    import pathlib, subprocess, sys, time
    out = pathlib.Path(sys.argv[1])
    subprocess.Popen([sys.executable, "-c", sys.argv[2], str(out)])
    while not (out / "child-ready").exists():
        time.sleep(0.05)
""")


def wrapped(program: str, out) -> subprocess.Popen:
    """The program under killmode_mixed, in a process group of its own as honcho starts it."""
    return subprocess.Popen(
        [sys.executable, "-m", "smsmarketing.killmode_mixed", sys.executable, "-c", program, str(out), CHILD],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def processes_once_ready(wrapper: subprocess.Popen, out) -> list[psutil.Process]:
    """The wrapper, the program and the program's child (named by its own file)."""
    deadline = time.monotonic() + 60
    while not (out / "child-ready").exists():
        assert time.monotonic() < deadline, "the program's child did not start"
        time.sleep(0.05)
    found = {process.pid: process for process in [psutil.Process(wrapper.pid)]}
    try:
        found.update((child.pid, child) for child in found[wrapper.pid].children(recursive=True))
    except psutil.NoSuchProcess:
        pass
    child_pid = int((out / "child-ready").read_text())
    found.setdefault(child_pid, psutil.Process(child_pid))
    return list(found.values())


def test_it_passes_the_group_signal_to_the_main_process_only_and_once(tmp_path):
    wrapper = wrapped(ORDERLY, tmp_path)
    processes = processes_once_ready(wrapper, tmp_path)
    assert len(processes) == 3  # the wrapper, the program, its child

    os.killpg(wrapper.pid, signal.SIGTERM)  # what honcho does
    os.killpg(wrapper.pid, signal.SIGINT)  # a second signal is not passed on

    assert wrapper.wait(timeout=30) == 0
    assert (tmp_path / "main-got").read_text() == "SIGTERM\n"
    assert not (tmp_path / "child-got-SIGTERM").exists()
    assert all(is_gone(process) for process in processes)


def test_it_passes_sigint_on_as_sigterm(tmp_path):
    wrapper = wrapped(ORDERLY, tmp_path)
    processes_once_ready(wrapper, tmp_path)

    wrapper.send_signal(signal.SIGINT)

    assert wrapper.wait(timeout=30) == 0
    assert (tmp_path / "main-got").read_text() == "SIGTERM\n"


def test_it_kills_a_command_that_does_not_stop_and_its_children(tmp_path):
    wrapper = wrapped(STUCK, tmp_path)
    processes = processes_once_ready(wrapper, tmp_path)
    sent = time.monotonic()

    wrapper.send_signal(signal.SIGTERM)

    assert wrapper.wait(timeout=STOP_TIMEOUT + 30) == 128 + signal.SIGKILL
    assert time.monotonic() - sent >= STOP_TIMEOUT
    assert "still running 4 s after the stop signal; killing its process group (SIGKILL)" in (
        wrapper.stderr.read()
    )
    psutil.wait_procs(processes, timeout=10)
    assert all(is_gone(process) for process in processes)


def test_it_kills_what_the_command_leaves_behind_when_it_exits(tmp_path):
    wrapper = wrapped(LEAVES_A_CHILD, tmp_path)
    processes = processes_once_ready(wrapper, tmp_path)

    assert wrapper.wait(timeout=30) == 0

    psutil.wait_procs(processes, timeout=10)
    assert all(is_gone(process) for process in processes)
