"""Pattern rules and reviewer-taught rule proposals.

A *pattern* catches an intent that no single word carries: a reward within a few characters of
好评/五星/晒图 (a review bribe), 关注 followed by 公众号/抖音 (an off-platform redirect). It is data a
reviewer edits in the admin: two groups of terms, the largest gap between them, whether their order
matters, exceptions (phrases that mask a term inside them, like a word list's), the rule id, message
and hint, and its own tests (texts it must flag, texts it must leave alone). Editing saves a draft;
publishing runs the tests and writes an immutable ``PatternRevision`` that the checker reads, exactly
like word lists (``WordList`` / ``WordListRevision``).

A *rule proposal* is a reviewer's judgement on a rejected item turned into a rule: the span she
selected becomes a new word-list term, a confusable (look-alike of a listed word) or a pattern. It
waits for a second reviewer, who sees a dry run (how many pending and recently reviewed items it would
flag) and publishes it, or declines it.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from reviews.models.policy import Severity, WordList

# The rules a proposal may teach: the word-list rules (templates) and the signature lists'.
SIGNATURE_RULES = {"SIG-NEUTRAL": _("通用/中性签名"), "SIG-PLATFORM": _("冒用平台品牌")}
PROPOSAL_RULES = [*WordList.Rule.choices, *SIGNATURE_RULES.items()]

# The largest gap (characters of the matched text, spaces and marks removed) a pattern may span.
MAX_PATTERN_GAP = 30


class ContentPattern(models.Model):
    """A pattern rule (draft fields); the checker reads its latest ``PatternRevision``."""

    rule = models.CharField(_("规则编号"), max_length=32, choices=WordList.Rule.choices)
    name = models.CharField(_("名称"), max_length=64, unique=True)
    first_terms = models.TextField(
        _("第一组词"), help_text=_("每行一个词（也可用顿号、逗号分隔），例如：好评、五星、晒图、追评。")
    )
    second_terms = models.TextField(_("第二组词"), help_text=_("每行一个词，例如：返现、红包、送、有礼。"))
    max_gap = models.PositiveSmallIntegerField(
        _("最大间隔字数"),
        default=6,
        validators=[MaxValueValidator(MAX_PATTERN_GAP)],
        help_text=_("两组词之间最多相隔的字数（不计空格和符号）；不跨句号、问号、感叹号。"),
    )
    ordered = models.BooleanField(
        _("第一组词必须在前"), default=False, help_text=_("不勾选时两组词出现的先后不限。")
    )
    exceptions = models.TextField(
        _("例外（允许的词）"),
        blank=True,
        help_text=_("含有上面某个词但允许的说法，每行一个，例如：好评如潮、五星级。"),
    )
    severity = models.CharField(_("级别"), max_length=8, choices=Severity.choices, default=Severity.BLOCK)
    message = models.CharField(
        _("提示信息"), max_length=200, help_text=_("展示给商家的问题说明，{term} 会替换为命中的文字。")
    )
    hint = models.CharField(_("修改建议"), max_length=200)
    examples = models.TextField(
        _("应命中的例句"), blank=True, help_text=_("每行一句；发布前逐句检查，必须全部命中。")
    )
    counter_examples = models.TextField(
        _("不应命中的例句"), blank=True, help_text=_("每行一句；发布前逐句检查，一句也不能命中。")
    )
    active = models.BooleanField(_("启用"), default=True, help_text=_("停用后发布，检查即不再使用该规则。"))
    version = models.PositiveIntegerField(
        _("当前版本"), default=0, editable=False, help_text=_("发布后才对检查生效。")
    )
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("组合规则")
        verbose_name_plural = _("组合规则")
        ordering = ["rule", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_gap__lte=MAX_PATTERN_GAP), name="contentpattern_gap_range"
            ),
            models.CheckConstraint(
                condition=~Q(first_terms="") & ~Q(second_terms=""), name="contentpattern_terms_not_empty"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name}（{self.rule} v{self.version}）"


class PatternRevision(models.Model):
    """An immutable published snapshot of a pattern; what the checker reads."""

    pattern = models.ForeignKey(
        ContentPattern, on_delete=models.PROTECT, related_name="revisions", verbose_name=_("组合规则")
    )
    version = models.PositiveIntegerField(_("版本"))
    definition = models.JSONField(
        _("规则内容"),
        help_text=_(
            "rule, first_terms, second_terms, max_gap, ordered, exceptions, severity, message, hint, active"
        ),
    )
    published_at = models.DateTimeField(_("发布时间"), default=timezone.now)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("发布人"),
    )

    class Meta:
        verbose_name = _("组合规则版本")
        verbose_name_plural = _("组合规则版本")
        ordering = ["pattern", "-version"]
        constraints = [
            # Race: two reviewers publishing the same pattern at once; the version is taken once.
            models.UniqueConstraint(fields=["pattern", "version"], name="patternrevision_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.pattern.name} v{self.version}"


class ProposalKind(models.TextChoices):
    TERM = "term", _("新增禁用词")
    CONFUSABLE = "confusable", _("新增形近/谐音字词")
    PATTERN = "pattern", _("新增组合规则")


class ProposalStatus(models.TextChoices):
    PENDING = "pending", _("待复核")
    PUBLISHED = "published", _("已发布")
    DECLINED = "declined", _("未采纳")


class RuleProposal(models.Model):
    """A rule taught by a reviewer on a rejected item, waiting for a second reviewer."""

    kind = models.CharField(_("提案类型"), max_length=16, choices=ProposalKind.choices)
    rule = models.CharField(_("规则编号"), max_length=32, choices=PROPOSAL_RULES)
    status = models.CharField(
        _("状态"), max_length=16, choices=ProposalStatus.choices, default=ProposalStatus.PENDING
    )
    text = models.CharField(
        _("选中的文字"),
        max_length=64,
        help_text=_("禁用词：该词；形近/谐音：变体写法；组合规则：第一组词。"),
    )
    canonical = models.CharField(
        _("对应的词"),
        max_length=64,
        blank=True,
        help_text=_("形近/谐音：被模仿的词（如“微信”）；组合规则：第二组词。"),
    )
    max_gap = models.PositiveSmallIntegerField(
        _("最大间隔字数"), null=True, blank=True, validators=[MaxValueValidator(MAX_PATTERN_GAP)]
    )
    severity = models.CharField(_("级别"), max_length=8, choices=Severity.choices, default=Severity.BLOCK)
    item_kind = models.CharField(_("来源类型"), max_length=16)
    item_id = models.PositiveBigIntegerField(_("来源编号"))
    item_text = models.TextField(_("来源文本"))
    span_start = models.PositiveIntegerField(_("选中起点"))
    span_end = models.PositiveIntegerField(_("选中终点"))
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("提出人")
    )
    proposed_at = models.DateTimeField(_("提出时间"), default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("复核人"),
    )
    decided_at = models.DateTimeField(_("复核时间"), null=True, blank=True)
    decline_reason = models.CharField(_("未采纳原因"), max_length=200, blank=True)
    published_version = models.PositiveIntegerField(_("发布的版本"), null=True, blank=True)
    pattern = models.ForeignKey(
        ContentPattern,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("生成的组合规则"),
    )
    # The dry run the second reviewer saw, recomputed and recorded when she published.
    dry_run_pending = models.PositiveIntegerField(_("试算：待审核命中"), null=True, blank=True)
    dry_run_reviewed = models.PositiveIntegerField(_("试算：已审核命中"), null=True, blank=True)
    dry_run_approved = models.PositiveIntegerField(_("试算：其中已通过"), null=True, blank=True)

    class Meta:
        verbose_name = _("规则提案")
        verbose_name_plural = _("规则提案")
        ordering = ["-proposed_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(span_end__gt=F("span_start")), name="ruleproposal_span"),
            models.CheckConstraint(condition=~Q(text=""), name="ruleproposal_text_not_empty"),
            # The four-eyes rule by construction: whoever decides is not who proposed.
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("proposed_by")),
                name="ruleproposal_second_reviewer",
            ),
            models.CheckConstraint(
                condition=Q(status=ProposalStatus.PENDING, decided_at__isnull=True)
                | Q(~Q(status=ProposalStatus.PENDING), decided_at__isnull=False, decided_by__isnull=False),
                name="ruleproposal_decided_iff_not_pending",
            ),
            # Race: two reviewers proposing the same thing at once; one pending proposal per content.
            models.UniqueConstraint(
                fields=["kind", "rule", "text", "canonical"],
                condition=Q(status=ProposalStatus.PENDING),
                name="ruleproposal_one_pending",
            ),
        ]
        indexes = [
            # The proposals queue: pending first, oldest first.
            models.Index(
                fields=["proposed_at"],
                condition=Q(status=ProposalStatus.PENDING),
                name="ruleproposal_pending_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display()} {self.rule}：{self.text}"
