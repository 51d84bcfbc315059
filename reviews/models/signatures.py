"""Signatures (短信签名) and the word lists of their rules."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from reviews.models.review import ReviewedItem, ReviewState


class Signature(ReviewedItem):
    """A shop's signature, the 【…】 prefix of every message; reviewed before use.

    At most one pending and one approved (live) signature per shop; approving
    a new one supersedes the live one in the same transaction.
    """

    review_kind = "signature"
    review_permission = "reviews.review_signature"

    shop = models.ForeignKey(
        "smsmarketing.Shop", on_delete=models.CASCADE, related_name="signatures", verbose_name=_("店铺")
    )
    text = models.CharField(_("签名"), max_length=32)
    normalized = models.CharField(
        _("规范化签名"), max_length=64, editable=False,
        help_text=_("NFKC 规范化并忽略大小写后的签名，用于查重。"),
    )

    class Meta:
        verbose_name = _("短信签名")
        verbose_name_plural = _("短信签名")
        ordering = ["-submitted_at", "-id"]
        permissions = [("review_signature", "可以审核短信签名")]
        constraints = [
            # Race: two submissions of one shop at once; the loser gets IntegrityError.
            models.UniqueConstraint(
                fields=["shop"], condition=Q(state=ReviewState.PENDING), name="signature_one_pending_per_shop"
            ),
            # Race: two approvals for one shop; only one live signature can exist.
            models.UniqueConstraint(
                fields=["shop"], condition=Q(state=ReviewState.APPROVED), name="signature_one_live_per_shop"
            ),
            # SIG-DUPLICATE by construction: two shops submitting the same text at once.
            models.UniqueConstraint(
                fields=["normalized"],
                condition=Q(state__in=[ReviewState.PENDING, ReviewState.APPROVED]),
                name="signature_normalized_in_use_unique",
            ),
        ]
        indexes = [
            # The reviewers' queue: pending signatures ordered by due time.
            models.Index(
                fields=["due_at"], condition=Q(state=ReviewState.PENDING), name="signature_queue_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"【{self.text}】"

    def review_summary(self) -> str:
        return f"【{self.text}】"


class NeutralName(models.Model):
    """A neutral/generic name that may not be used as a signature (SIG-NEUTRAL)."""

    class Match(models.TextChoices):
        EXACT = "exact", _("整个签名等于该词")
        CONTAINS = "contains", _("签名包含该词")

    term = models.CharField(_("词"), max_length=32, unique=True)
    match = models.CharField(_("匹配方式"), max_length=16, choices=Match.choices, default=Match.EXACT)
    active = models.BooleanField(_("启用"), default=True)
    note = models.CharField(_("备注"), max_length=128, blank=True)

    class Meta:
        verbose_name = _("通用/中性签名词")
        verbose_name_plural = _("通用/中性签名词")
        ordering = ["term"]

    def __str__(self) -> str:
        return self.term


class PlatformBrandTerm(models.Model):
    """A spelling of the platform's own brand a signature may not contain (SIG-PLATFORM)."""

    term = models.CharField(_("品牌词"), max_length=32, unique=True)
    active = models.BooleanField(_("启用"), default=True)
    note = models.CharField(_("备注"), max_length=128, blank=True)

    class Meta:
        verbose_name = _("平台品牌词")
        verbose_name_plural = _("平台品牌词")
        ordering = ["term"]

    def __str__(self) -> str:
        return self.term
