"""``manage.py soak --minutes N --seed S [--gateway kannel|simulated]``: the chaos soak.

Starts the SMPP simulator and Kannel (or the simulated gateway), gunicorn and 2 django-q2
clusters on 127.0.0.1, runs 3 shops' overlapping campaigns with delivery reports and replies,
injects a seeded fault every 20-60 s, then checks the invariants and prints a report
(``bench/soak/``, docs/OPERATIONS.md "Chaos soak"). Exit 1 on any violation.

It writes to the database it is given (DATABASE_URL): use a database of its own.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from bench.soak.run import Options, Soak


def _kannel_installed() -> bool:
    return all(shutil.which(box) or os.access(f"/usr/sbin/{box}", os.X_OK) for box in ("bearerbox", "smsbox"))


class Command(BaseCommand):
    help = "Chaos soak: the whole stack under seeded faults; prints the checks, exits 1 on a violation."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--minutes", type=float, required=True, help="how long traffic and faults go on")
        parser.add_argument("--seed", type=int, required=True, help="seeds the faults, waves and replies")
        parser.add_argument("--gateway", choices=["kannel", "simulated"], default="kannel")
        parser.add_argument("--clusters", type=int, default=2, help="django-q2 clusters (qcluster processes)")
        parser.add_argument("--q-workers", type=int, default=2, help="workers per cluster")
        parser.add_argument(
            "--dispatch-rate", type=int, default=10,
            help="messages/s per worker (low, so that work is still due when a fault strikes)",
        )  # fmt: skip
        parser.add_argument(
            "--max-gap", type=float, default=60.0,
            help="seconds from a fault to the next hand-over beyond which it is a violation (0: report only)",
        )  # fmt: skip
        parser.add_argument("--drain-timeout", type=float, default=900.0, help="seconds to wait for the runs")
        parser.add_argument(
            "--keep", type=Path, default=None, help="folder for the logs (default: a temporary one)"
        )

    def handle(self, *args, minutes: float, seed: int, gateway: str, **options) -> None:
        if gateway == "kannel" and not _kannel_installed():
            raise CommandError("Kannel is not installed (scripts/kannel/install.sh); or --gateway simulated")
        if minutes <= 0:
            raise CommandError("--minutes must be positive")
        soak = Soak(
            Options(
                minutes=minutes, seed=seed, gateway=gateway, clusters=options["clusters"],
                q_workers=options["q_workers"], dispatch_rate=options["dispatch_rate"],
                max_gap=options["max_gap"], drain_timeout=options["drain_timeout"], keep=options["keep"],
            ),
            out=self.stdout,
        )  # fmt: skip
        if not soak.run():
            raise SystemExit(1)
