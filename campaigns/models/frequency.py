"""Frequency control: rules as data, promotion periods, counters and opt-outs.

The service that reads and writes these lives in ``campaigns.services.frequency``
(decisions, counters) and ``campaigns.services.optouts`` (opt-outs).

Counters are deliberately compact (the platform keeps about a million of them):
the phone is stored as a ``bigint`` (an 11-digit mainland mobile number), the day
as a ``date`` (calendar day in Asia/Shanghai), one ``integer`` per message
class (no wider than ``smallint`` once PostgreSQL aligns the row, and it cannot
overflow), and the key is the composite primary key itself (no surrogate id, no
second index). In PostgreSQL both counter tables are partitioned by ``day`` (one partition
per day and a default one: migration 0027, ``campaigns.services.frequency_partitions``);
the models do not need to know.
"""

from __future__ import annotations

import unicodedata

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateRangeField, RangeOperators
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from smsmarketing.models import Shop


class MessageClass(models.TextChoices):
    """短信类型: what a message is, which decides the caps and opt-outs that apply."""

    MARKETING = "marketing", _("营销")
    NOTIFY_UNSUB = "notify_unsub", _("可退订通知")
    NOTIFY = "notify", _("不可退订通知")


# Classes a customer can unsubscribe from (OPTED-OUT applies to them).
UNSUBSCRIBABLE_CLASSES = frozenset({MessageClass.MARKETING.value, MessageClass.NOTIFY_UNSUB.value})


class RuleScope(models.TextChoices):
    PLATFORM = "platform", _("全平台（所有店铺合计）")
    SHOP = "shop", _("同一店铺")


