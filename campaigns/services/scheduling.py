"""What the campaign page confirms before it acts.

Scheduling spends parts and sends to customers, so it is never one click: the merchant first
sees a confirmation (``campaign_schedule_check``: the dry run taken at the real send time, the
recipients after suppression per reason, the parts, the balance after, when it really goes out
and when capped recipients become sendable again), and the confirming POST carries those
figures, signed. ``campaign_schedule_confirmed`` takes the dry run again under the campaign's
row lock and refuses, saying what changed, when the figures the merchant saw are stale.
Cancelling and stopping show what they release first (``campaign_cancel_preview``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from campaigns.gateways import DEFAULT_GATEWAY
from campaigns.gateways.console import ConsoleGateway
from campaigns.gateways.simulated import SimulatedGateway
from campaigns.models.sending import Campaign, CampaignRun, Message
from campaigns.services.campaigns import (
    MAX_SCHEDULE_AHEAD,
    NO_SIGNATURE,
    CampaignInvalid,
    CampaignStateError,
    DryRun,
    campaign_dry_run,
    campaign_schedule,
    campaign_source_text,
    shop_sms_state,
)
from campaigns.services.frequency import LOCAL_TZ, next_send_window
from smsmarketing.errors import SmsError
from smsmarketing.models import SmsAccount
from smsmarketing.permissions import Capability, require_capability
from smsmarketing.services import shop_ensure_sms_allowed

FIGURES_SALT = "campaigns.schedule.figures"
# A confirmation left open longer than this is taken again (the figures are re-checked anyway).
FIGURES_MAX_AGE = timedelta(hours=2)
# "Now" may take a moment to be confirmed: a chosen time this far in the past still means now.
PAST_TOLERANCE = timedelta(minutes=1)


class CampaignFiguresStale(SmsError):
    rule = "CAMPAIGN-FIGURES-STALE"


@dataclass(frozen=True)
class SendableAgain:
    reason: str  # the cap's rule id
    at: datetime  # the first moment they may be sent to again (the window of that day opening)
    count: int


@dataclass(frozen=True)
class ScheduleCheck:
    """The confirmation of a schedule: the dry run at the real send time, and its signed figures."""

    campaign: Campaign
    dry: DryRun
    requested: datetime | None  # the time chosen; None: now
    figures: dict
    token: str

    @property
    def send_at(self) -> datetime:
        return timezone.localtime(self.dry.at)

    @property
    def deferred(self) -> bool:
        """The chosen time is in the quiet hours: it goes out when the window opens."""
        now = timezone.now()
        return self.dry.at - max(self.requested or now, now) > PAST_TOLERANCE

    @property
    def daily(self) -> bool:
        return self.campaign.kind == Campaign.Kind.REPURCHASE

    @property
    def sendable_again(self) -> list[SendableAgain]:
        return sendable_again(self.dry)


def sendable_again(dry: DryRun) -> list[SendableAgain]:
    """When the recipients a cap refuses may be sent to again: the day their counts leave the
    cap's window, at the opening of that day's marketing window (08:00), earliest first."""
    return [
        SendableAgain(reason, next_send_window(datetime.combine(day, time.min, tzinfo=LOCAL_TZ)), n)
        for (reason, day), n in sorted(dry.sendable_again.items(), key=lambda item: (item[0][1], item[0][0]))
    ]


def _content_digest(campaign: Campaign) -> str:
    """What the figures were taken for: the content and the audience's definition."""
    parts = [
        campaign_source_text(campaign=campaign),
        campaign.segment_id,
        campaign.coupon_id,
        campaign.template_id,
        ",".join(campaign.products or []),
        campaign.days_since_purchase,
        # Holdout and A/B test: who is sent what.
        campaign.holdout_percent,
        campaign.ab_test_percent,
        campaign.ab_test_hours,
        str(campaign.ab_metric),  # a new instance holds the enum member, a loaded one its value
        list(campaign.variants.order_by("position").values_list("name", "text", "template_id")),
    ]
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def _figures(*, campaign: Campaign, dry: DryRun, requested: datetime | None) -> dict:
    now = timezone.now()
    deferred = dry.at - max(requested or now, now) > PAST_TOLERANCE
    # "Now" (or a time that has just passed) is not a figure that goes stale by the minute.
    when = "now" if (requested is None or requested <= now) and not deferred else send_time_label(dry.at)
    return {
        "campaign": campaign.pk,
        "when": when,
        "content": _content_digest(campaign),
        "recipients": dry.recipients,
        "sendable": dry.sendable,
        "suppressed": sorted([reason, n] for reason, n in dry.suppressed.items()),
        "parts": dry.parts,
        "holdout": dry.holdout,
        "balance": dry.balance,
        "coupons": dry.coupons_left,
        "rules": dry.ruleset,
    }


