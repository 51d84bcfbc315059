"""Run a program with its clock shifted: ``python -m bench.soak.clock OFFSET PROGRAM ARGS...``.

OFFSET is in seconds (may be negative or 0); PROGRAM is a Python file (``manage.py``) or
``-m MODULE`` (``-m gunicorn``). The process sees wall-clock time + OFFSET, ticking, through
time-machine; child processes it forks (django-q2's workers, gunicorn's workers) inherit the
shift. Every process of a soak (or of the recovery test) gets the same OFFSET, so they agree
on the time, and the marketing window (08:00-21:00 Asia/Shanghai) can be open whatever the
real hour is. PostgreSQL and Kannel keep the real time; the app passes its own times in.
"""

from __future__ import annotations

import runpy
import sys
import time

import time_machine


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise SystemExit("usage: python -m bench.soak.clock OFFSET (FILE | -m MODULE) [ARGS...]")
    offset = float(argv[0])
    rest = argv[1:]
    traveller = time_machine.travel(time.time() + offset, tick=True) if offset else None
    if traveller is not None:
        traveller.start()
    if rest[0] == "-m":
        sys.argv = [rest[1], *rest[2:]]
        runpy.run_module(rest[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = rest
        runpy.run_path(rest[0], run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
