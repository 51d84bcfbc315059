"""Campaigns: creating, scheduling, cancelling, stopping, the dry run, and message content.

Every write calls ``shop_ensure_sms_allowed`` first. Scheduling uses django-q2:
a one-off ``Schedule`` (ONCE) at the chosen time for marketing and coupon
campaigns, a DAILY one for repurchase reminders; "now" enqueues the run task
when the transaction commits.
"""

from __future__ import annotations

import copy
import hashlib
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django_q.models import Schedule
from django_q.tasks import async_task

from campaigns.gateways import get_gateway
from campaigns.gateways.base import OutboundSms
from campaigns.models.audience import Coupon, Segment
from campaigns.models.frequency import MessageClass
from campaigns.models.sending import Campaign, CampaignRun, VerifiedPhone
from campaigns.phones import normalize_phone
from campaigns.selectors import Recipient, run_recipients_after
from campaigns.services.draws import HELD, MIN_VARIANTS, REST, Cut
from campaigns.services.frequency import (
    frequency_decide,
    frequency_sendable_again,
    in_quiet_hours,
    next_send_window,
)
from reviews.policy.checker import check_content
from reviews.policy.length import count_parts, full_message
from reviews.policy.variables import VariableMissing, render
from reviews.selectors import live_signature, usable_templates
from smsmarketing.errors import SmsError
from smsmarketing.models import Shop, SmsAccount
from smsmarketing.permissions import Capability, require_capability
from smsmarketing.security import rate_limit_hit
from smsmarketing.services import shop_ensure_sms_allowed
from smsmarketing.services.spend_limits import SpendLimitState, spend_limit_state

NO_SIGNATURE = "NO-SIGNATURE"
SHOP_INACTIVE = "SHOP-INACTIVE"
CATEGORY_RESTRICTED = "CATEGORY-RESTRICTED"
TEMPLATE_NOT_APPROVED = "TEMPLATE-NOT-APPROVED"
RUN_TASK = "campaigns.tasks.run_campaign"
REPURCHASE_TASK = "campaigns.tasks.repurchase_daily"
# A dry run / preview fills the per-message short link with a code of this shape (as long as a
# real code, so the parts counted are the real message's).
PREVIEW_LINK_CODE = "AbCdEf1234"
DRY_RUN_BATCH = 2000
FREQ_PREFIX = "FREQ-"  # the reason ids of the frequency caps
# How far ahead a send may be scheduled: a date in 2999 is a typo.
MAX_SCHEDULE_AHEAD = timedelta(days=90)


class CampaignInvalid(SmsError):
    rule = "CAMPAIGN-INVALID"


class CampaignContentRejected(SmsError):
    rule = "CAMPAIGN-CONTENT"

    def __init__(self, message: str, *, findings=()) -> None:
        super().__init__(message)
        self.findings = list(findings)


class CampaignStateError(SmsError):
    rule = "CAMPAIGN-STATE"


# A repurchase reminder with both a template and typed text: one of them would be dropped.
TEMPLATE_AND_TEXT = _lazy(
    "已选择模板时将发送模板的内容，不能同时填写短信内容：请清空“短信内容”，或把模板改为“不使用模板，自己填写”。"
)


@dataclass(frozen=True)
class SmsState:
    signature: str | None
    reason: str = ""  # why nothing may be sent now ("" when sending is allowed)


# --- content ------------------------------------------------------------------


def short_link(code: str) -> str:
    return f"{settings.SMS_SHORT_LINK_BASE.rstrip('/')}/{code}"


def campaign_source_text(*, campaign: Campaign) -> str:
    """The body as written: the template's text, else the campaign's own text."""
    if campaign.template_id:
        return campaign.template.text
    return campaign.text


def _money(value) -> str:
    """20 → "20", 19.90 → "19.9" (values may be ints or Decimals before a save)."""
    return f"{Decimal(str(value)).normalize():f}"


