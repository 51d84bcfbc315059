"""The notices of campaign events, their Chinese text in one place (docs/NOTIFICATIONS.md, "Events"):
a run finished (delivered, failed, refunded, revenue), a run stopped by a rule (signature gone,
account or shop inactive, category restricted, template withdrawn), the balance exhausted while a
campaign waits to send.

Builders are pure. The ``*_notify`` functions are called by the pipeline inside the transaction
that makes the event true, once per run (their event keys name the run), each with O(1) queries
per event, never per message. Test SMS runs notify nothing (the merchant is watching them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import CharField, Exists, OuterRef, Value
from django.db.models.functions import Cast, Concat
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from campaigns.models.orders import Order
from campaigns.models.sending import Campaign, CampaignRun, Message
from campaigns.services.campaigns import (
    CATEGORY_RESTRICTED,
    NO_SIGNATURE,
    SHOP_INACTIVE,
    TEMPLATE_NOT_APPROVED,
)
from smsmarketing.errors import AccountNotActive, SpendLimitReached
from smsmarketing.models import Notification, SmsAccount
from smsmarketing.services.notices import Notice, notice_kind, notice_raise
from smsmarketing.services.spend_limits import DAY, period_label

ACCOUNT_INACTIVE = AccountNotActive.rule
SPEND_LIMIT = SpendLimitReached.rule

# The rules that stop a whole run (every recipient left), with what the merchant should do.
STOP_REASONS = {
    NO_SIGNATURE: _lazy("店铺当前没有审核通过的短信签名，请提交签名并等待审核通过后再发送。"),
    ACCOUNT_INACTIVE: _lazy("店铺的短信服务未开通或已停用，请店主在“短信账户”页开通后再发送。"),
    SHOP_INACTIVE: _lazy("店铺已停用，暂时不能发送短信。"),
    CATEGORY_RESTRICTED: _lazy("店铺主营类目属于敏感类目，不能使用短信功能。"),
    TEMPLATE_NOT_APPROVED: _lazy(
        "任务使用的短信模板已不可用（已撤回、被替换或未通过审核），请更换模板后再发送。"
    ),
}


@dataclass(frozen=True)
class RunFigures:
    """A run's outcome as its finish sees it (delivery reports may still arrive after)."""

    delivered: int = 0
    failed: int = 0  # failed or no final report (expired)
    awaiting: int = 0  # handed over, no final report yet
    dropped: int = 0  # cancelled before sending (a rule changed meanwhile)
    suppressed: int = 0
    parts_charged: int = 0
    parts_refunded: int = 0
    orders: int = 0
    revenue: Decimal = Decimal(0)


