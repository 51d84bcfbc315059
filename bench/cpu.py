"""Where the CPU of a benchmark phase goes: this process and its PostgreSQL backend.

``CpuBreakdown`` wraps Django's database calls (``connection.execute_wrapper``) and reads,
around each statement and each commit, the CPU time the backend process has used
(``/proc/<pid>/schedstat``: Linux, database on the same host). The figures are CPU time,
not wall time, so they hold on a loaded machine where wall times do not. Not used by the
product: ``bench_send --breakdown`` prints them.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

_WORDS = re.compile(r"\s+")


class CpuBreakdown:
    def __init__(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self._stat = Path(f"/proc/{cursor.fetchone()[0]}/schedstat")
        self.available = self._stat.exists()
        self.statements: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
        self.backend = self.python = 0.0

    def _backend_cpu(self) -> float:
        return int(self._stat.read_text().split()[0]) / 1e9 if self.available else 0.0

    def _wrap(self, execute, sql, params, many, context):
        before = self._backend_cpu()
        try:
            return execute(sql, params, many, context)
        finally:
            kind = _WORDS.sub(" ", sql).strip()[:60]
            entry = self.statements[kind]
            entry[0] += 1
            entry[1] += self._backend_cpu() - before

    @contextmanager
    def measure(self):
        """Count the backend's CPU per statement (and in total, commits included) and ours."""
        backend, python = self._backend_cpu(), time.process_time()
        with connection.execute_wrapper(self._wrap):
            yield self
        self.backend += self._backend_cpu() - backend
        self.python += time.process_time() - python

    def state(self) -> tuple[float, float, dict[str, list[float]]]:
        """What ``merge`` takes: this measurement, picklable (sent back by a planner process)."""
        return self.python, self.backend, dict(self.statements)

    def merge(self, state: tuple[float, float, dict[str, list[float]]]) -> None:
        """Add another process's measurement (several planners: CPU adds up across them)."""
        python, backend, statements = state
        self.python += python
        self.backend += backend
        for kind, (count, seconds) in statements.items():
            self.statements[kind][0] += count
            self.statements[kind][1] += seconds

    def report(self, *, per: int, unit: str, top: int = 8) -> list[str]:
        if not self.available:
            return ["CPU breakdown: /proc/<backend pid>/schedstat not readable (database on another host?)"]
        statements = sum(seconds for _count, seconds in self.statements.values())
        lines = [
            f"CPU per {unit}: Python {1e6 * self.python / per:.1f} us, PostgreSQL backend "
            f"{1e6 * self.backend / per:.1f} us (statements {1e6 * statements / per:.1f} us, "
            f"commits and the rest {1e6 * (self.backend - statements) / per:.1f} us)"
        ]
        ranked = sorted(self.statements.items(), key=lambda item: -item[1][1])[:top]
        lines += [f"  {1e6 * seconds / per:6.1f} us  x{count:<6} {kind}" for kind, (count, seconds) in ranked]
        return lines