def campaign_values(*, campaign: Campaign, name: str, link_code: str | None) -> dict[str, str]:
    """The variable values of one recipient, filled from real data at send time.

    Names are the ``TemplateVariable`` rows of the reviews app; ``name`` (the
    customer's) is kept for a future variable and unused by the seeded ones.
    """
    shop = campaign.shop
    # Every link of a message is that message's own code (campaigns.services.links): it leads
    # to the coupon's landing page, else the shop's.
    link = short_link(link_code or PREVIEW_LINK_CODE)
    values = {"shop_name": shop.name[:20], "shop_link": link}
    coupon = campaign.coupon
    if coupon is not None:
        values.update(
            coupon_amount=_("{amount}元").format(amount=_money(coupon.amount)),
            coupon_threshold=(
                _("满{threshold}元可用").format(threshold=_money(coupon.threshold))
                if coupon.threshold > 0
                else _("无门槛")
            ),
            coupon_expiry=timezone.localtime(coupon.valid_until).strftime("%m月%d日%H:%M"),
            coupon_link=link,
        )
    if campaign.products:
        values["product_name"] = campaign.products[0][:20]
    return values


def message_for(
    *, campaign: Campaign, recipient: Recipient, signature: str | None, link_code: str | None
) -> tuple[str, int]:
    """A recipient's body (variables filled) and the parts of the full message with ``signature``."""
    body = render(
        text=campaign_source_text(campaign=campaign),
        values=campaign_values(campaign=campaign, name=recipient.name, link_code=link_code),
    )
    return body, parts_of(signature=signature, body=body)


def full_text(*, signature: str, body: str) -> str:
    return full_message(signature=signature, body=body, message_class=MessageClass.MARKETING)


def parts_of(*, signature: str | None, body: str) -> int:
    return count_parts(len(full_text(signature=signature or "", body=body)))


def shop_sms_state(*, shop: Shop, campaign: Campaign | None = None) -> SmsState:
    """Whether the shop may send now, and the signature live right now."""
    if shop.sms_restricted:
        return SmsState(None, CATEGORY_RESTRICTED)
    if not shop.active:
        return SmsState(None, SHOP_INACTIVE)
    signature = live_signature(shop=shop)
    if signature is None:
        return SmsState(None, NO_SIGNATURE)
    if campaign is not None and campaign.template_id and not template_usable(campaign=campaign):
        return SmsState(signature.text, TEMPLATE_NOT_APPROVED)
    return SmsState(signature.text)


def template_usable(*, campaign: Campaign) -> bool:
    return usable_templates(shop=campaign.shop, use=campaign.kind).filter(pk=campaign.template_id).exists()


def campaign_templates_usable(*, campaign: Campaign) -> bool:
    """Whether every template the campaign sends is still usable: its own, and its A/B variants'
    (one query, none without templates; prefetch ``variants`` to read them without one)."""
    ids = {campaign.template_id, *(v.template_id for v in campaign.variants.all())} - {None}
    if not ids:
        return True
    usable = usable_templates(shop=campaign.shop, use=campaign.kind).filter(pk__in=ids).count()
    return usable == len(ids)


def campaign_preview(*, campaign: Campaign, signature: str | None = None) -> tuple[str, int]:
    """The message as a recipient would receive it now (example name, example link), and its parts;
    with ``signature`` (the one a run was sent with) instead of the live one when given."""
    if not signature:
        signature = shop_sms_state(shop=campaign.shop).signature or _("您的签名")
    sample = Recipient(key=0, customer_id=None, phone="", name=_("张女士"))
    body, _parts = message_for(
        campaign=campaign, recipient=sample, signature=signature, link_code=PREVIEW_LINK_CODE
    )
    text = full_text(signature=signature, body=body)
    return text, count_parts(len(text))


# --- create / validate --------------------------------------------------------


def _check_text(*, shop: Shop, kind: str, text: str) -> None:
    signature = live_signature(shop=shop)
    result = check_content(
        kind="text",
        text=text,
        signature=signature.text if signature else None,
        message_class="marketing",
        use=kind,
    )
    if not result.ok:
        raise CampaignContentRejected(
            _("短信内容未通过检查：") + "；".join(f"[{f.rule}] {f.message}" for f in result.findings),
            findings=result.findings,
        )


