"""The send pipeline's numbers: ``settings.SMS_PIPELINE``, with these defaults.

Shared by planning and dispatch (``campaigns.services.planning``, ``.sending``).
"""

from __future__ import annotations

from django.conf import settings

DEFAULTS = {
    "TASK_TIME_BUDGET": 45,  # seconds a run task works before re-enqueueing itself (< Q timeout, 60)
    "DISPATCH_RATE": 100,  # messages per second handed to the gateway, per worker (0: unbounded)
    "DISPATCH_BATCH": 100,  # messages per gateway call
    "MAX_ATTEMPTS": 5,  # gateway tries before a retryable failure becomes final
    "RETRY_BACKOFF": 60,  # seconds, doubled per attempt
    # Batches claimed and not yet recorded, with a gateway that overlaps (Kannel): the
    # next batch is claimed while one is on the wire. 1 = claim, send, record in turn.
    "DISPATCH_WINDOW": 2,
    # Planners of one run at once: the run task and PLAN_WORKERS - 1 helper tasks
    # (campaigns.tasks.plan_run_part). Planning is CPU-bound; 2 uses both cores of a
    # 2-core server. Keep it at most the django-q2 cluster's workers.
    "PLAN_WORKERS": 2,
    # Recipients per planning batch. Performance (docs/PERFORMANCE.md): a batch costs about
    # 25 ms of Python and a few ms of PostgreSQL whatever its size (its transactions, the run,
    # the rules, the reservation), so bigger batches cost less per recipient: 5,000 took 72 us
    # of CPU per recipient, 1,000 took 102 us.
    "PLAN_BATCH": 5000,
    # The crash tests' hooks (CAMPAIGNS_CRASH_AFTER_* in the environment): 0 = never.
    "CRASH_AFTER_PLAN_BATCHES": 0,
    "CRASH_AFTER_DISPATCH_BATCHES": 0,
}


def pipeline_setting(name: str):
    return getattr(settings, "SMS_PIPELINE", {}).get(name, DEFAULTS[name])
