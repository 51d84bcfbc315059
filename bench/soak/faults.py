"""The soak's faults: one every 20-60 s (seeded), each followed by the restart of what it broke.

Kinds:

- ``kill-cluster``: kill -9 a whole django-q2 cluster (every process of its group), then start a
  new one, as an operator would;
- ``kill-worker``: kill -9 one process under a cluster's sentinel (a worker, the monitor or the
  pusher); the sentinel starts a new one;
- ``term-gunicorn``: SIGTERM gunicorn (a graceful stop), then start it again;
- ``restart-kannel``: scripts/kannel/stop.sh, then start.sh (Kannel only);
- ``restart-smsc``: stop the SMPP simulator (gracefully: unbind) and start it 2-5 s later (Kannel only);
- ``terminate-sessions``: ``pg_terminate_backend`` of every database session of the app;
- ``replay-reports``: send a batch of delivery reports again (final ones, then an intermediate
  one after them, out of order), through the app's callback endpoint; they must change nothing.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from django.db import connection
from django.utils import timezone

from bench.soak.stack import APP_NAME, Stack
from campaigns.gateways.kannel import DLR_ACCEPTED, DLR_DELIVERED, DLR_FAILED, dlr_url
from campaigns.models import CampaignRun, Message

KINDS = (
    "kill-cluster",
    "kill-worker",
    "term-gunicorn",
    "restart-kannel",
    "restart-smsc",
    "terminate-sessions",
    "replay-reports",
)
KANNEL_ONLY = {"restart-kannel", "restart-smsc"}
FAULT_EVERY = (20.0, 60.0)  # seconds between two faults, drawn uniformly
REPLAY_BATCH = 50
FINAL_TYPE = {"delivered": DLR_DELIVERED, "failed": DLR_FAILED}


@dataclass
class Fault:
    kind: str
    at: datetime  # when it was injected (the soak's clock, as the app's rows)
    backlog: int  # messages planned and due, and runs planning, at that moment: work to resume
    detail: str = ""
    recovered_in: float | None = None  # seconds until it was restarted (what the soak waited for)


@dataclass
class Replayed:
    """The messages whose reports were replayed, with their status before: it must not move."""

    before: dict[int, str] = field(default_factory=dict)
    sent: int = 0
    refused: int = 0  # the callback answered other than 200 (e.g. gunicorn restarting)


def fault_plan(*, rng: random.Random, seconds: float, kinds: list[str]) -> list[tuple[float, str]]:
    """(offset in seconds, kind) of every fault of a soak of ``seconds``, from the seed alone."""
    plan, at = [], rng.uniform(*FAULT_EVERY)
    while at < seconds:
        plan.append((at, rng.choice(kinds)))
        at += rng.uniform(*FAULT_EVERY)
    return plan


def backlog() -> int:
    now = timezone.now()
    due = Message.objects.filter(status=Message.Status.PLANNED).exclude(next_attempt_at__gt=now).count()
    return due + CampaignRun.objects.filter(status=CampaignRun.Status.PLANNING).count()


def inject(*, kind: str, stack: Stack, rng: random.Random, replayed: Replayed) -> Fault:
    fault = Fault(kind=kind, at=timezone.now(), backlog=backlog())
    started = time.monotonic()
    if kind == "kill-cluster":
        index = rng.randrange(len(stack.clusters))
        stack.kill_cluster(index)
        time.sleep(rng.uniform(1, 3))  # an operator notices and restarts it
        stack.start_cluster(index)
        fault.detail = f"cluster {index + 1}"
    elif kind == "kill-worker":
        index = rng.randrange(len(stack.clusters))
        victim = stack.kill_cluster_process(index, rng.choice)
        fault.detail = f"cluster {index + 1}, pid {victim}"
    elif kind == "term-gunicorn":
        stack.term_gunicorn()
        stack.start_gunicorn()
    elif kind == "restart-kannel":
        stack.stop_kannel()
        failed = stack.start_kannel()
        fault.detail = f"started after {failed} failed tries" if failed else ""
    elif kind == "restart-smsc":
        stack.smsc("stop")
        time.sleep(rng.uniform(2, 5))
        stack.smsc("start")
    elif kind == "terminate-sessions":
        fault.detail = f"{terminate_app_sessions()} sessions"
    elif kind == "replay-reports":
        fault.detail = replay_reports(stack=stack, rng=rng, replayed=replayed)
    fault.recovered_in = time.monotonic() - started
    return fault


def terminate_app_sessions() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
               WHERE datname = current_database() AND application_name = %s AND pid <> pg_backend_pid()""",
            [APP_NAME],
        )
        return cursor.fetchone()[0]


def replay_reports(*, stack: Stack, rng: random.Random, replayed: Replayed) -> str:
    """Replay the final report of up to ``REPLAY_BATCH`` messages already final, and after it an
    ``accepted`` report (out of order), through the app's Kannel callback, as Kannel retrying
    would; their status must stay what it was."""
    finals = list(
        Message.objects.filter(status__in=list(FINAL_TYPE))
        .order_by("-id")
        .values_list("id", "status")[: REPLAY_BATCH * 4]
    )
    chosen = rng.sample(finals, min(REPLAY_BATCH, len(finals)))
    with httpx.Client(timeout=10) as client:
        for message_id, status in chosen:
            replayed.before.setdefault(message_id, status)
            for dlr_type in (FINAL_TYPE[status], DLR_ACCEPTED):
                url = dlr_url(stack.app_url, message_id).replace("%d", str(dlr_type))
                for placeholder in ("%T", "%A", "%i", "%F", "%p"):
                    url = url.replace(placeholder, "")
                replayed.sent += 1
                try:
                    ok = client.get(url).status_code == 200
                except httpx.HTTPError:
                    ok = False
                replayed.refused += not ok
    return f"{len(chosen)} messages"
