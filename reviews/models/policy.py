"""Content-policy data: versioned word lists with their exceptions, and template variables.

Word lists (Advertising Law terms, review bait, off-site and impersonation terms)
are edited by reviewers in the admin. The checker never reads the editable rows
directly: it reads the list's latest ``WordListRevision``, an immutable snapshot
written by ``reviews.policy.services.wordlist_publish`` whenever the terms or
exceptions change. A finding records the version it came from, so the exact
terms behind any past finding can be read back.

An *exception* is an allowed phrase that contains a banned term (第一次 for 第一,
人群 for 群, QQ音乐 for QQ): a banned match lying entirely inside an exception
match is not reported. Exceptions are data like the terms.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from reviews.choices import ContentUse


class Severity(models.TextChoices):
    BLOCK = "block", _("禁止（不能提交）")
    WARN = "warn", _("提醒（人工判断）")


class WordList(models.Model):
    """One word list of a content rule (TPL-ADLAW, TPL-REVIEW-BAIT, TPL-OFFSITE, TPL-IMPERSONATE)."""

    class Rule(models.TextChoices):
        ADLAW = "TPL-ADLAW", _("广告法禁用词/绝对化用语")
        REVIEW_BAIT = "TPL-REVIEW-BAIT", _("好评诱导")
        OFFSITE = "TPL-OFFSITE", _("引导站外/私人联系方式")
        IMPERSONATE = "TPL-IMPERSONATE", _("冒充平台官方")

    rule = models.CharField(_("规则编号"), max_length=32, choices=Rule.choices, unique=True)
    name = models.CharField(_("名称"), max_length=64)
    message = models.CharField(
        _("提示信息"), max_length=200, help_text=_("展示给商家的问题说明，{term} 会替换为命中的词。")
    )
    hint = models.CharField(_("修改建议"), max_length=200)
    version = models.PositiveIntegerField(
        _("当前版本"), default=0, editable=False, help_text=_("每次词条或例外修改后发布新版本。")
    )
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("内容词库")
        verbose_name_plural = _("内容词库")
        ordering = ["rule"]

    def __str__(self) -> str:
        return f"{self.name}（{self.rule} v{self.version}）"


class WordListTerm(models.Model):
    """A banned term. Matched after NFKC, case folding and removing spaces/interference marks."""

    wordlist = models.ForeignKey(
        WordList, on_delete=models.CASCADE, related_name="terms", verbose_name=_("词库")
    )
    term = models.CharField(_("词"), max_length=64)
    severity = models.CharField(_("级别"), max_length=8, choices=Severity.choices, default=Severity.BLOCK)
    note = models.CharField(_("备注"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("禁用词")
        verbose_name_plural = _("禁用词")
        ordering = ["term"]
        constraints = [
            models.UniqueConstraint(fields=["wordlist", "term"], name="wordlistterm_unique"),
            models.CheckConstraint(condition=~Q(term=""), name="wordlistterm_not_empty"),
        ]

    def __str__(self) -> str:
        return self.term


class WordListException(models.Model):
    """An allowed phrase containing a banned term; masks the banned term inside it."""

    wordlist = models.ForeignKey(
        WordList, on_delete=models.CASCADE, related_name="exceptions", verbose_name=_("词库")
    )
    phrase = models.CharField(_("允许的词"), max_length=64)
    note = models.CharField(_("备注"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("例外（允许的词）")
        verbose_name_plural = _("例外（允许的词）")
        ordering = ["phrase"]
        constraints = [
            models.UniqueConstraint(fields=["wordlist", "phrase"], name="wordlistexception_unique"),
            models.CheckConstraint(condition=~Q(phrase=""), name="wordlistexception_not_empty"),
        ]

    def __str__(self) -> str:
        return self.phrase


class WordListRevision(models.Model):
    """An immutable published snapshot of a word list; what the checker reads."""

    wordlist = models.ForeignKey(
        WordList, on_delete=models.PROTECT, related_name="revisions", verbose_name=_("词库")
    )
    version = models.PositiveIntegerField(_("版本"))
    terms = models.JSONField(_("禁用词"), default=list, help_text=_("[[词, 级别], ...]"))
    exceptions = models.JSONField(_("例外"), default=list, help_text=_("[允许的词, ...]"))
    published_at = models.DateTimeField(_("发布时间"), default=timezone.now)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
        related_name="+", verbose_name=_("发布人"),
    )

    class Meta:
        verbose_name = _("词库版本")
        verbose_name_plural = _("词库版本")
        ordering = ["wordlist", "-version"]
        constraints = [
            # Race: two reviewers publishing the same list at once; the version is taken once.
            models.UniqueConstraint(fields=["wordlist", "version"], name="wordlistrevision_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.wordlist.rule} v{self.version}"


variable_name_validator = RegexValidator(
    r"^[a-z][a-z0-9_]{0,31}$", _("变量名只能包含小写字母、数字和下划线，并以字母开头。")
)


class TemplateVariable(models.Model):
    """A variable merchants insert from the picker; stored in texts as ``${name}``.

    Filled with real data at send time (links are generated by the platform).
    ``max_length`` is the longest rendered value: length and parts are computed
    with every variable at this length, and senders must not exceed it.
    """

    class Type(models.TextChoices):
        TEXT = "text", _("文本")
        MONEY = "money", _("金额")
        DATE = "date", _("日期")
        LINK = "link", _("链接")

    name = models.CharField(_("变量名"), max_length=32, unique=True, validators=[variable_name_validator])
    label = models.CharField(_("中文名称"), max_length=32)
    type = models.CharField(_("类型"), max_length=8, choices=Type.choices)
    example = models.CharField(_("示例值"), max_length=64)
    max_length = models.PositiveSmallIntegerField(
        _("最大长度"), validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("发送时变量内容的最大字数，计算字数和条数时按此长度计。"),
    )
    uses = ArrayField(
        models.CharField(max_length=16, choices=ContentUse.choices),
        verbose_name=_("可用于"), default=list, help_text=_("可以使用该变量的场景。"),
    )
    position = models.PositiveSmallIntegerField(_("排序"), default=0)
    active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("模板变量")
        verbose_name_plural = _("模板变量")
        ordering = ["position", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_length__gte=1) & Q(max_length__lte=100),
                name="templatevariable_max_length_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label}（${{{self.name}}}）"

    @property
    def token(self) -> str:
        return "${" + self.name + "}"