def campaign_create(
    *,
    shop: Shop,
    user,
    kind: str,
    name: str,
    segment: Segment | None = None,
    text: str = "",
    template=None,
    coupon: Coupon | None = None,
    products: list[str] | None = None,
    days_since_purchase: int | None = None,
) -> Campaign:
    """Create a draft campaign after checking its content and references.

    SMS marketing needs text that passes ``check_content(kind="text")``; a
    targeted coupon an approved or official template and a coupon of the shop;
    a repurchase reminder products, a number of days and a template or text
    (not both: which one would be sent must never be a guess).
    """
    require_capability(shop=shop, user=user, capability=Capability.OPERATE)
    shop_ensure_sms_allowed(shop=shop)
    campaign = Campaign(shop=shop, kind=Campaign.Kind(kind).value, created_by=user)
    campaign_seed_ensure(campaign)
    _fill(
        campaign, name=name, segment=segment, text=text, template=template, coupon=coupon,
        products=products, days_since_purchase=days_since_purchase,
    )
    campaign.save()
    return campaign


def campaign_update(
    *,
    campaign: Campaign,
    user,
    name: str,
    segment: Segment | None = None,
    text: str = "",
    template=None,
    coupon: Coupon | None = None,
    products: list[str] | None = None,
    days_since_purchase: int | None = None,
) -> Campaign:
    """Change a draft (its kind stays), with the same checks as ``campaign_create``.

    Refused once the campaign has left the draft state: what is scheduled or sent is
    what the merchant confirmed (copy it into a new draft instead).
    """
    require_capability(shop=campaign.shop_id, user=user, capability=Capability.OPERATE)
    shop_ensure_sms_allowed(shop=campaign.shop)
    with transaction.atomic():
        # Race: an edit saved while the same draft is being scheduled in another tab; the
        # row lock orders them, and the edit re-reads the state after the schedule committed.
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status != Campaign.Status.DRAFT:
            raise CampaignStateError(_("只有草稿可以修改；已排期或已发送的任务请复制为新任务后再修改。"))
        locked.shop = campaign.shop
        locked.template = locked.coupon = None
        locked.text, locked.products, locked.days_since_purchase = "", [], None
        _fill(
            locked, name=name, segment=segment, text=text, template=template, coupon=coupon,
            products=products, days_since_purchase=days_since_purchase,
        )
        locked.save()
    return locked


def _fill(
    campaign: Campaign,
    *,
    name: str,
    segment: Segment | None,
    text: str,
    template,
    coupon: Coupon | None,
    products: list[str] | None,
    days_since_purchase: int | None,
) -> None:
    """Check a campaign's fields for its kind and set them (nothing saved)."""
    shop, kind = campaign.shop, campaign.kind
    name = (name or "").strip()
    if not name:
        raise CampaignInvalid(_("请填写任务名称。"))
    if segment is not None and segment.shop_id != shop.pk:
        raise CampaignInvalid(_("所选人群不属于本店铺。"))
    products = [p.strip() for p in (products or []) if p.strip()]
    text = (text or "").strip()
    campaign.name, campaign.segment = name, segment
    if kind == Campaign.Kind.COUPON:
        if coupon is None or coupon.shop_id != shop.pk:
            raise CampaignInvalid(_("定向优惠券任务需要选择本店铺的优惠券。"))
        if coupon.valid_until <= timezone.now():
            raise CampaignInvalid(_("所选优惠券已过期。"))
        campaign.coupon = coupon
    if kind == Campaign.Kind.REPURCHASE:
        if not products or not days_since_purchase or days_since_purchase < 1:
            raise CampaignInvalid(_("复购提醒需要选择商品并填写距上次购买的天数（至少 1 天）。"))
        campaign.products, campaign.days_since_purchase = products, days_since_purchase
    if template is not None:
        if text:
            raise CampaignInvalid(str(TEMPLATE_AND_TEXT))
        campaign.template = template
        if not template_usable(campaign=campaign):
            raise CampaignInvalid(_("所选模板未审核通过或不适用于此类任务。"))
    elif kind == Campaign.Kind.COUPON:
        raise CampaignInvalid(_("定向优惠券任务需要选择已审核通过的模板或官方模板。"))
    else:
        campaign.text = text
        if not campaign.text:
            raise CampaignInvalid(_("请填写短信内容或选择模板。"))
        _check_text(shop=shop, kind=kind, text=campaign.text)
    _check_renders(campaign=campaign)


