"""``python -m smsmarketing.killmode_mixed COMMAND [ARG...]``: systemd's ``KillMode=mixed`` for honcho.

honcho (``make run``, the ``Procfile``) stops a process by sending SIGTERM to its whole process
group, and SIGKILL 5 s later. django-q2 1.11.1's cluster cannot be stopped that way: its sentinel
process restores SIGTERM's default action and dies at once, while the main process, asked to stop
by the same signal, sets a ``multiprocessing.Event`` that the dead sentinel was waiting on and
blocks until that sentinel acknowledges (a futex wait that never ends). A second signal reaching
the main process while its handler runs gives ``AttributeError: 'NoneType' object has no
attribute 'set'`` (django_q/cluster.py, ``Cluster.stop``).

So COMMAND runs here in a process group of its own. The first SIGTERM or SIGINT this process
receives is passed on once, as SIGTERM, to COMMAND's main process alone (later ones are
ignored); the cluster then stops its sentinel, workers, pusher and monitor in order. Whatever is
left of COMMAND's process group when COMMAND exits, or ``STOP_TIMEOUT`` seconds after the
signal, is killed (SIGKILL): a worker in the middle of a long task, or a cluster that caught the
signal at a bad moment. Production needs no wrapper: systemd with ``KillMode=mixed`` (or
supervisord with ``stopasgroup=false``, ``killasgroup=true``) does the same (docs/OPERATIONS.md).
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading

# Seconds from the stop signal to SIGKILL of COMMAND's process group. Under honcho's own 5 s
# (honcho.manager.KILL_WAIT, counted from the first process that stops), after which honcho would
# kill this process alone and leave COMMAND's group behind.
STOP_TIMEOUT = 4.0


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def overstayed(command: list[str], pgid: int) -> None:
    print(
        f"killmode_mixed: {shlex.join(command)} still running {STOP_TIMEOUT:g} s after the stop "
        "signal; killing its process group (SIGKILL)",
        file=sys.stderr,
        flush=True,
    )
    kill_group(pgid)


def run(command: list[str]) -> int:
    """Run ``command`` until it exits; return its exit status (128 + N when killed by signal N)."""
    child: subprocess.Popen | None = None
    deadline: threading.Timer | None = None
    early: list[int] = []  # a stop signal that came before the child existed

    def forward(signum: int, frame: object) -> None:
        nonlocal deadline
        if child is None:
            early.append(signum)
            return
        if deadline is not None:
            return  # passed on once already
        deadline = threading.Timer(STOP_TIMEOUT, overstayed, (command, child.pid))
        deadline.start()
        # SIGTERM whichever signal came: the cluster stops the same way on both, and a cluster
        # still importing Django dies quietly on it (SIGINT would print a KeyboardInterrupt).
        child.send_signal(signal.SIGTERM)

    # Installed before the child starts, so that no stop signal can end this process and orphan it.
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    child = subprocess.Popen(command, process_group=0)
    if early:
        forward(early[0], None)
    returncode = child.wait()
    if deadline is not None:
        deadline.cancel()
    # COMMAND has exited: nothing of its process group may outlive it.
    kill_group(child.pid)
    return 128 - returncode if returncode < 0 else returncode


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m smsmarketing.killmode_mixed COMMAND [ARG...]")
    sys.exit(run(sys.argv[1:]))
