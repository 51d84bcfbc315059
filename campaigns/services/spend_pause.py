"""Runs paused by a spending limit (消费上限, docs/SPEND_LIMITS.md): resume, by the owner or at
the next period.

A planning batch that meets the limit suppresses the recipients beyond it as ``SPEND-LIMIT``
and marks the run ``spend_paused`` (``campaigns.services.planning``): no more batches are
claimed, what was reserved is sent, and the run then waits ``paused``. Resuming
(``run_spend_resume``) plans the held-back recipients **again**: one new planning batch per
batch that has SPEND-LIMIT rows, over the same key range, whose planner deletes those rows and
plans just their recipients (``PlanBatch.replans``), then the run claims the rest of its
audience as before. So nobody is lost, nobody is sent twice (the unique (run, phone) index).

Automatic resume: ``spend_paused_runs_resume_due`` (schedule
``campaigns-resume-spend-paused-runs``, every minute) resumes every paused run whose period
has ended (``spend_resume_at``, local midnight of the next day or month). The owner may resume
before, after raising the cap (``campaign_resume``, Capability.BILLING).
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_q.tasks import async_task

from campaigns.models.sending import Campaign, CampaignRun, Message, PlanBatch
from campaigns.services.campaigns import RUN_TASK, CampaignStateError
from campaigns.services.planning import SPEND_LIMIT
from smsmarketing.errors import SpendLimitReached
from smsmarketing.models import SmsAccount
from smsmarketing.permissions import Capability, require_capability
from smsmarketing.services.spend_limits import DAY, period_label, spend_limit_state

logger = logging.getLogger(__name__)

PAUSABLE = CampaignRun.SPEND_PAUSABLE


def paused_run(*, campaign: Campaign) -> CampaignRun | None:
    """The campaign's run a spending limit paused (the newest), or None."""
    return (
        campaign.runs.exclude(spend_paused="").filter(status__in=PAUSABLE).order_by("-pk").first()
    )


def run_spend_resume(*, run_id: int, now: datetime | None = None) -> bool:
    """Resume a run a spending limit paused: re-plan its SPEND-LIMIT rows, then the rest.

    True when it was paused and is planning again (its task enqueued on commit); False when
    there was nothing to resume (resumed already, or not paused)."""
    now = now or timezone.now()
    with transaction.atomic():
        # Lock order everywhere: campaign, then run. Race: the owner's button and the minute
        # schedule resuming at once; the second finds spend_paused cleared and does nothing.
        campaign_id = CampaignRun.objects.values_list("campaign_id", flat=True).get(pk=run_id)
        Campaign.objects.select_for_update().get(pk=campaign_id)
        run = CampaignRun.objects.select_for_update().get(pk=run_id)
        if not run.spend_paused or run.status not in PAUSABLE:
            return False
        held = sorted(
            set(
                Message.objects.filter(
                    run_id=run.pk, status=Message.Status.SUPPRESSED, reason=SPEND_LIMIT
                ).values_list("batch", flat=True)
            )
        )
        number = run.batches_planned
        for batch in PlanBatch.objects.filter(run_id=run.pk, number__in=held).order_by("number"):
            number += 1
            PlanBatch.objects.create(
                run_id=run.pk, number=number, after_key=batch.after_key, upto_key=batch.upto_key,
                replans=batch.number,
            )
        period = run.spend_paused
        run.batches_planned = number
        run.spend_paused, run.spend_resume_at = "", None
        run.status = CampaignRun.Status.PLANNING
        run.save(update_fields=["batches_planned", "spend_paused", "spend_resume_at", "status"])
        transaction.on_commit(lambda: async_task(RUN_TASK, run_id))
    logger.info(
        "run %s: resumed after the %s spending limit, %d batch(es) to re-plan", run_id, period, len(held)
    )
    return True


def campaign_resume(*, campaign: Campaign, user) -> CampaignRun:
    """The owner's 继续发送: resume the campaign's run a spending limit paused, now.

    Owner only (``Capability.BILLING``: it spends). Refused while the cap that paused it has
    nothing left (raise the cap first, or wait: the run resumes by itself at the next period)."""
    require_capability(shop=campaign.shop_id, user=user, capability=Capability.BILLING)
    run = paused_run(campaign=campaign)
    if run is None:
        raise CampaignStateError(_("任务未因消费上限暂停，无需继续。"))
    account_id = SmsAccount.objects.filter(shop_id=campaign.shop_id).values_list("pk", flat=True).first()
    state = spend_limit_state(account_id=account_id) if account_id else None
    if state is not None and state.left == 0:
        period = state.binding or DAY
        raise SpendLimitReached(
            _("{period}消费上限已用完，请先在“短信账户”页提高上限；否则任务将在下一周期自动继续。").format(
                period=period_label(period)
            ),
            period=period,
        )
    run_spend_resume(run_id=run.pk)
    run.refresh_from_db()
    return run


def spend_paused_runs_resume_due(*, now: datetime | None = None) -> int:
    """Every minute: resume the paused runs whose spending-limit period has ended; how many."""
    now = now or timezone.now()
    due = CampaignRun.objects.exclude(spend_paused="").filter(
        spend_resume_at__lte=now, status__in=PAUSABLE
    ).values_list("pk", flat=True)
    return sum(run_spend_resume(run_id=run_id, now=now) for run_id in list(due))