class RuleSet(models.Model):
    """A named set of frequency rules. ``version`` goes up on every change of its rules."""

    name = models.CharField(_("规则集名称"), max_length=64, unique=True)
    is_default = models.BooleanField(
        _("默认规则集"),
        default=False,
        help_text=_("大促期间以外使用的规则集；只能有一个。"),
    )
    version = models.PositiveIntegerField(_("版本"), default=1, editable=False)
    description = models.CharField(_("说明"), max_length=200, blank=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("频控规则集")
        verbose_name_plural = _("频控规则集")
        ordering = ["-is_default", "name"]
        constraints = [
            # Exactly one default: decisions outside promotion periods must find it.
            models.UniqueConstraint(
                fields=["is_default"],
                condition=Q(is_default=True),
                name="ruleset_single_default",
                violation_error_message=_("只能有一个默认规则集。"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class FrequencyRule(models.Model):
    """One cap: at most ``limit`` messages of a class to one phone in a window of days."""

    ruleset = models.ForeignKey(
        RuleSet, on_delete=models.CASCADE, related_name="rules", verbose_name=_("规则集")
    )
    rule_id = models.CharField(
        _("规则编号"),
        max_length=40,
        validators=[
            RegexValidator(r"^FREQ-[A-Z0-9-]+$", _("规则编号须形如 FREQ-XXX（大写字母、数字、横线）。")),
        ],
    )
    scope = models.CharField(_("范围"), max_length=16, choices=RuleScope.choices)
    message_class = models.CharField(_("短信类型"), max_length=16, choices=MessageClass.choices)
    window_days = models.PositiveSmallIntegerField(
        _("窗口（自然日）"),
        validators=[MinValueValidator(1), MaxValueValidator(2)],
        help_text=_("1 = 当天；2 = 当天及前一天（上海时间自然日）。"),
    )
    limit = models.PositiveSmallIntegerField(_("上限（条）"))

    class Meta:
        verbose_name = _("频控规则")
        verbose_name_plural = _("频控规则")
        ordering = ["ruleset", "scope", "window_days", "rule_id"]
        constraints = [
            models.UniqueConstraint(fields=["ruleset", "rule_id"], name="frequencyrule_unique_id"),
            models.CheckConstraint(
                condition=Q(window_days__in=[1, 2]),
                name="frequencyrule_window_1_or_2",
                violation_error_message=_("窗口只能是 1 或 2 个自然日。"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id}: {self.limit}/{self.window_days}d"


class DateRange(models.Func):
    """``daterange(start, end, '[]')``: an inclusive range of calendar days."""

    function = "daterange"
    output_field = DateRangeField()


class PromotionPeriod(models.Model):
    """大促: a date range (inclusive, Asia/Shanghai days) in which ``ruleset`` replaces the default."""

    name = models.CharField(_("大促名称"), max_length=64)
    start_date = models.DateField(_("开始日期"))
    end_date = models.DateField(_("结束日期"))
    ruleset = models.ForeignKey(
        RuleSet, on_delete=models.PROTECT, related_name="promotions", verbose_name=_("使用的规则集")
    )

    class Meta:
        verbose_name = _("大促期间")
        verbose_name_plural = _("大促期间")
        ordering = ["-start_date"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gte=models.F("start_date")),
                name="promotion_end_after_start",
                violation_error_message=_("结束日期不能早于开始日期。"),
            ),
            # One rule set per day: two overlapping promotions would make a decision ambiguous.
            ExclusionConstraint(
                name="promotion_no_overlap",
                expressions=[
                    (DateRange("start_date", "end_date", models.Value("[]")), RangeOperators.OVERLAPS),
                ],
                violation_error_message=_("与已有的大促期间日期重叠。"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.start_date}–{self.end_date})"


class PlatformCounter(models.Model):
    """Messages accepted for one phone on one day, all shops together, per class.

    Also the phone's lock row: a decision locks the rows of its window days
    (``SELECT ... FOR UPDATE`` ordered by phone, day) before it reads or writes
    any counter of that phone, so shop counters need no lock of their own.
    """

    pk = models.CompositePrimaryKey("phone", "day")
    phone = models.BigIntegerField(_("手机号"))
    day = models.DateField(_("日期"))
    marketing = models.IntegerField(default=0, db_default=0)
    notify_unsub = models.IntegerField(default=0, db_default=0)
    notify = models.IntegerField(default=0, db_default=0)

    class Meta:
        db_table = "campaigns_freq_platform"
        verbose_name = _("全平台频控计数")
        verbose_name_plural = _("全平台频控计数")
        constraints = [
            models.CheckConstraint(
                condition=Q(marketing__gte=0, notify_unsub__gte=0, notify__gte=0),
                name="freq_platform_counts_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.phone} {self.day}"


class ShopCounter(models.Model):
    """Messages accepted for one phone from one shop on one day, per class."""

    pk = models.CompositePrimaryKey("phone", "shop", "day")
    phone = models.BigIntegerField(_("手机号"))
    # No index of its own: every query of this table goes by phone first (the key).
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, db_index=False, related_name="+")
    day = models.DateField(_("日期"))
    marketing = models.IntegerField(default=0, db_default=0)
    notify_unsub = models.IntegerField(default=0, db_default=0)
    notify = models.IntegerField(default=0, db_default=0)

    class Meta:
        db_table = "campaigns_freq_shop"
        verbose_name = _("店铺频控计数")
        verbose_name_plural = _("店铺频控计数")
        constraints = [
            models.CheckConstraint(
                condition=Q(marketing__gte=0, notify_unsub__gte=0, notify__gte=0),
                name="freq_shop_counts_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.phone} shop={self.shop_id} {self.day}"


def normalise_keyword(text: str) -> str:
    """The comparison form of an opt-out reply: NFKC, trimmed, upper case."""
    return unicodedata.normalize("NFKC", text).strip().upper()


class OptOutKeyword(models.Model):
    """A reply that means "unsubscribe" (退订关键词), compared after normalisation."""

    keyword = models.CharField(_("退订关键词"), max_length=16, unique=True)
    active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("退订关键词")
        verbose_name_plural = _("退订关键词")
        ordering = ["keyword"]

    def __str__(self) -> str:
        return self.keyword


class OptOutSource(models.TextChoices):
    SMS_REPLY = "sms_reply", _("短信回复")
    MERCHANT = "merchant", _("商家录入")
    PLATFORM = "platform", _("平台处理")


class OptOut(models.Model):
    """A phone that has unsubscribed from one shop's marketing and unsubscribable notices."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="optouts", verbose_name=_("店铺"))
    phone = models.CharField(_("手机号"), max_length=11)
    keyword = models.CharField(_("回复内容"), max_length=64, blank=True)
    source = models.CharField(_("来源"), max_length=16, choices=OptOutSource.choices)
    created_at = models.DateTimeField(_("退订时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("退订记录")
        verbose_name_plural = _("退订记录")
        ordering = ["-created_at", "-id"]
        constraints = [
            # Idempotent recording: the same reply delivered twice is one opt-out.
            models.UniqueConstraint(fields=["shop", "phone"], name="optout_shop_phone_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.phone} @ {self.shop_id}"


class OptOutEvent(models.Model):
    """Audit trail of opt-outs and re-subscriptions (with the customer's recorded consent)."""

    class Kind(models.TextChoices):
        OPT_OUT = "opt_out", _("退订")
        RESUBSCRIBE = "resubscribe", _("恢复订阅")

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", verbose_name=_("店铺"))
    phone = models.CharField(_("手机号"), max_length=11)
    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices)
    keyword = models.CharField(_("回复内容"), max_length=64, blank=True)
    source = models.CharField(_("来源"), max_length=16, choices=OptOutSource.choices)
    consent_note = models.TextField(_("客户同意记录"), blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("操作人"),
    )
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("退订日志")
        verbose_name_plural = _("退订日志")
        ordering = ["-created_at", "-id"]
        indexes = [
            # The merchant's history of one number: WHERE shop_id = ? AND phone = ?
            models.Index(fields=["shop", "phone"], name="optoutevent_shop_phone"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="resubscribe") | ~Q(consent_note=""),
                name="optoutevent_resubscribe_needs_consent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.phone} @ {self.shop_id}"