def _check_time(*, at: datetime | None, now: datetime) -> None:
    if at is not None and at < now - PAST_TOLERANCE:
        raise CampaignInvalid(_("发送时间不能早于现在。"))
    if at is not None and at > now + MAX_SCHEDULE_AHEAD:
        raise CampaignInvalid(_("发送时间不能晚于 {days} 天以后。").format(days=MAX_SCHEDULE_AHEAD.days))


def campaign_schedule_check(*, campaign: Campaign, at: datetime | None = None) -> ScheduleCheck:
    """The confirmation of scheduling ``campaign`` at ``at`` (None: now), with the same refusals
    as ``campaign_schedule``: what the merchant confirms is what will be scheduled."""
    shop_ensure_sms_allowed(shop=campaign.shop)
    now = timezone.now()
    _check_time(at=at, now=now)
    if campaign.status != Campaign.Status.DRAFT:
        raise CampaignStateError(_("只有草稿状态的任务可以排期。"))
    state = shop_sms_state(shop=campaign.shop, campaign=campaign)
    if state.reason == NO_SIGNATURE:
        raise CampaignInvalid(_("店铺还没有审核通过的短信签名，无法发送。"))
    if state.reason:
        raise CampaignInvalid(_("当前无法发送（{reason}）。").format(reason=state.reason))
    if not SmsAccount.objects.filter(shop=campaign.shop, status=SmsAccount.Status.ACTIVE).exists():
        raise CampaignInvalid(_("短信服务尚未开通，请先在“短信账户”页开通。"))
    dry = campaign_dry_run(campaign=campaign, at=max(at, now) if at else None)
    figures = _figures(campaign=campaign, dry=dry, requested=at)
    token = signing.dumps(figures, salt=FIGURES_SALT, compress=True)
    return ScheduleCheck(campaign=campaign, dry=dry, requested=at, figures=figures, token=token)


def _changes(seen: dict, now: dict) -> list[str]:
    """What differs between the figures the merchant confirmed and the figures now, in Chinese."""

    def moved(key: str, text: str) -> None:
        if seen.get(key) != now[key]:
            changes.append(text.format(a=f"{seen.get(key) or 0:,}", b=f"{now[key] or 0:,}"))

    changes: list[str] = []
    if seen.get("content") != now["content"]:
        changes.append(_("短信内容或目标人群的设置已修改"))
    moved("recipients", _("目标客户从 {a} 人变为 {b} 人"))
    moved("sendable", _("可发送从 {a} 人变为 {b} 人"))
    if seen.get("sendable") == now["sendable"] and seen.get("suppressed") != now["suppressed"]:
        changes.append(_("被过滤的原因和人数有变化"))
    moved("holdout", _("对照组从 {a} 人变为 {b} 人"))
    moved("parts", _("需要条数从 {a} 条变为 {b} 条"))
    moved("balance", _("当前余量从 {a} 条变为 {b} 条"))
    moved("coupons", _("剩余优惠券从 {a} 张变为 {b} 张"))
    if seen.get("rules") != now["rules"]:
        changes.append(_("频次规则已更新"))
    if seen.get("when") != now["when"]:
        changes.append(_("实际发送时间有变化"))
    return changes


