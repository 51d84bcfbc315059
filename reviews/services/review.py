"""Generic review services shared by every reviewed kind (signatures, templates).

Contract (every decision goes through here, whatever the route — admin
button, admin action, shell):
- the reviewer's permission is checked first, in the service
  (``item.review_permission`` via ``has_perm`` and django-fsm's
  ``has_transition_perm``); refusal raises ``ReviewPermissionDenied``
  (a ``PermissionDenied``, so the admin answers 403);
- inside one transaction the item row is locked (``SELECT ... FOR UPDATE``)
  and re-read; if it is no longer pending, ``AlreadyDecided`` is raised
  ("已被其他审核员处理") and nothing is written;
- the transition runs, the row is saved (``ConcurrentTransitionMixin`` makes
  the UPDATE conditional on the loaded state as a second guard) and a
  ``ReviewDecision`` audit row is written in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import ConcurrentTransition, has_transition_perm

from reviews.errors import AlreadyDecided, ReasonRequired, ReviewPermissionDenied, StaleConfirmation
from reviews.findings import Finding
from reviews.models.review import (
    RejectReason,
    ReviewAction,
    ReviewDecision,
    ReviewedItem,
    ReviewState,
    may_review,
)
from reviews.services.notices import review_decision_notify
from reviews.sla import review_due_at
from smsmarketing.errors import SmsError

Item = TypeVar("Item", bound=ReviewedItem)


def review_submission_fields(
    *, by, findings: Iterable[Finding] = (), now: datetime | None = None
) -> dict:
    """The review fields of a newly submitted item: times, SLA due date, findings."""
    submitted_at = now or timezone.now()
    return {
        "submitted_at": submitted_at,
        "submitted_by": by,
        "due_at": review_due_at(submitted_at),
        "findings": [f.as_dict() for f in findings],
    }


def review_record(
    *,
    item: ReviewedItem,
    action: str,
    actor,
    from_state: str,
    to_state: str,
    at: datetime,
    reason_code: str = "",
    reason_text: str = "",
) -> ReviewDecision:
    """Append one audit row (call inside the transaction of the change)."""
    return ReviewDecision.objects.create(
        kind=item.review_kind,
        item_id=item.pk,
        shop_id=getattr(item, "shop_id", None),
        action=action,
        actor=actor if getattr(actor, "pk", None) else None,
        from_state=from_state,
        to_state=to_state,
        reason_code=reason_code,
        reason_text=reason_text,
        item_text=item.review_summary(),
        created_at=at,
    )


def review_ensure_reviewer(*, model: type[ReviewedItem], reviewer) -> None:
    """Raise ``ReviewPermissionDenied`` unless ``reviewer`` may decide items of ``model``."""
    if not may_review(model, reviewer):
        raise ReviewPermissionDenied(
            _("您没有审核权限（需要“%(perm)s”权限）。") % {"perm": model.review_permission}
        )


def review_lock_pending(*, item: Item) -> Item:
    """Lock the item's row and return a fresh copy; ``AlreadyDecided`` unless pending.

    Race: two reviewers (or a reviewer and the withdrawing merchant) act on the
    same item at once. The row lock serialises them; the second one re-reads
    the state after the first committed and is refused here.
    """
    fresh = type(item).objects.select_for_update().filter(pk=item.pk).first()
    if fresh is None or fresh.state != ReviewState.PENDING:
        raise AlreadyDecided()
    return fresh


def _save_transition(item: ReviewedItem) -> None:
    try:
        item.save()
    except ConcurrentTransition as exc:  # second guard: the conditional UPDATE
        raise AlreadyDecided() from exc


def review_approve(*, item: Item, reviewer, supersede_within: str | None = None) -> Item:
    """Approve a pending item.

    With ``supersede_within`` (the field that groups items, e.g. ``"shop_id"`` for
    signatures, ``"lineage"`` for template versions), the group's currently approved
    item is superseded in the same transaction, so a group never has two live items.
    """
    review_ensure_reviewer(model=type(item), reviewer=reviewer)
    with transaction.atomic():
        locked = review_lock_pending(item=item)
        if not has_transition_perm(locked.approve, reviewer):
            raise ReviewPermissionDenied()
        now = timezone.now()
        if supersede_within is not None:
            _supersede_live(locked, group_field=supersede_within, by=reviewer, at=now)
        locked.approve(by=reviewer, at=now)
        _save_transition(locked)
        decision = review_record(
            item=locked, action=ReviewAction.APPROVE, actor=reviewer,
            from_state=ReviewState.PENDING, to_state=ReviewState.APPROVED, at=now,
        )
        # The shop's members learn it with the decision's commit (not at all if it rolls back).
        review_decision_notify(item=locked, decision=decision)
    return locked


def _supersede_live(locked: ReviewedItem, *, group_field: str, by, at: datetime) -> None:
    # Lock order: the pending row (locked by review_lock_pending), then the live row,
    # so two approvals in the same group queue behind each other instead of deadlocking.
    group = {group_field: getattr(locked, group_field)}
    live = type(locked).objects.select_for_update().filter(**group, state=ReviewState.APPROVED).first()
    if live is not None:
        review_supersede(item=live, by=by, at=at)


def review_reject(*, item: Item, reviewer, reason_code: str, reason_text: str = "") -> Item:
    """Reject a pending item with a reason code (free text required for “其他”)."""
    review_ensure_reviewer(model=type(item), reviewer=reviewer)
    reason_text = (reason_text or "").strip()
    if reason_code not in RejectReason.values:
        raise ReasonRequired(_("驳回时必须选择驳回原因。"))
    if reason_code == RejectReason.OTHER and not reason_text:
        raise ReasonRequired(_("驳回原因为“其他”时必须填写说明。"))
    with transaction.atomic():
        locked = review_lock_pending(item=item)
        if not has_transition_perm(locked.reject, reviewer):
            raise ReviewPermissionDenied()
        now = timezone.now()
        locked.reject(by=reviewer, at=now, reason_code=reason_code, reason_text=reason_text)
        _save_transition(locked)
        decision = review_record(
            item=locked, action=ReviewAction.REJECT, actor=reviewer,
            from_state=ReviewState.PENDING, to_state=ReviewState.REJECTED, at=now,
            reason_code=reason_code, reason_text=reason_text,
        )
        review_decision_notify(item=locked, decision=decision)
    return locked


def review_withdraw_token(item: ReviewedItem) -> str:
    """The token a withdrawal's confirmation carries: which item, submitted when. The POST is
    refused when the pending item is no longer the one the merchant confirmed."""
    return f"{item.pk}-{int(item.submitted_at.timestamp())}"


def review_withdraw(*, item: Item, by, token: str | None = None) -> Item:
    """The submitter withdraws a pending item (the caller checks it is theirs). With ``token``
    (the portal's confirmation), the item must be the one confirmed."""
    if token is not None and token != review_withdraw_token(item):
        raise StaleConfirmation(_("待审核的申请已变化，请重新确认后再撤回。"))
    with transaction.atomic():
        locked = review_lock_pending(item=item)
        now = timezone.now()
        locked.withdraw(at=now)
        _save_transition(locked)
        review_record(
            item=locked, action=ReviewAction.WITHDRAW, actor=by,
            from_state=ReviewState.PENDING, to_state=ReviewState.WITHDRAWN, at=now,
        )
    return locked


def review_supersede(*, item: ReviewedItem, by, at: datetime) -> ReviewedItem:
    """Retire an approved item replaced by a newer one (call inside the approving transaction)."""
    item.supersede(at=at)
    _save_transition(item)
    review_record(
        item=item, action=ReviewAction.SUPERSEDE, actor=by,
        from_state=ReviewState.APPROVED, to_state=ReviewState.SUPERSEDED, at=at,
    )
    return item


@dataclass
class BulkApproveResult:
    approved: list = field(default_factory=list)
    skipped: list[tuple[object, str]] = field(default_factory=list)  # (item, why)


def review_bulk_approve(
    *,
    items: Iterable[Item],
    reviewer,
    findings_of: Callable[[Item], list[Finding]],
    approve: Callable[..., Item] | None = None,
) -> BulkApproveResult:
    """Approve each pending item that has no automatic finding *now*; skip the rest.

    Each item is decided in its own transaction (one item's conflict does not
    undo the others). ``approve`` defaults to ``review_approve`` and is called
    as ``approve(item=..., reviewer=...)`` (a kind passes its own service).
    """
    approve = approve or review_approve
    result = BulkApproveResult()
    items = list(items)
    if items:
        review_ensure_reviewer(model=type(items[0]), reviewer=reviewer)
    for item in items:
        if item.state != ReviewState.PENDING:
            result.skipped.append((item, _("不是待审核状态")))
            continue
        if findings_of(item):
            result.skipped.append((item, _("有自动检查发现，需逐条审核")))
            continue
        try:
            result.approved.append(approve(item=item, reviewer=reviewer))
        except ReviewPermissionDenied:
            raise
        except SmsError as exc:  # already decided by someone else, shop now restricted, ...
            result.skipped.append((item, exc.message))
    return result
