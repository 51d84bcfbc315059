"""Holdout groups and A/B variants: who of a campaign's audience is held out, who gets which
variant, and the merchant's settings for both (docs/RESULTS.md, "Holdout groups and A/B tests").

**The draw.** Every recipient gets one number ``u`` in [0, 1) from a keyed hash of the phone
with the campaign's ``seed`` (BLAKE2b, the seed as its key). It depends on nothing else, so it
is the same in every planner, every batch, a re-planned batch after a crash, the dry run and
both runs of an A/B test. The audience is cut along ``u``:

- ``u < holdout_percent / 100``: the holdout (drawn first, over everyone);
- the rest, rescaled to ``v`` in [0, 1): with variants, ``v < ab_test_percent / 100`` is the
  test share, split evenly into the variants by ``v`` (variant ``floor(v / share × k)``);
- everyone else is "the rest", who get the winner once the test ends.

**Fairness.** The draw is taken over the whole audience, but a drawn recipient is labelled
``holdout`` only if they would otherwise have been sent: the same frequency decision (opt-outs,
invalid phones, caps) is taken for them without counting (``frequency_decide(commit=False)``),
and one it refuses gets a ``suppressed`` row with the reason, as in the sent group. Both groups
are therefore the recipients the campaign could reach, split by a draw independent of them.
The balance is not a reason for the holdout (a held-out recipient costs nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_q.tasks import async_task

from campaigns.models.sending import AbMetric, Campaign, CampaignRun, CampaignVariant, Message
from campaigns.selectors import Recipient
from campaigns.services.campaigns import (
    AB_KINDS,
    RUN_TASK,
    CampaignInvalid,
    CampaignStateError,
    campaign_seed_ensure,
    variant_check,
)
from campaigns.services.draws import HELD, MIN_VARIANTS, REST, Cut
from campaigns.sqlarrays import sql_text_array
from smsmarketing.errors import SmsError
from smsmarketing.permissions import Capability, require_capability
from smsmarketing.services import shop_ensure_sms_allowed

VARIANT_NAMES = "ABCDE"
MAX_VARIANTS = len(VARIANT_NAMES)  # at least MIN_VARIANTS
MAX_HOLDOUT_PERCENT = 50
WON_BY_METRIC = "metric"
WON_BY_MERCHANT = "merchant"


class AbTestDecided(SmsError):
    rule = "AB-TEST-DECIDED"


@dataclass
class RunSplit:
    """One planning batch of a run cut by the draw: ``sent`` (with ``variant_of`` each one's
    variant, or None), ``held`` (drawn into the holdout); everyone else is not this run's."""

    sent: list[Recipient]
    held: list[Recipient]
    variant_of: dict[str, CampaignVariant]


def run_split(*, run: CampaignRun, recipients: list[Recipient]) -> RunSplit | None:
    """Cut a batch of a run's recipients; None for a run that is not cut (no holdout, no variants,
    or a test SMS): every recipient is sent the campaign's content, as before.

    - a single run: held out, or sent the campaign's content;
    - the test run (``ab_test``): held out, or sent their variant; the rest are left out;
    - the winner run (``ab_winner``): the rest are sent the winner; the test share is left out,
      and so is every phone with a message in the test run (whatever its draw: never a second
      variant to anyone); a held-out draw with no row yet (a customer added since) is held out.
    """
    campaign = run.campaign
    phase = run.phase
    if run.kind == CampaignRun.Kind.TEST:
        return None
    if phase == CampaignRun.Phase.SINGLE and not campaign.holdout_percent:
        return None
    variants = list(campaign.variants.order_by("position")) if phase else []
    winner = next((v for v in variants if v.won_at is not None), None)
    if phase == CampaignRun.Phase.AB_WINNER and winner is None:
        raise RuntimeError(f"run {run.pk}: a winner run of a campaign without a winner")
    taken = set()
    if phase == CampaignRun.Phase.AB_WINNER:
        taken = _phones_in_test_run(campaign=campaign, recipients=recipients)
    split = RunSplit(sent=[], held=[], variant_of={})
    cut = Cut(campaign=campaign, variants=len(variants))
    for recipient in recipients:
        if recipient.phone in taken:
            continue
        where = cut.of(recipient.phone)
        if where == HELD:
            split.held.append(recipient)
        elif phase == CampaignRun.Phase.SINGLE:
            split.sent.append(recipient)
        elif phase == CampaignRun.Phase.AB_TEST and where >= 0:
            split.sent.append(recipient)
            split.variant_of[recipient.phone] = variants[where]
        elif phase == CampaignRun.Phase.AB_WINNER and where == REST:
            split.sent.append(recipient)
            split.variant_of[recipient.phone] = winner
    return split


def _phones_in_test_run(*, campaign: Campaign, recipients: list[Recipient]) -> set[str]:
    """The batch's phones with a message (any status) in the campaign's test run: one statement
    on the unique (run, phone) index."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT m.phone FROM {Message._meta.db_table} m
                JOIN {CampaignRun._meta.db_table} r ON r.id = m.run_id
                WHERE r.campaign_id = %s AND r.phase = %s AND m.phone = ANY(%s::varchar[])""",
            [campaign.pk, CampaignRun.Phase.AB_TEST, sql_text_array(r.phone for r in recipients)],
        )
        return {row[0] for row in cursor.fetchall()}


# --- the merchant's settings --------------------------------------------------------------------


@dataclass(frozen=True)
class VariantInput:
    """One variant as the merchant gives it: its own text, or an approved template."""

    text: str = ""
    template: object | None = None  # a reviews.MessageTemplate