def _check_renders(*, campaign: Campaign) -> None:
    """Every variable of the content can be filled for this kind (no coupon variable without a coupon)."""
    sample = Recipient(key=0, customer_id=None, phone="", name="")
    try:
        message_for(campaign=campaign, recipient=sample, signature=None, link_code=PREVIEW_LINK_CODE)
    except VariableMissing as exc:
        raise CampaignInvalid(
            _("内容中的变量无法用本任务的数据填充：{error}").format(error=exc.message)
        ) from exc


# --- A/B variants and the seed (campaigns.services.variants) ---------------------

AB_KINDS = (Campaign.Kind.MARKETING, Campaign.Kind.COUPON)  # one-off sends only


def campaign_seed_ensure(campaign: Campaign) -> None:
    """Give a campaign its seed (the holdout and A/B draws) if it has none; the caller saves it.
    Set at creation; a campaign created before seeds existed gets one when it is scheduled."""
    if not campaign.seed:
        campaign.seed = secrets.randbits(62) + 1


def first_run_phase(*, campaign: Campaign) -> str:
    """The phase of a campaign's audience run: the A/B test when it has variants."""
    if campaign.kind in AB_KINDS and campaign.variants.count() >= MIN_VARIANTS:
        return CampaignRun.Phase.AB_TEST
    return CampaignRun.Phase.SINGLE


def variant_content(*, campaign: Campaign, variant) -> Campaign:
    """The campaign as one of its variants sends it: a copy (never saved) with the variant's text
    or template, so everything that renders a campaign's content renders the variant's."""
    content = copy.copy(campaign)
    content.text, content.template = variant.text, variant.template
    return content


def variant_check(*, campaign: Campaign, variant) -> None:
    """A variant passes what the campaign's own content passes (``_fill``): a coupon campaign
    sends approved templates only; a text is checked by the content rules; every variable can be
    filled. Errors name the variant."""
    label = _("版本 {name}").format(name=variant.name)
    content = variant_content(campaign=campaign, variant=variant)
    if variant.template_id:
        if variant.text:
            raise CampaignInvalid(_("{label}：已选择模板时不能同时填写短信内容。").format(label=label))
        if not template_usable(campaign=content):
            raise CampaignInvalid(_("{label}：所选模板未审核通过或不适用于此类任务。").format(label=label))
    elif campaign.kind == Campaign.Kind.COUPON:
        raise CampaignInvalid(
            _("{label}：定向优惠券任务需要选择已审核通过的模板或官方模板。").format(label=label)
        )
    elif not variant.text:
        raise CampaignInvalid(_("{label}：请填写短信内容或选择模板。").format(label=label))
    else:
        try:
            _check_text(shop=campaign.shop, kind=campaign.kind, text=variant.text)
        except CampaignContentRejected as exc:
            raise CampaignContentRejected(f"{label}：{exc.message}", findings=exc.findings) from exc
    try:
        _check_renders(campaign=content)
    except CampaignInvalid as exc:
        raise CampaignInvalid(f"{label}：{exc.message}") from exc


# --- schedule / cancel / stop -------------------------------------------------


