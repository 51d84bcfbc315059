"""The notices of review events, their Chinese text in one place (docs/NOTIFICATIONS.md, "Events"):
a signature or template approved or rejected (with the reviewer's reason), a review overdue (with
an apology and the new estimate).

Builders are pure; ``review_decision_notify`` is called by ``reviews.services.review`` inside the
decision's transaction, ``review_overdue_notify`` by the overdue sweep (``reviews.tasks``).
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from reviews.models.review import RejectReason, ReviewAction, ReviewDecision, ReviewedItem, ReviewState
from reviews.models.signatures import Signature
from reviews.models.templates import MessageTemplate
from reviews.sla import add_working_days
from smsmarketing.services.notices import Notice, notice_kind, notice_raise

_SIGNATURE, _TEMPLATE = "signature", "template"


def _what(item: ReviewedItem) -> str:
    """The item as the merchant names it: 短信签名【…】 or 短信模板「name」(v2)."""
    if item.review_kind == _SIGNATURE:
        return _("短信签名【{text}】").format(text=item.text)
    return _("短信模板「{name}」（第 {version} 版）").format(name=item.name, version=item.version)


def _link(item: ReviewedItem) -> str:
    name = "reviews:signature" if item.review_kind == _SIGNATURE else "reviews:templates"
    return reverse(name, kwargs={"shop_id": item.shop_id})


def _local(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def review_approved_notice(*, item: ReviewedItem, decision: ReviewDecision) -> Notice:
    what = _what(item)
    if item.review_kind == _SIGNATURE:
        body = _("您提交的{what}已于 {at} 审核通过，此后发出的短信将使用该签名。").format(
            what=what, at=_local(decision.created_at)
        )
    else:
        body = _("您提交的{what}已于 {at} 审核通过，现在可以在营销任务中使用。").format(
            what=what, at=_local(decision.created_at)
        )
    return Notice(
        kind=notice_kind(f"{item.review_kind.upper()}_APPROVED"),
        event_key=f"{item.review_kind}_approved:{decision.pk}",
        title=_("审核通过：{what}").format(what=what),
        body=body,
        link=_link(item),
    )


def review_rejected_notice(*, item: ReviewedItem, decision: ReviewDecision) -> Notice:
    what = _what(item)
    reason = str(RejectReason(decision.reason_code).label) if decision.reason_code else _("未注明")
    detail = ""
    if decision.reason_text:
        text = decision.reason_text.strip()
        detail = _("审核说明：{text}").format(text=text) + ("" if text[-1:] in "。！？.!?" else "。")
    keeps = (
        _("当前生效的签名（如有）继续使用。")
        if item.review_kind == _SIGNATURE
        else _("已通过的旧版本（如有）继续可用。")
    )
    body = (
        _("很抱歉，您提交的{what}未通过审核。驳回原因：{reason}。").format(what=what, reason=reason)
        + detail + keeps + _("请按驳回原因修改后重新提交。")
    )
    return Notice(
        kind=notice_kind(f"{item.review_kind.upper()}_REJECTED"),
        event_key=f"{item.review_kind}_rejected:{decision.pk}",
        title=_("审核未通过：{what}（{reason}）").format(what=what, reason=reason),
        body=body,
        link=_link(item),
    )


def review_overdue_notice(*, item: ReviewedItem, missed: datetime, estimate: datetime) -> Notice:
    """A pending item's review missed ``missed`` (its due time, or a later estimate that passed too);
    ``estimate`` is the new one. One notice per item and missed deadline."""
    what = _what(item)
    return Notice(
        kind=notice_kind("REVIEW_OVERDUE"),
        event_key=f"review_overdue:{item.review_kind}:{item.pk}:{timezone.localtime(missed):%Y-%m-%d}",
        title=_("审核延迟：{what}").format(what=what),
        body=_(
            "非常抱歉，您于 {submitted} 提交的{what}未能在预计时间 {missed} 前完成审核。"
            "审核员正在优先处理，新的预计完成时间为 {estimate}。审核期间已生效的内容不受影响。"
        ).format(
            submitted=_local(item.submitted_at), what=what, missed=_local(missed), estimate=_local(estimate)
        ),
        link=_link(item),
    )


def review_overdue_estimate(*, due_at: datetime, now: datetime) -> tuple[datetime, datetime]:
    """(the deadline missed last, the new estimate): the estimate moves one working day at a
    time from ``due_at`` (same wall-clock time) until it is after ``now``."""
    missed = timezone.localtime(due_at)
    while True:
        day = add_working_days(missed.date(), 1)
        naive = datetime.combine(day, missed.time().replace(tzinfo=None))
        estimate = timezone.make_aware(naive, timezone.get_current_timezone())
        if estimate > now:
            return missed, estimate
        missed = estimate


def review_decision_notify(*, item: ReviewedItem, decision: ReviewDecision) -> int:
    """Raise the approval or rejection notice of ``decision`` (inside its transaction)."""
    if getattr(item, "shop_id", None) is None:  # an official template: no shop to tell
        return 0
    if decision.action == ReviewAction.REJECT:
        notice = review_rejected_notice(item=item, decision=decision)
    else:
        notice = review_approved_notice(item=item, decision=decision)
    return notice_raise(shop_id=item.shop_id, notice=notice)


def review_overdue_notify(*, item: ReviewedItem, now: datetime) -> int:
    missed, estimate = review_overdue_estimate(due_at=item.due_at, now=now)
    return notice_raise(
        shop_id=item.shop_id, notice=review_overdue_notice(item=item, missed=missed, estimate=estimate)
    )


def review_overdue_sweep(*, now: datetime | None = None) -> int:
    """Tell the shop of every pending signature and custom template whose review is past due:
    one notice per item and missed deadline (the estimate moves a working day at a time, so an
    item still pending a day later gets one more apology, not one per sweep). Each item in its
    own transaction; safe to run twice. Returns the notifications created."""
    now = now or timezone.now()
    created = 0
    for model in (Signature, MessageTemplate):
        # The pending queues' partial indexes on due_at serve this (signature/template_queue_idx).
        overdue = model.objects.filter(state=ReviewState.PENDING, due_at__lte=now, shop__isnull=False)
        for item in overdue.order_by("due_at", "pk").iterator():
            with transaction.atomic():
                created += review_overdue_notify(item=item, now=now)
    return created
