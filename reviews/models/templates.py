"""Message templates (短信模板): official ones and merchants' custom ones.

- Official templates (``origin=official``, no shop) are written by the platform
  and usable at once: they are created approved and never enter the queue.
- Custom templates (``origin=custom``) belong to a shop and go through the same
  review as signatures (``ReviewedItem``): pending → approved | rejected,
  pending → withdrawn, approved → superseded.

A row's text never changes after it is submitted. Editing a template creates a
new *version*: a new row in the same ``lineage`` with ``version + 1``, reviewed
again; while it is pending the approved version stays usable, and approving
it supersedes the old one (like a signature change). At most one pending and
one approved version per lineage, by construction (partial unique constraints).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from reviews.choices import ContentUse, MessageClass
from reviews.models.review import ReviewedItem, ReviewState


class TemplateOrigin(models.TextChoices):
    OFFICIAL = "official", _("官方模板")
    CUSTOM = "custom", _("自定义模板")


# The uses a template may be created for (free-text SMS marketing needs no template).
TEMPLATE_USE_CHOICES = [(ContentUse.COUPON.value, ContentUse.COUPON.label),
                        (ContentUse.REPURCHASE.value, ContentUse.REPURCHASE.label)]


class MessageTemplate(ReviewedItem):
    review_kind = "template"
    review_permission = "reviews.review_template"

    origin = models.CharField(
        _("来源"), max_length=16, choices=TemplateOrigin.choices, default=TemplateOrigin.CUSTOM
    )
    shop = models.ForeignKey(
        "smsmarketing.Shop", on_delete=models.CASCADE, null=True, blank=True,
        related_name="message_templates", verbose_name=_("店铺"),
    )
    name = models.CharField(_("模板名称"), max_length=40)
    use = models.CharField(_("用途"), max_length=16, choices=TEMPLATE_USE_CHOICES, default=ContentUse.COUPON)
    message_class = models.CharField(
        _("短信类型"), max_length=16, choices=MessageClass.choices, default=MessageClass.MARKETING
    )
    text = models.TextField(_("模板内容"), help_text=_("变量以 ${name} 形式保存，由“插入变量”添加。"))
    lineage = models.UUIDField(_("模板编号"), default=uuid.uuid4, editable=False, db_index=True)
    version = models.PositiveIntegerField(_("版本"), default=1)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("短信模板")
        verbose_name_plural = _("短信模板")
        ordering = ["-submitted_at", "-id"]
        permissions = [("review_template", "可以审核短信模板")]
        constraints = [
            models.UniqueConstraint(fields=["lineage", "version"], name="template_lineage_version_unique"),
            # Race: two edits of one template submitted at once; the loser gets IntegrityError.
            models.UniqueConstraint(
                fields=["lineage"], condition=Q(state=ReviewState.PENDING),
                name="template_one_pending_version",
            ),
            # Race: two versions approved at once; only one version of a template is live.
            models.UniqueConstraint(
                fields=["lineage"], condition=Q(state=ReviewState.APPROVED), name="template_one_live_version"
            ),
            models.CheckConstraint(
                condition=(Q(origin=TemplateOrigin.OFFICIAL, shop__isnull=True)
                           | Q(origin=TemplateOrigin.CUSTOM, shop__isnull=False)),
                name="template_shop_iff_custom",
            ),
            models.CheckConstraint(condition=~Q(text=""), name="template_text_not_empty"),
        ]
        indexes = [
            # The reviewers' queue: pending custom templates ordered by due time.
            models.Index(
                fields=["due_at"], condition=Q(state=ReviewState.PENDING), name="template_queue_idx"
            ),
            # The queue page (the admin changelist, origin=custom): its rows in index order and
            # its paginator's count as an index-only scan, not a scan of every template's row.
            models.Index(
                fields=["due_at", "id"],
                condition=Q(state=ReviewState.PENDING, origin="custom"),
                name="template_custom_queue_idx",
            ),
            # usable_templates(shop=..., use=...): a shop's approved templates of a use.
            models.Index(
                fields=["shop", "use"], condition=Q(state=ReviewState.APPROVED), name="template_usable_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    def review_summary(self) -> str:
        return f"{self.name} v{self.version}：{self.text}"

    @property
    def is_official(self) -> bool:
        return self.origin == TemplateOrigin.OFFICIAL


class OfficialTemplate(MessageTemplate):
    """Official templates only (the platform's admin page to write them)."""

    class Meta:
        proxy = True
        verbose_name = _("官方短信模板")
        verbose_name_plural = _("官方短信模板")