def run_figures(*, run_id: int) -> RunFigures:
    """Two statements whatever the run's size: its messages by outcome, and its attributed orders."""
    S = Message.Status
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT count(*) FILTER (WHERE status = %(delivered)s),
                       count(*) FILTER (WHERE status = ANY(%(failed)s)),
                       count(*) FILTER (WHERE status = ANY(%(awaiting)s)),
                       count(*) FILTER (WHERE status = %(dropped)s),
                       count(*) FILTER (WHERE status = %(suppressed)s),
                       coalesce(sum(parts) FILTER (WHERE settlement = %(charged)s), 0),
                       coalesce(sum(parts) FILTER (WHERE settlement = %(released)s), 0)
                FROM {Message._meta.db_table} WHERE run_id = %(run)s""",
            {
                "run": run_id, "delivered": S.DELIVERED, "failed": [S.FAILED, S.EXPIRED],
                "awaiting": [S.SENDING, S.ACCEPTED], "dropped": S.DROPPED, "suppressed": S.SUPPRESSED,
                "charged": Message.Settlement.CHARGED, "released": Message.Settlement.RELEASED,
            },
        )
        counts = cursor.fetchone()
        cursor.execute(
            f"""SELECT count(*), coalesce(sum(o.amount), 0) FROM {Order._meta.db_table} o
                JOIN {Message._meta.db_table} m ON m.id = o.attributed_message_id
                WHERE m.run_id = %s""",
            [run_id],
        )
        orders, revenue = cursor.fetchone()
    return RunFigures(*counts, orders=orders, revenue=revenue)


def _campaign_link(campaign: Campaign) -> str:
    return reverse("campaigns:detail", kwargs={"shop_id": campaign.shop_id, "campaign_id": campaign.pk})


def _name(campaign: Campaign, run: CampaignRun) -> str:
    phase = {
        CampaignRun.Phase.AB_TEST: _("（A/B 测试阶段）"),
        CampaignRun.Phase.AB_WINNER: _("（胜出版本）"),
    }.get(run.phase, "")
    day = _("（{day} 批次）").format(day=run.run_date) if run.run_date else ""
    return _("营销任务「{name}」{phase}{day}").format(name=campaign.name, phase=phase, day=day)


def campaign_finished_notice(*, campaign: Campaign, run: CampaignRun, figures: RunFigures) -> Notice:
    name = _name(campaign, run)
    body = _(
        "{name}已发送完毕：发送成功 {delivered:,} 条，发送失败 {failed:,} 条，"
        "失败退还 {refunded:,} 条余量（实际扣费 {charged:,} 条）；"
        "归因订单 {orders:,} 笔，成交金额 ¥{revenue:,.2f}。"
    ).format(
        name=name, delivered=figures.delivered, failed=figures.failed, refunded=figures.parts_refunded,
        charged=figures.parts_charged, orders=figures.orders, revenue=figures.revenue,
    )
    if figures.awaiting:
        body += _("另有 {n:,} 条尚待运营商回执，结果以任务详情页为准。").format(n=figures.awaiting)
    if figures.dropped:
        body += _("{n:,} 条因发送前规则变化未发送（已退还余量）。").format(n=figures.dropped)
    return Notice(
        kind=notice_kind("CAMPAIGN_FINISHED"),
        event_key=f"campaign_finished:{run.pk}",
        title=_("{name}发送完成：成功 {delivered:,} 条").format(name=name, delivered=figures.delivered),
        body=body,
        link=_campaign_link(campaign),
    )


def campaign_stopped_notice(*, campaign: Campaign, run: CampaignRun, reason: str) -> Notice:
    name = _name(campaign, run)
    why = STOP_REASONS.get(reason, reason)
    return Notice(
        kind=notice_kind("CAMPAIGN_STOPPED"),
        event_key=f"campaign_stopped:{run.pk}",
        title=_("{name}已停止发送").format(name=name),
        body=_("{name}因规则 {rule} 停止发送，剩余客户均未发送，未发送部分不扣费。原因：{why}").format(
            name=name, rule=reason, why=why
        ),
        link=_campaign_link(campaign),
    )


def balance_exhausted_notice(*, campaign: Campaign, run: CampaignRun, balance: int) -> Notice:
    name = _name(campaign, run)
    return Notice(
        kind=notice_kind("BALANCE_EXHAUSTED"),
        event_key=f"balance_exhausted:{run.pk}",
        title=_("短信余量不足，{name}部分客户未发送").format(name=name),
        body=_(
            "{name}正在发送，但店铺短信可用余量已不足（当前 {balance:,} 条），余量不足的客户"
            "（INSUFFICIENT-BALANCE）本次不会发送，也不会扣费。请店主尽快充值，之后的任务即可正常发送。"
        ).format(name=name, balance=balance),
        link=reverse("portal:account_recharge", kwargs={"shop_id": campaign.shop_id}),
    )


def campaign_paused_notice(
    *, campaign: Campaign, run: CampaignRun, period: str, limit: int | None, held: int,
    resume_at: datetime | None,
) -> Notice:
    """A spending limit paused the run (``SPEND-LIMIT``): one notice per pause (its resume time)."""
    name = _name(campaign, run)
    cap = _("{period}消费上限（{limit:,} 条）").format(period=period, limit=limit) if limit else _(
        "{period}消费上限"
    ).format(period=period)
    when = (
        _("将于 {at} 自动继续发送").format(at=timezone.localtime(resume_at).strftime("%Y-%m-%d %H:%M"))
        if resume_at
        else _("将在下一周期自动继续发送")
    )
    return Notice(
        kind=notice_kind("CAMPAIGN_PAUSED"),
        event_key=f"campaign_paused:{run.pk}:{resume_at.isoformat() if resume_at else ''}",
        title=_("{name}已暂停：达到{cap}").format(name=name, cap=cap),
        body=_(
            "{name}已达到店铺的{cap}，{held:,} 位客户暂未发送（SPEND-LIMIT），不扣费，{when}；"
            "店主也可提高上限后在任务页点击“继续发送”。"
        ).format(name=name, cap=cap, held=held, when=when),
        link=_campaign_link(campaign),
    )


def campaign_paused_notify(*, campaign: Campaign, run: CampaignRun) -> int:
    """Raise the run's paused notice (inside ``_run_finish``'s transaction, where it pauses): the
    recipients held back and the cap that paused it (two queries, once per pause)."""
    if run.kind == CampaignRun.Kind.TEST:
        return 0
    held = Message.objects.filter(run_id=run.pk, status=Message.Status.SUPPRESSED, reason=SPEND_LIMIT).count()
    field = "daily_spend_limit" if run.spend_paused == DAY else "monthly_spend_limit"
    limit = SmsAccount.objects.filter(shop_id=campaign.shop_id).values_list(field, flat=True).first()
    notice = campaign_paused_notice(
        campaign=campaign, run=run, period=period_label(run.spend_paused), limit=limit, held=held,
        resume_at=run.spend_resume_at,
    )
    return notice_raise(shop_id=campaign.shop_id, notice=notice)


def campaign_finished_notify(*, campaign: Campaign, run: CampaignRun) -> int:
    """Raise the run's finished notice with its figures (in the caller's transaction); nothing for
    a test SMS. Callers raise it once the run's outcome is complete (``runs_finished_notify``)."""
    if run.kind == CampaignRun.Kind.TEST:
        return 0
    figures = run_figures(run_id=run.pk)
    return notice_raise(
        shop_id=campaign.shop_id, notice=campaign_finished_notice(campaign=campaign, run=run, figures=figures)
    )


