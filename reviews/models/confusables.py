"""The confusables table: look-alike, homophone and abbreviated spellings of listed words.

Merchants dodge a word list by writing 薇信 or 威信 for 微信, 扣扣 or 企鹅 for QQ, vx for 微信,
Cyrillic о for o, 東 for 东. Each row maps such a *variant* to the *canonical* spelling the word
lists use (a row of kind "keep" maps a longer phrase to itself: 企鹅玩偶 stays a penguin while
企鹅 alone reads QQ, because the longest variant wins); the matcher
(``reviews.policy.text.evasion_view``) replaces variants in the text and in the listed terms
alike, so every word-list term (and pattern) also catches its variants.

Like a word list, the table is edited by reviewers in the admin and read by the checker only as
an immutable published ``ConfusableRevision``: saving a change publishes the next version
(``reviews.services.confusables.confusables_publish``), and the compiled word lists are rebuilt
for it. There is exactly one table (a row created by the seed migration).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

TABLE_ID = 1  # the single table


class ConfusableKind(models.TextChoices):
    SHAPE = "shape", _("形近字（字形相似）")
    HOMOPHONE = "homophone", _("谐音字/近音字")
    ABBREVIATION = "abbreviation", _("拼音缩写/简称")
    TRADITIONAL = "traditional", _("繁体字/异体字")
    KEEP = "keep", _("保持原样（不替换）")


class ConfusableTable(models.Model):
    """The one confusables table; ``version`` is its latest published revision."""

    name = models.CharField(_("名称"), max_length=64, default="形近字/谐音字表")
    version = models.PositiveIntegerField(_("当前版本"), default=0, editable=False)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("形近字/谐音字表")
        verbose_name_plural = _("形近字/谐音字表")
        constraints = [models.CheckConstraint(condition=Q(id=TABLE_ID), name="confusabletable_single")]

    def __str__(self) -> str:
        return f"{self.name}（v{self.version}）"


class Confusable(models.Model):
    """A variant spelling and the listed spelling it stands for (薇信 → 微信)."""

    table = models.ForeignKey(
        ConfusableTable, on_delete=models.CASCADE, related_name="entries", verbose_name=_("字表"),
        default=TABLE_ID,
    )
    variant = models.CharField(
        _("变体写法"), max_length=32,
        help_text=_("商家用来规避的写法，如“薇信”“扣扣”“vx”；匹配时忽略大小写、全角/半角和空格。"),
    )
    canonical = models.CharField(
        _("对应的词"), max_length=32, blank=True,
        help_text=_("词库中使用的写法，如“微信”“qq”；类型为“保持原样”时可留空。"),
    )
    kind = models.CharField(_("类型"), max_length=16, choices=ConfusableKind.choices)
    note = models.CharField(_("备注"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("形近字/谐音字")
        verbose_name_plural = _("形近字/谐音字")
        ordering = ["canonical", "variant"]
        constraints = [
            models.UniqueConstraint(fields=["table", "variant"], name="confusable_variant_unique"),
            models.CheckConstraint(condition=~Q(variant=""), name="confusable_variant_not_empty"),
            models.CheckConstraint(condition=~Q(canonical=""), name="confusable_canonical_not_empty"),
            # A row kept as written maps to itself; any other row must change something.
            models.CheckConstraint(
                condition=Q(kind=ConfusableKind.KEEP) | ~Q(variant=F("canonical")),
                name="confusable_not_itself",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.variant} → {self.canonical}"

    def clean_fields(self, exclude=None) -> None:
        if self.kind == ConfusableKind.KEEP and not self.canonical:
            self.canonical = self.variant  # kept as written: the canonical spelling is the variant
        super().clean_fields(exclude=exclude)

    def clean(self) -> None:
        # How the pair reads to the checker is validated by reviews.services.confusables.confusable_check
        # (the admin form and confusable_add call it): the model layer does not import the policy code.
        if self.kind == ConfusableKind.KEEP:
            self.canonical = self.variant


class ConfusableRevision(models.Model):
    """An immutable published snapshot of the table; what the checker reads."""

    table = models.ForeignKey(
        ConfusableTable, on_delete=models.PROTECT, related_name="revisions", verbose_name=_("字表")
    )
    version = models.PositiveIntegerField(_("版本"))
    pairs = models.JSONField(_("对照"), default=list, help_text=_("[[变体写法, 对应的词, 类型], ...]"))
    published_at = models.DateTimeField(_("发布时间"), default=timezone.now)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
        related_name="+", verbose_name=_("发布人"),
    )

    class Meta:
        verbose_name = _("形近字/谐音字表版本")
        verbose_name_plural = _("形近字/谐音字表版本")
        ordering = ["-version"]
        constraints = [
            # Race: two reviewers publishing at once; a version is taken once.
            models.UniqueConstraint(fields=["table", "version"], name="confusablerevision_unique"),
        ]

    def __str__(self) -> str:
        return f"v{self.version}"