def campaign_schedule(*, campaign: Campaign, user, at: datetime | None = None) -> Campaign:
    """Schedule a draft: now (``at`` None), or at ``at`` through a django-q2 schedule.

    Refuses without an approved signature, a funded and active account, or when
    the content no longer passes. Repurchase reminders get a DAILY schedule that
    runs until the campaign is stopped.
    """
    require_capability(shop=campaign.shop_id, user=user, capability=Capability.OPERATE)
    shop_ensure_sms_allowed(shop=campaign.shop)
    now = timezone.now()
    if at is not None and at < now - timedelta(minutes=1):
        raise CampaignInvalid(_("发送时间不能早于现在。"))
    if at is not None and at > now + MAX_SCHEDULE_AHEAD:
        raise CampaignInvalid(_("发送时间不能晚于 {days} 天以后。").format(days=MAX_SCHEDULE_AHEAD.days))
    with transaction.atomic():
        # Race: a double-clicked schedule button; the row lock lets one transition win.
        campaign = Campaign.objects.select_for_update().select_related("shop__category").get(pk=campaign.pk)
        if campaign.status != Campaign.Status.DRAFT:
            raise CampaignStateError(_("只有草稿状态的任务可以排期。"))
        state = shop_sms_state(shop=campaign.shop, campaign=campaign)
        if state.reason == NO_SIGNATURE:
            raise CampaignInvalid(_("店铺还没有审核通过的短信签名，无法发送。"))
        if state.reason:
            raise CampaignInvalid(_("当前无法发送（{reason}）。").format(reason=state.reason))
        account = SmsAccount.objects.filter(shop=campaign.shop).first()
        if account is None or not account.is_active:
            raise CampaignInvalid(_("短信服务尚未开通，请先在“短信账户”页开通。"))
        if not campaign.template_id:
            _check_text(shop=campaign.shop, kind=campaign.kind, text=campaign.text)
        for variant in campaign.variants.select_related("template"):
            variant_check(campaign=campaign, variant=variant)
        campaign_seed_ensure(campaign)
        campaign.schedule(at=at or now)
        if campaign.kind == Campaign.Kind.REPURCHASE:
            schedule = Schedule.objects.create(
                name=f"campaign-{campaign.pk}-daily",
                func=REPURCHASE_TASK,
                args=repr(campaign.pk),
                schedule_type=Schedule.DAILY,
                next_run=at or now,
                repeats=-1,
            )
            campaign.q_schedule_id = schedule.pk
        else:
            run = CampaignRun.objects.create(campaign=campaign, phase=first_run_phase(campaign=campaign))
            if at is not None and at > now:
                schedule = Schedule.objects.create(
                    name=f"campaign-{campaign.pk}-run-{run.pk}",
                    func=RUN_TASK,
                    args=repr(run.pk),
                    schedule_type=Schedule.ONCE,
                    next_run=at,
                    repeats=1,
                )
                campaign.q_schedule_id = schedule.pk
            else:
                transaction.on_commit(lambda: async_task(RUN_TASK, run.pk))
        campaign.save()
    return campaign


def campaign_cancel(*, campaign: Campaign, user) -> Campaign:
    """Cancel a draft or scheduled campaign; refused once it has started."""
    require_capability(shop=campaign.shop_id, user=user, capability=Capability.OPERATE)
    with transaction.atomic():
        # Race: cancelling while the run task starts; both lock the campaign row first.
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if not campaign.cancellable:
            raise CampaignStateError(_("任务已开始发送，不能取消。"))
        campaign.cancel()
        campaign.save()
        _drop_schedule(campaign)
        campaign.runs.filter(status=CampaignRun.Status.PENDING).update(status=CampaignRun.Status.CANCELLED)
    return campaign


def campaign_stop(*, campaign: Campaign, user) -> Campaign:
    """Stop a repurchase reminder (no more daily runs); a run in progress finishes."""
    require_capability(shop=campaign.shop_id, user=user, capability=Capability.OPERATE)
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status not in {Campaign.Status.SCHEDULED, Campaign.Status.RUNNING}:
            raise CampaignStateError(_("任务未在运行，无需停止。"))
        campaign.stop(at=timezone.now())
        campaign.save()
        _drop_schedule(campaign)
        campaign.runs.filter(status=CampaignRun.Status.PENDING).update(status=CampaignRun.Status.CANCELLED)
    return campaign