# The runs among the given ones whose outcome is complete: finished, and no message still awaited
# (planned, sending, accepted: found through message_campaign_status, a handful once a run has
# finished) nor final but unsettled (message_to_settle, a handful at any time). One statement.
_COMPLETE_SQL = """
SELECT r.id FROM {run} r
WHERE r.id = ANY(%(runs)s) AND r.status = %(finished)s AND r.kind = %(audience)s
  AND NOT EXISTS (SELECT 1 FROM {message} m WHERE m.campaign_id = r.campaign_id
                  AND m.status = ANY(%(awaited)s) AND m.run_id = r.id)
  AND NOT EXISTS (SELECT 1 FROM {message} m WHERE m.settlement = %(pending)s
                  AND m.status = ANY(%(finals)s) AND m.run_id = r.id)
"""


def runs_finished_notify(*, run_ids: Iterable[int]) -> int:
    """Raise the finished notice of each given run whose outcome is complete (every message
    delivered, failed, expired or dropped, and settled): the figures are then final. Called where
    that becomes true, in its transaction: the run's finish (``sending._run_finish``) and each
    settlement batch (``delivery._settle_batch``), with the runs that batch touched; the
    minute's sweep (``campaign_finished_sweep``) catches the run whose last two batches were
    settled at once (each saw the other's messages still pending). Idempotent (the key is the run's)."""
    ids = sorted(set(run_ids))
    if not ids:
        return 0
    S = Message.Status
    with connection.cursor() as cursor:
        cursor.execute(
            _COMPLETE_SQL.format(run=CampaignRun._meta.db_table, message=Message._meta.db_table),
            {
                "runs": ids, "finished": CampaignRun.Status.FINISHED, "audience": CampaignRun.Kind.AUDIENCE,
                "awaited": [S.PLANNED, S.SENDING, S.ACCEPTED], "pending": Message.Settlement.PENDING,
                "finals": [s.value for s in Message.FINAL],
            },
        )
        complete = [row[0] for row in cursor.fetchall()]
    created = 0
    for run in CampaignRun.objects.filter(pk__in=complete).select_related("campaign").order_by("pk"):
        created += campaign_finished_notify(campaign=run.campaign, run=run)
    return created


# Finished runs looked at by the sweep: every message is final 72 hours after its hand-over
# (the expiry sweep), so a run is complete well within this.
SWEEP_WINDOW = timedelta(days=4)


def campaign_finished_sweep(*, now: datetime | None = None) -> int:
    """The runs finished in the last ``SWEEP_WINDOW`` with no finished notice yet: raise it for
    those complete now (each in its own transaction). Every minute, with the settlement task."""
    now = now or timezone.now()
    key = Concat(Value("campaign_finished:"), Cast(OuterRef("pk"), CharField()))
    candidates = (
        CampaignRun.objects.filter(
            status=CampaignRun.Status.FINISHED,
            kind=CampaignRun.Kind.AUDIENCE,
            finished_at__gte=now - SWEEP_WINDOW,
        )
        .exclude(Exists(Notification.objects.filter(event_key=key)))
        .values_list("pk", flat=True)
    )
    created = 0
    for run_id in list(candidates):
        with transaction.atomic():
            created += runs_finished_notify(run_ids=[run_id])
    return created


def campaign_stopped_notify(*, campaign: Campaign, run: CampaignRun, reason: str) -> int:
    """Raise the run's stopped notice when ``reason`` is a rule that stops a run (else nothing)."""
    if run.kind == CampaignRun.Kind.TEST or reason not in STOP_REASONS:
        return 0
    return notice_raise(
        shop_id=campaign.shop_id, notice=campaign_stopped_notice(campaign=campaign, run=run, reason=reason)
    )


def balance_exhausted_notify(*, campaign: Campaign, run: CampaignRun, balance: int) -> int:
    if run.kind == CampaignRun.Kind.TEST:
        return 0
    return notice_raise(
        shop_id=campaign.shop_id, notice=balance_exhausted_notice(campaign=campaign, run=run, balance=balance)
    )
