"""The shared review machinery: FSM states, reject reasons and the audit trail.

``ReviewedItem`` is the abstract base of everything a platform reviewer
decides on (signatures, custom templates). A concrete model sets
``review_kind`` (a short code used in the audit trail and reports) and
``review_permission`` (the ``app_label.codename`` a reviewer needs), and
declares that permission in its ``Meta.permissions``.

The state field is protected (only transitions change it) and the model uses
django-fsm-2's ``ConcurrentTransitionMixin``: ``save()`` after a transition is
an ``UPDATE ... WHERE id = %s AND state = <state when loaded>``, so a stale
copy can never overwrite another reviewer's decision. Services additionally
lock the row first (``reviews.services.review``) so the loser gets a clear
"already decided" error instead of a half-done write.

``ReviewDecision`` is the append-only audit trail: one row per transition
(submit, approve, reject, withdraw, supersede). The model refuses updates and
deletes, and a PostgreSQL trigger (migration 0002) refuses them for any SQL.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, transition


class ReviewState(models.TextChoices):
    PENDING = "pending", _("待审核")
    APPROVED = "approved", _("已通过")
    REJECTED = "rejected", _("已驳回")
    WITHDRAWN = "withdrawn", _("已撤回")
    SUPERSEDED = "superseded", _("已被替换")


class RejectReason(models.TextChoices):
    """Reject reason codes a reviewer picks from (plus free text)."""

    SHOP_MISMATCH = "shop_mismatch", _("签名与店铺名称不符")
    BANNED_WORDS = "banned_words", _("含违禁词")
    PLATFORM_BRAND = "platform_brand", _("冒用平台品牌")
    GENERIC = "generic", _("通用/中性签名")
    REVIEW_BAIT = "review_bait", _("诱导好评")
    OFFSITE = "offsite", _("引流站外或含联系方式/链接")
    INCOMPLETE = "incomplete", _("内容不完整或变量使用不当")
    TYPO = "typo", _("错别字或语句不通")  # templates: left to the reviewer by the automatic rules
    OTHER = "other", _("其他")


class ReviewAction(models.TextChoices):
    SUBMIT = "submit", _("提交")
    APPROVE = "approve", _("通过")
    REJECT = "reject", _("驳回")
    WITHDRAW = "withdraw", _("撤回")
    SUPERSEDE = "supersede", _("被新版本替换")


def may_review(instance: ReviewedItem, user) -> bool:
    """The transition permission of approve/reject: the kind's review permission."""
    return bool(
        user is not None
        and user.is_active
        and user.is_staff
        and user.has_perm(instance.review_permission)
    )