def _drop_schedule(campaign: Campaign) -> None:
    if campaign.q_schedule_id:
        Schedule.objects.filter(pk=campaign.q_schedule_id).delete()


# --- dry run -------------------------------------------------------------------


@dataclass
class DryRun:
    recipients: int = 0
    sendable: int = 0
    suppressed: Counter = field(default_factory=Counter)
    parts: int = 0
    balance: int = 0
    holdout: int = 0  # held out (对照组): not sent, not in ``sendable`` nor ``parts``
    coupons_left: int | None = None
    at: datetime | None = None  # when it would really go out (the marketing window applied)
    ruleset: str = ""  # the frequency rule set (name and version) the decisions came from
    # (cap rule id, local day) -> recipients that cap refuses who may be sent to again from that day
    sendable_again: Counter = field(default_factory=Counter)
    # An A/B campaign: its test share (sent now, each their variant) and the rest (sent the winner
    # later), with the rest's parts if each variant won (``ab_rest_parts[i]``: variant i).
    ab_test_sendable: int = 0
    ab_test_parts: int = 0
    ab_rest_sendable: int = 0
    ab_rest_parts: list[int] = field(default_factory=list)
    # The spending limits (docs/SPEND_LIMITS.md), None without a cap: the period's use before this
    # campaign, the parts it would take of what is left, and the recipients beyond it (SPEND-LIMIT:
    # held back until the next period; counted in ``sendable``, not in ``suppressed``).
    spend: SpendLimitState | None = None
    spend_take: int = 0
    spend_held: int = 0

    @property
    def ab_rest_parts_most(self) -> int:
        """What the rest may cost at most (the winner is not known yet)."""
        return max(self.ab_rest_parts, default=0)

    @property
    def balance_after(self) -> int:
        return self.balance - self.parts

    @property
    def suppressed_total(self) -> int:
        return sum(self.suppressed.values())

    @property
    def suppressed_by_reason(self) -> list[tuple[str, int]]:
        return self.suppressed.most_common()


def campaign_dry_run(*, campaign: Campaign, at: datetime | None = None) -> DryRun:
    """What sending now would do: recipients, suppressions per reason id, parts, balance after.

    Nothing is counted or reserved (``frequency_decide(commit=False)``). Quiet hours
    are ignored (the send would be deferred to 08:00, not dropped): the decisions are taken
    at the real send time, ``result.at``. Recipients a frequency cap refuses are counted per
    cap and the day they may be sent to again (``result.sendable_again``).

    The holdout is drawn as planning draws it: recipients it holds out who would otherwise be
    sent are ``result.holdout``, outside ``sendable`` and ``parts``. An A/B campaign's test share
    is priced with each one's variant, the rest with the longest variant (the winner is not
    known yet: the most it may cost).
    """
    shop_ensure_sms_allowed(shop=campaign.shop)
    at = next_send_window(at or timezone.now())
    account = SmsAccount.objects.filter(shop=campaign.shop).first()
    result = DryRun(balance=account.balance if account and account.is_active else 0, at=at)
    spend_left = None
    if account is not None and account.is_active:
        spend = spend_limit_state(account_id=account.pk, at=at)
        if spend.has_limit:
            result.spend, spend_left = spend, spend.left
    state = shop_sms_state(shop=campaign.shop, campaign=campaign)
    probe = CampaignRun(campaign=campaign, run_date=timezone.localdate(at))
    if campaign.coupon_id:
        result.coupons_left = campaign.coupon.total_count - campaign.coupon.issued_count
    variants = []
    if first_run_phase(campaign=campaign) == CampaignRun.Phase.AB_TEST:
        variants = [
            variant_content(campaign=campaign, variant=v)
            for v in campaign.variants.select_related("template").order_by("position")
        ]
    cut = Cut(campaign=campaign, variants=len(variants)) if campaign.holdout_percent or variants else None
    result.ab_rest_parts = [0] * len(variants)
    cursor = 0
    while batch := run_recipients_after(run=probe, cursor=cursor, limit=DRY_RUN_BATCH, now=at):
        cursor = batch[-1].key
        result.recipients += len(batch)
        if state.reason:
            result.suppressed[state.reason] += len(batch)
            continue
        decisions = frequency_decide(
            shop_id=campaign.shop_id,
            message_class=MessageClass.MARKETING,
            phones=[r.phone for r in batch],
            at=at,
            commit=False,
        )
        capped: dict[str, str] = {}
        for decision, recipient in zip(decisions, batch, strict=True):
            result.ruleset = decision.ruleset_label
            if not decision.allowed:
                result.suppressed[decision.reason] += 1
                if decision.reason.startswith(FREQ_PREFIX):
                    capped[decision.phone] = decision.reason
                continue
            where = cut.of(recipient.phone) if cut is not None else REST
            if where == HELD:
                result.holdout += 1
                continue
            result.sendable += 1
            contents = [variants[where]] if where >= 0 else (variants or [campaign])
            signature, code = state.signature, PREVIEW_LINK_CODE
            parts = [
                message_for(campaign=c, recipient=recipient, signature=signature, link_code=code)[1]
                for c in contents
            ]
            result.parts += max(parts)
            if spend_left is not None:
                # As planning fits: the longest prefix the cap covers; everyone after it waits.
                if result.spend_held or result.spend_take + max(parts) > spend_left:
                    result.spend_held += 1
                else:
                    result.spend_take += max(parts)
            if variants and where >= 0:
                result.ab_test_sendable += 1
                result.ab_test_parts += parts[0]
            elif variants:
                result.ab_rest_sendable += 1
                for position, n in enumerate(parts):
                    result.ab_rest_parts[position] += n
        if capped:
            again = frequency_sendable_again(
                shop_id=campaign.shop_id, message_class=MessageClass.MARKETING, phones=list(capped), at=at
            )
            for phone, day in again.items():
                result.sendable_again[(capped[phone], day)] += 1
    return result