def campaign_schedule_confirmed(
    *, campaign: Campaign, user, at: datetime | None, figures: str
) -> tuple[Campaign, ScheduleCheck]:
    """Schedule ``campaign`` as the merchant confirmed it: ``figures`` is the token of the
    confirmation she saw. The dry run is taken again; stale figures are refused (nothing is
    scheduled) with what changed, so she checks the new ones and confirms again."""
    require_capability(shop=campaign.shop_id, user=user, capability=Capability.OPERATE)
    try:
        seen = signing.loads(figures, salt=FIGURES_SALT, max_age=FIGURES_MAX_AGE)
    except signing.BadSignature as exc:
        # SignatureExpired is a BadSignature: an old confirmation is taken again, like a forged one.
        raise CampaignFiguresStale(_("确认信息已过期或无效，请重新试算并确认。")) from exc
    if not isinstance(seen, dict) or seen.get("campaign") != campaign.pk:
        raise CampaignFiguresStale(_("确认信息不属于这个任务，请重新试算并确认。"))
    with transaction.atomic():
        # Race: the same confirmation posted twice (a double click, two tabs). The row lock
        # orders them; the second finds the campaign scheduled and is refused.
        locked = Campaign.objects.select_for_update().select_related("shop__category").get(pk=campaign.pk)
        locked.shop = campaign.shop
        check = campaign_schedule_check(campaign=locked, at=at)
        changes = _changes(seen, check.figures)
        if changes:
            raise CampaignFiguresStale(
                _("试算结果已变化：{changes}。请核对新的试算结果后再确认。").format(changes="；".join(changes))
            )
        if not check.dry.sendable:
            raise CampaignInvalid(_("按当前试算没有可发送的客户，任务未排期。"))
        scheduled = campaign_schedule(campaign=locked, user=user, at=at)
    return scheduled, check


def send_time_label(at: datetime) -> str:
    """A local time as the portal says it: 2026-12-08 08:00."""
    return date_format(timezone.localtime(at), "Y-m-d H:i")


# --- cancel and stop ---------------------------------------------------------------------


@dataclass(frozen=True)
class ReleasePreview:
    """What cancelling or stopping a campaign does to what it holds."""

    campaign: Campaign
    waiting: int  # messages planned and not handed to the gateway yet
    reserved_parts: int  # parts reserved and not settled (waiting, or sent and awaiting reports)
    test_runs: int  # test SMS already sent (kept, and charged as any message)

    @property
    def send_at(self) -> datetime | None:
        if self.campaign.scheduled_at is None:
            return None
        return timezone.localtime(next_send_window(self.campaign.scheduled_at))


def campaign_release_preview(*, campaign: Campaign) -> ReleasePreview:
    """What the audience runs of ``campaign`` hold now: one grouped query."""
    held = Message.objects.filter(
        campaign=campaign, run__kind=CampaignRun.Kind.AUDIENCE, settlement=Message.Settlement.PENDING
    ).aggregate(
        waiting=Count("id", filter=Q(status=Message.Status.PLANNED)),
        parts=Sum("parts"),
    )
    tests = CampaignRun.objects.filter(campaign=campaign, kind=CampaignRun.Kind.TEST).count()
    return ReleasePreview(
        campaign=campaign, waiting=held["waiting"] or 0, reserved_parts=held["parts"] or 0, test_runs=tests
    )


# --- test phones -------------------------------------------------------------------------


DEMO_GATEWAYS = (SimulatedGateway, ConsoleGateway)


def verification_code_shown() -> bool:
    """Whether the portal shows a test phone's verification code on the page.

    Only when no SMS leaves the machine (the simulated or the console gateway) AND in
    development or a demo (``DEBUG`` or ``SMS_DEMO``): there the code reaches no phone, and a
    demo could not finish the verification otherwise. Never with a real gateway, never in
    production settings."""
    config = getattr(settings, "SMS_GATEWAY", DEFAULT_GATEWAY)
    backend = import_string(config["BACKEND"])
    demo = bool(settings.DEBUG or getattr(settings, "SMS_DEMO", False))
    return demo and isinstance(backend, type) and issubclass(backend, DEMO_GATEWAYS)