class ReviewedItem(ConcurrentTransitionMixin, models.Model):
    """Abstract base of an item under platform review (see module docstring)."""

    review_kind: ClassVar[str] = ""
    review_permission: ClassVar[str] = ""

    state = FSMField(
        _("审核状态"),
        max_length=16,
        choices=ReviewState.choices,
        default=ReviewState.PENDING,
        protected=True,
    )
    submitted_at = models.DateTimeField(_("提交时间"), default=timezone.now)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("提交人"),
    )
    due_at = models.DateTimeField(_("预计审核完成时间"), help_text=_("提交时间 + 3 个工作日"))
    decided_at = models.DateTimeField(_("处理时间"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("审核员"),
    )
    reason_code = models.CharField(
        _("驳回原因"), max_length=32, choices=RejectReason.choices, blank=True
    )
    reason_text = models.TextField(_("驳回说明"), blank=True)
    findings = models.JSONField(
        _("提交时的自动检查结果"), default=list, blank=True,
        help_text=_("提交时自动规则的发现（规则编号、位置、提示）。"),
    )
    superseded_at = models.DateTimeField(_("被替换时间"), null=True, blank=True)
    # The findings against the policy of the last check, and a fingerprint of every input they
    # depend on (reviews.policy.fingerprint). The queue shows them while the fingerprint
    # computed now is equal, and recomputes and stores them when it is not; the decision page
    # and approvals always recompute.
    checked_findings = models.JSONField(_("最近一次自动检查结果"), default=list, blank=True, editable=False)
    checked_key = models.CharField(_("检查依据指纹"), max_length=40, blank=True, default="", editable=False)

    class Meta:
        abstract = True

    # Transitions are tiny: they only set the fields of the state change.
    # Services check permission, lock the row, run them and save atomically.
    # They are shared by every subclass: django-fsm-2 keeps one FSMMeta per
    # function and re-points its ``field`` at the last subclass prepared. That
    # is harmless because every subclass inherits the same ``state`` field and
    # the permission is a callable reading the instance's own
    # ``review_permission`` (tests/reviews/test_review_admin.py checks it).

    @transition(field=state, source=ReviewState.PENDING, target=ReviewState.APPROVED, permission=may_review)
    def approve(self, *, by, at) -> None:
        self.decided_by = by
        self.decided_at = at
        self.reason_code = ""
        self.reason_text = ""

    @transition(field=state, source=ReviewState.PENDING, target=ReviewState.REJECTED, permission=may_review)
    def reject(self, *, by, at, reason_code: str, reason_text: str) -> None:
        self.decided_by = by
        self.decided_at = at
        self.reason_code = reason_code
        self.reason_text = reason_text

    @transition(field=state, source=ReviewState.PENDING, target=ReviewState.WITHDRAWN)
    def withdraw(self, *, at) -> None:
        self.decided_at = at

    @transition(field=state, source=ReviewState.APPROVED, target=ReviewState.SUPERSEDED)
    def supersede(self, *, at) -> None:
        self.superseded_at = at

    @property
    def is_overdue(self) -> bool:
        return self.state == ReviewState.PENDING and self.due_at is not None and self.due_at < timezone.now()

    def review_summary(self) -> str:
        """A one-line snapshot of the item for the audit trail."""
        return str(self)


class ReviewDecisionQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ImmutableAuditRecord(_("审核记录不可修改。"))

    def delete(self):
        raise ImmutableAuditRecord(_("审核记录不可删除。"))


class ImmutableAuditRecord(Exception):
    """Raised on any attempt to change or delete a ``ReviewDecision``."""


class ReviewDecision(models.Model):
    """One transition of a reviewed item; append-only (model + database trigger)."""

    kind = models.CharField(_("类型"), max_length=32)
    item_id = models.BigIntegerField(_("对象编号"))
    shop = models.ForeignKey(
        "smsmarketing.Shop",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="review_decisions",
        verbose_name=_("店铺"),
    )
    action = models.CharField(_("操作"), max_length=16, choices=ReviewAction.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="review_decisions",
        verbose_name=_("操作人"),
        help_text=_("审核员、提交/撤回的商家；为空表示系统。"),
    )
    from_state = models.CharField(_("原状态"), max_length=16, choices=ReviewState.choices, blank=True)
    to_state = models.CharField(_("新状态"), max_length=16, choices=ReviewState.choices)
    reason_code = models.CharField(_("驳回原因"), max_length=32, choices=RejectReason.choices, blank=True)
    reason_text = models.TextField(_("说明"), blank=True)
    item_text = models.TextField(_("内容快照"), blank=True)
    created_at = models.DateTimeField(_("时间"), default=timezone.now)

    objects = ReviewDecisionQuerySet.as_manager()

    class Meta:
        verbose_name = _("审核记录")
        verbose_name_plural = _("审核记录")
        ordering = ["-created_at", "-id"]
        indexes = [
            # The history of one item (admin change page, merchant history).
            models.Index(fields=["kind", "item_id"], name="reviewdecision_item_idx"),
            # review_report: decisions of a kind within a date range.
            models.Index(fields=["kind", "created_at"], name="reviewdecision_kind_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}#{self.item_id} {self.get_action_display()} @ {self.created_at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise ImmutableAuditRecord(_("审核记录不可修改。"))
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableAuditRecord(_("审核记录不可删除。"))