# --- repurchase days and test SMS ---------------------------------------------------


def repurchase_run_today(*, campaign_id: int, now: datetime | None = None) -> str:
    """Create today's run of a repurchase reminder (once per local day) and enqueue it."""
    now = now or timezone.now()
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        if campaign.kind != Campaign.Kind.REPURCHASE or campaign.status not in {
            Campaign.Status.SCHEDULED,
            Campaign.Status.RUNNING,
        }:
            return "stopped"
        # Race: the DAILY schedule fired twice; the unique (campaign, run_date) keeps one run.
        run, created = CampaignRun.objects.get_or_create(
            campaign=campaign, kind=CampaignRun.Kind.AUDIENCE, run_date=timezone.localdate(now)
        )
        transaction.on_commit(lambda: async_task(RUN_TASK, run.pk))
    return "created" if created else "exists"


class UnverifiedTestPhone(SmsError):
    rule = "TEST-PHONE-UNVERIFIED"


def campaign_send_test(*, campaign: Campaign, user, phone: str) -> CampaignRun:
    """Send the campaign's message to the merchant's own verified phone.

    It goes through the whole pipeline as a one-recipient run: it counts toward
    the frequency caps and is charged like any other message.
    """
    require_capability(shop=campaign.shop_id, user=user, capability=Capability.OPERATE)
    shop_ensure_sms_allowed(shop=campaign.shop)
    if in_quiet_hours(timezone.now()):
        raise CampaignInvalid(_("营销短信（含测试短信）只能在 08:00–21:00 发送，请在此时间内再试。"))
    normalized = normalize_phone(phone or "")
    if (
        normalized is None
        or not VerifiedPhone.objects.filter(
            shop=campaign.shop, phone=normalized, verified_at__isnull=False
        ).exists()
    ):
        raise UnverifiedTestPhone(_("测试短信只能发送到本店铺已验证的手机号。"))
    run = CampaignRun.objects.create(campaign=campaign, kind=CampaignRun.Kind.TEST, test_phone=normalized)
    transaction.on_commit(lambda: async_task(RUN_TASK, run.pk))
    return run