def _locked_draft(campaign: Campaign) -> Campaign:
    # Race: a change saved while the same draft is scheduled in another tab; the row lock orders
    # them, and the change re-reads the state after the schedule committed.
    locked = Campaign.objects.select_for_update().select_related("shop").get(pk=campaign.pk)
    if locked.status != Campaign.Status.DRAFT:
        raise CampaignStateError(_("只有草稿可以修改；已排期或已发送的任务请复制为新任务后再修改。"))
    return locked


def campaign_holdout_set(*, campaign: Campaign, user, percent: int) -> Campaign:
    """Set the share of the audience held out (0–50 %) on a draft."""
    require_capability(shop=campaign.shop_id, user=user, capability=Capability.OPERATE)
    shop_ensure_sms_allowed(shop=campaign.shop)
    if not isinstance(percent, int) or not 0 <= percent <= MAX_HOLDOUT_PERCENT:
        raise CampaignInvalid(_("对照组比例应为 0–{max}% 之间的整数。").format(max=MAX_HOLDOUT_PERCENT))
    with transaction.atomic():
        locked = _locked_draft(campaign)
        locked.holdout_percent = percent
        campaign_seed_ensure(locked)
        locked.save(update_fields=["holdout_percent", "seed"])
    return locked


def campaign_variants_set(
    *,
    campaign: Campaign,
    user,
    variants: Sequence[VariantInput],
    test_percent: int | None = None,
    test_hours: int | None = None,
    metric: str | None = None,
) -> list[CampaignVariant]:
    """Replace a draft's A/B variants (2–5, named A, B, … in the order given; none: no A/B test)
    and, when given, its test settings. Each variant is checked like the campaign's own content;
    nothing is written unless every one passes."""
    require_capability(shop=campaign.shop_id, user=user, capability=Capability.OPERATE)
    shop_ensure_sms_allowed(shop=campaign.shop)
    if variants and campaign.kind not in AB_KINDS:
        raise CampaignInvalid(_("只有短信营销和定向优惠券任务可以做 A/B 测试。"))
    if variants and not MIN_VARIANTS <= len(variants) <= MAX_VARIANTS:
        raise CampaignInvalid(
            _("A/B 测试需要 {min}–{max} 个版本。").format(min=MIN_VARIANTS, max=MAX_VARIANTS)
        )
    with transaction.atomic():
        locked = _locked_draft(campaign)
        if test_percent is not None:
            if not isinstance(test_percent, int) or not 2 <= test_percent <= 100:
                raise CampaignInvalid(_("测试人群比例应为 2–100% 之间的整数。"))
            locked.ab_test_percent = test_percent
        if test_hours is not None:
            if not isinstance(test_hours, int) or not 1 <= test_hours <= 168:
                raise CampaignInvalid(_("测试时长应为 1–168 小时之间的整数。"))
            locked.ab_test_hours = test_hours
        if metric is not None:
            if metric not in AbMetric.values:
                raise CampaignInvalid(_("胜出指标只能是独立点击率或归因下单率。"))
            locked.ab_metric = metric
        rows = [
            CampaignVariant(
                campaign=locked,
                name=VARIANT_NAMES[position],
                position=position,
                text=(given.text or "").strip(),
                template=given.template,
            )
            for position, given in enumerate(variants)
        ]
        for row in rows:
            variant_check(campaign=locked, variant=row)
        CampaignVariant.objects.filter(campaign=locked).delete()
        CampaignVariant.objects.bulk_create(rows)
        campaign_seed_ensure(locked)
        locked.save(update_fields=["ab_test_percent", "ab_test_hours", "ab_metric", "seed"])
    return rows


# --- the winner ----------------------------------------------------------------------------------


def ab_winner_mark(*, campaign_id: int, variant_id: int, by: str, now: datetime | None = None) -> CampaignRun:
    """Mark the test's winner and start the winner run, which sends it to the rest of the audience
    (under the same quiet hours, caps and balance rules as any run). Raises ``AbTestDecided``
    when a winner is marked already.

    Race: the merchant's pick and the test's automatic end at once. Both lock the campaign row
    first, so they run one after the other and the second finds the winner; the conditional
    UPDATE (only a variant not yet won) and the partial unique constraint (one winner per
    campaign) refuse a second winner even without the lock."""
    now = now or timezone.now()
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        if campaign.status != Campaign.Status.RUNNING:
            raise CampaignStateError(_("只有发送中的 A/B 测试可以选择胜出版本。"))
        if not CampaignRun.objects.filter(campaign=campaign, phase=CampaignRun.Phase.AB_TEST).exists():
            raise CampaignStateError(_("这个任务没有 A/B 测试。"))
        try:
            with transaction.atomic():
                marked = CampaignVariant.objects.filter(
                    pk=variant_id, campaign=campaign, won_at__isnull=True
                ).update(won_at=now, won_by=by)
        except IntegrityError:
            marked = 0  # another variant won (campaignvariant_one_winner)
        if not marked:
            raise AbTestDecided(_("A/B 测试已结束，胜出版本已确定。"))
        run = CampaignRun.objects.create(campaign=campaign, phase=CampaignRun.Phase.AB_WINNER)
        transaction.on_commit(lambda: async_task(RUN_TASK, run.pk))
    return run


def ab_winner_pick(*, campaign: Campaign, user, variant: CampaignVariant) -> CampaignRun:
    """The merchant picks the winner before the test's end: it goes to the rest now."""
    require_capability(shop=campaign.shop_id, user=user, capability=Capability.OPERATE)
    shop_ensure_sms_allowed(shop=campaign.shop)
    if variant.campaign_id != campaign.pk:
        raise CampaignInvalid(_("所选版本不属于这个任务。"))
    return ab_winner_mark(campaign_id=campaign.pk, variant_id=variant.pk, by=WON_BY_MERCHANT)