VERIFY_CODE_TTL = timedelta(minutes=10)
VERIFY_MAX_ATTEMPTS = 5
VERIFY_TEXT = "【短信管理平台】您的测试手机号验证码为{code}，10分钟内有效。"
# Verification codes are free platform messages to any number a merchant types: without
# limits a shop could flood a stranger's phone, or draw codes until one is guessed.
VERIFY_RESEND_SECONDS = 60  # one code per shop and phone per minute
VERIFY_PER_PHONE_DAY = 5  # codes to one phone per day, all shops together
VERIFY_PER_SHOP_DAY = 20  # codes one shop may request per day
DAY_SECONDS = 24 * 3600


def _verification_throttle(*, shop_id: int, phone: str) -> None:
    """Count this request against the limits (atomic PostgreSQL counters); refuse beyond them."""
    limits = [
        (f"verify:{shop_id}:{phone}", VERIFY_RESEND_SECONDS, 1, _("验证码已发送，请 1 分钟后再获取。")),
        (
            f"verify-phone:{phone}", DAY_SECONDS, VERIFY_PER_PHONE_DAY,
            _("该手机号今日获取验证码的次数已达上限，请明天再试。"),
        ),
        (
            f"verify-shop:{shop_id}", DAY_SECONDS, VERIFY_PER_SHOP_DAY,
            _("本店今日获取验证码的次数已达上限，请明天再试。"),
        ),
    ]
    for key, window, limit, message in limits:
        if rate_limit_hit(key, window_seconds=window) > limit:
            raise CampaignInvalid(message)


def _code_hash(*, phone: str, code: str) -> str:
    return hashlib.sha256(f"{settings.SECRET_KEY}:{phone}:{code}".encode()).hexdigest()


def verified_phone_request(*, shop: Shop, user, phone: str):
    """Send a 6-digit code to ``phone`` (a platform message: not charged, not counted)."""
    require_capability(shop=shop, user=user, capability=Capability.OPERATE)
    shop_ensure_sms_allowed(shop=shop)
    normalized = normalize_phone(phone or "")
    if normalized is None:
        raise CampaignInvalid(_("请输入有效的中国大陆手机号。"))
    _verification_throttle(shop_id=shop.pk, phone=normalized)
    code = f"{secrets.randbelow(10**6):06d}"
    VerifiedPhone.objects.update_or_create(
        shop=shop,
        phone=normalized,
        defaults={
            "code_hash": _code_hash(phone=normalized, code=code),
            "code_sent_at": timezone.now(),
            "attempts": 0,
        },
    )
    gateway = get_gateway()
    try:
        gateway.send_batch([OutboundSms(message_id=0, phone=normalized, text=VERIFY_TEXT.format(code=code))])
    finally:
        gateway.close()
    return code


def verified_phone_confirm(*, shop: Shop, user, phone: str, code: str):
    require_capability(shop=shop, user=user, capability=Capability.OPERATE)
    shop_ensure_sms_allowed(shop=shop)
    normalized = normalize_phone(phone or "") or ""
    with transaction.atomic():
        row = VerifiedPhone.objects.select_for_update().filter(shop=shop, phone=normalized).first()
        if (
            row is None
            or not row.code_sent_at
            or row.code_sent_at < timezone.now() - VERIFY_CODE_TTL
            or row.attempts >= VERIFY_MAX_ATTEMPTS
        ):
            raise CampaignInvalid(_("验证码已失效，请重新获取。"))
        wrong = row.code_hash != _code_hash(phone=normalized, code=(code or "").strip())
        if wrong:
            row.attempts += 1
            row.save(update_fields=["attempts"])
        else:
            row.verified_at, row.code_hash = timezone.now(), ""
            row.save(update_fields=["verified_at", "code_hash"])
    # Raised after the block commits: raising inside it rolled the attempt count back, which
    # left the 6-digit code open to unlimited guesses.
    if wrong:
        raise CampaignInvalid(_("验证码不正确。"))
    return row
