"""Campaigns, their runs, and one message row per recipient per run."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, transition

from campaigns.models.audience import Coupon, Customer, Segment
from smsmarketing.models import Shop


def month_of(instant) -> date:
    """The first day of the local (Asia/Shanghai) month of ``instant``: the partition key of the
    message, delivery report and click tables (docs/RETENTION.md)."""
    return timezone.localtime(instant).date().replace(day=1)


def current_month() -> date:
    return month_of(timezone.now())


class AbMetric(models.TextChoices):
    CLICKS = "clicks", _("独立点击率")
    ORDERS = "orders", _("归因下单率")


class Campaign(models.Model):
    """A merchant's campaign (营销任务): what to send, to whom, when."""

    class Kind(models.TextChoices):
        MARKETING = "marketing", _("短信营销")
        COUPON = "coupon", _("定向优惠券")
        REPURCHASE = "repurchase", _("复购提醒")

    class Status(models.TextChoices):
        DRAFT = "draft", _("草稿")
        SCHEDULED = "scheduled", _("已排期")
        RUNNING = "running", _("发送中")
        COMPLETED = "completed", _("已完成")
        CANCELLED = "cancelled", _("已取消")
        STOPPED = "stopped", _("已停止")

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="campaigns")
    kind = models.CharField(_("任务类型"), max_length=16, choices=Kind.choices)
    name = models.CharField(_("任务名称"), max_length=64)
    status = FSMField(_("状态"), default=Status.DRAFT, choices=Status.choices, protected=False)
    segment = models.ForeignKey(
        Segment,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="campaigns",
        verbose_name=_("目标人群"),
    )
    text = models.TextField(_("短信内容"), blank=True, default="")
    template = models.ForeignKey(
        "reviews.MessageTemplate",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="campaigns",
        verbose_name=_("短信模板"),
    )
    coupon = models.ForeignKey(
        Coupon,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="campaigns",
        verbose_name=_("优惠券"),
    )
    products = ArrayField(
        models.CharField(max_length=128), verbose_name=_("复购商品"), default=list, blank=True
    )
    days_since_purchase = models.PositiveIntegerField(_("距上次购买天数"), null=True, blank=True)
    scheduled_at = models.DateTimeField(_("计划发送时间"), null=True, blank=True)
    # Holdout (对照组): this share of the audience, drawn at planning reproducibly from ``seed``,
    # gets a ``holdout`` message row and nothing else (no send, no reservation, no cap count);
    # their orders measure what would have happened without the SMS.
    holdout_percent = models.PositiveSmallIntegerField(
        _("对照组比例(%)"), default=0, validators=[MinValueValidator(0), MaxValueValidator(50)]
    )
    seed = models.BigIntegerField(_("随机种子"), default=0, editable=False)
    # A/B test (with 2–5 ``variants``): ``ab_test_percent`` of the audience gets the variants,
    # split evenly, for ``ab_test_hours``; then the winner by ``ab_metric`` goes to the rest.
    ab_test_percent = models.PositiveSmallIntegerField(
        _("测试人群比例(%)"), default=20, validators=[MinValueValidator(2), MaxValueValidator(100)]
    )
    ab_test_hours = models.PositiveSmallIntegerField(
        _("测试时长(小时)"), default=4, validators=[MinValueValidator(1), MaxValueValidator(168)]
    )
    ab_metric = models.CharField(
        _("胜出指标"), max_length=16, choices=AbMetric.choices, default=AbMetric.CLICKS
    )
    q_schedule_id = models.IntegerField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("结束时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("营销任务")
        verbose_name_plural = _("营销任务")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(kind="coupon") | models.Q(coupon__isnull=False),
                name="campaign_coupon_has_coupon",
            ),
            models.CheckConstraint(
                condition=models.Q(holdout_percent__lte=50), name="campaign_holdout_at_most_half"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    # Transitions only set fields; services check permission, run them and save.
    @transition(field=status, source=Status.DRAFT, target=Status.SCHEDULED)
    def schedule(self, *, at) -> None:
        self.scheduled_at = at

    @transition(field=status, source=[Status.DRAFT, Status.SCHEDULED], target=Status.CANCELLED)
    def cancel(self) -> None:
        pass

    @transition(field=status, source=Status.SCHEDULED, target=Status.RUNNING)
    def start(self, *, at) -> None:
        self.started_at = at

    @transition(field=status, source=Status.RUNNING, target=Status.COMPLETED)
    def complete(self, *, at) -> None:
        self.finished_at = at

    @transition(field=status, source=[Status.SCHEDULED, Status.RUNNING], target=Status.STOPPED)
    def stop(self, *, at) -> None:
        self.finished_at = at

    @property
    def cancellable(self) -> bool:
        return self.status in {self.Status.DRAFT, self.Status.SCHEDULED}

    @cached_property
    def spend_paused_run(self) -> CampaignRun | None:
        """The newest run a spending limit paused (docs/SPEND_LIMITS.md), or None. One query for a
        running campaign, none otherwise; cached on the instance, so the page's paused notice and
        its progress box ask once."""
        if self.status != self.Status.RUNNING:
            return None
        return (
            self.runs.exclude(spend_paused="")
            .filter(status__in=CampaignRun.SPEND_PAUSABLE)
            .order_by("-pk")
            .first()
        )


class CampaignVariant(models.Model):
    """One text of an A/B test (A, B, … up to E): its own text or approved template, reviewed
    by the same rules as a single text. ``won_at`` marks the winner, which the rest of the
    audience then receives (picked by the metric when the test ends, or by the merchant)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="variants")
    name = models.CharField(_("版本"), max_length=8)  # "A", "B", …
    position = models.PositiveSmallIntegerField(default=0)
    text = models.TextField(_("短信内容"), blank=True, default="")
    template = models.ForeignKey(
        "reviews.MessageTemplate",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("短信模板"),
    )
    won_at = models.DateTimeField(_("胜出时间"), null=True, blank=True)
    won_by = models.CharField(_("胜出方式"), max_length=16, blank=True, default="")  # "metric" | "merchant"

    class Meta:
        verbose_name = _("测试版本")
        verbose_name_plural = _("测试版本")
        ordering = ["campaign", "position"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "name"], name="campaignvariant_name_unique"),
            # Race: the test's end and the merchant's pick at once; one winner per campaign.
            models.UniqueConstraint(
                fields=["campaign"],
                condition=models.Q(won_at__isnull=False),
                name="campaignvariant_one_winner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}:{self.name}"


class CampaignRun(models.Model):
    """One execution of a campaign: its planning progress lives here.

    A marketing or coupon campaign has one run; a repurchase reminder one run
    per day (``run_date``); a test SMS is a run of its own with one phone.
    ``plan_cursor`` is the last customer id claimed for planning and ``batches_planned``
    the number of batches claimed (planned, or being planned: each claim is a
    ``PlanBatch`` row, stored in the same transaction), so a killed worker resumes
    after the cursor and its claimed, unplanned batch is taken over.
    """

    class Kind(models.TextChoices):
        AUDIENCE = "audience", _("正式发送")
        TEST = "test", _("测试短信")

    class Phase(models.TextChoices):
        """An A/B campaign's runs: the test (variants to the test share), then the winner's."""

        SINGLE = "", _("单一版本")
        AB_TEST = "ab_test", _("A/B 测试")
        AB_WINNER = "ab_winner", _("胜出版本")

    class Status(models.TextChoices):
        PENDING = "pending", _("等待中")
        PLANNING = "planning", _("计划中")
        DISPATCHING = "dispatching", _("发送中")
        FINISHED = "finished", _("已发送")
        CANCELLED = "cancelled", _("已取消")
        # Planned messages sent; the rest waits for the spending limit's next period (or the owner).
        PAUSED = "paused", _("已暂停")

    # The states a run a spending limit paused can be in (still sending what it reserved, or paused).
    SPEND_PAUSABLE = (Status.PLANNING, Status.DISPATCHING, Status.PAUSED)

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.AUDIENCE)
    run_date = models.DateField(_("执行日期"), null=True, blank=True)
    test_phone = models.CharField(max_length=11, blank=True, default="")
    phase = models.CharField(
        _("阶段"), max_length=16, choices=Phase.choices, default=Phase.SINGLE, blank=True
    )
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.PENDING)
    # The signature the run's messages went out with, written by dispatch (one value per run,
    # never per message): the campaign's page shows it after the shop's signature changed.
    signature = models.CharField(_("发送签名"), max_length=32, blank=True, default="")
    plan_cursor = models.BigIntegerField(default=0)
    batches_planned = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    # The month partition every message of the run goes to (its creation month, local time):
    # one run's messages share one partition, so the partitions' unique (run, phone, month)
    # keeps a run's phones unique across the whole table.
    month = models.DateField(_("所属月份"), default=current_month, editable=False)
    planned_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Spending limits (docs/SPEND_LIMITS.md): the period whose cap paused the run ("day" or
    # "month", "" = not paused) and when that period ends (the automatic resume).
    spend_paused = models.CharField(_("消费上限暂停"), max_length=8, blank=True, default="")
    spend_resume_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("发送批次")
        verbose_name_plural = _("发送批次")
        constraints = [
            # The daily repurchase task may fire twice (at-least-once); one run per day.
            models.UniqueConstraint(
                fields=["campaign", "run_date"],
                condition=models.Q(kind="audience", run_date__isnull=False),
                name="campaignrun_one_per_day",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} #{self.pk}"


class PlanBatch(models.Model):
    """A keyset range of a run's audience claimed for planning: (after_key, upto_key].

    Several planners plan one run at once (``campaigns.services.planning``): a planner claims
    the next range in a short transaction (this row, and the run's ``plan_cursor`` moved to
    ``upto_key``), then plans it in a second one that sets ``planned_at``. A planner killed in
    between leaves the row unplanned and unlocked, and the next planner takes it over.
    ``number`` is the batch number of the range's messages and of its balance reservation.
    """

    run = models.ForeignKey(CampaignRun, on_delete=models.CASCADE, related_name="plan_batches")
    number = models.PositiveIntegerField()
    after_key = models.BigIntegerField()
    upto_key = models.BigIntegerField()
    claimed_at = models.DateTimeField(auto_now_add=True)
    planned_at = models.DateTimeField(null=True, blank=True)
    # A resumed run's re-planning (docs/SPEND_LIMITS.md): the batch number whose SPEND-LIMIT
    # rows this batch plans again (same key range, only those recipients); null = a plain batch.
    replans = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("计划批次")
        verbose_name_plural = _("计划批次")
        constraints = [
            # Race: two planners claiming at once; one number per batch of a run.
            models.UniqueConstraint(fields=["run", "number"], name="planbatch_run_number_unique"),
        ]
        indexes = [
            # The planners' "next unplanned batch of this run" (FOR UPDATE SKIP LOCKED).
            models.Index(
                fields=["run", "number"],
                condition=models.Q(planned_at__isnull=True),
                name="planbatch_unplanned",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run_id}#{self.number} ({self.after_key}, {self.upto_key}]"


class Message(models.Model):
    """One recipient of one run: planned, suppressed (with reason), sent, delivered…

    Unique per (run, phone): a retried planning batch inserts with
    ON CONFLICT DO NOTHING and never creates a second message.
    """

    class Status(models.TextChoices):
        PLANNED = "planned", _("待发送")
        SUPPRESSED = "suppressed", _("未发送(已过滤)")
        SENDING = "sending", _("提交中")
        ACCEPTED = "accepted", _("已提交")
        DELIVERED = "delivered", _("发送成功")
        FAILED = "failed", _("发送失败")
        EXPIRED = "expired", _("无回执")
        DROPPED = "dropped", _("发送前取消")
        # In the campaign's holdout group: never sent, reserved, charged or counted toward caps.
        HOLDOUT = "holdout", _("对照组(不发送)")

    FINAL = (Status.DELIVERED, Status.FAILED, Status.EXPIRED, Status.DROPPED)
    RELEASED_ON = (Status.FAILED, Status.EXPIRED, Status.DROPPED)

    class Settlement(models.TextChoices):
        NONE = "none", _("无")  # suppressed: nothing was reserved
        PENDING = "pending", _("预占中")
        CHARGED = "charged", _("已扣费")
        RELEASED = "released", _("已退还")

    # Performance (docs/PERFORMANCE.md): a campaign writes millions of these rows, and a
    # foreign key costs one deferred check (a locking lookup of the parent) per row at commit.
    # ``run``, ``campaign`` and ``shop`` carry none in the database: the planner, the only writer
    # of message rows, copies them from the run row it holds locked FOR UPDATE in the same
    # transaction (so that run cannot be deleted under it), and deletes cascade through Django.
    # ``customer`` keeps its foreign key: a customer can be deleted while a batch is planned.
    # The single-column indexes of campaign and run are covered by message_campaign_status
    # (campaign, status) and message_run_phone_unique (run, phone).
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="messages", db_constraint=False, db_index=False
    )
    run = models.ForeignKey(
        CampaignRun, on_delete=models.CASCADE, related_name="messages", db_constraint=False, db_index=False
    )
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    customer = models.ForeignKey(Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    phone = models.CharField(_("手机号"), max_length=11)
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices)
    reason = models.CharField(_("原因"), max_length=32, blank=True, default="")
    body = models.TextField(_("正文"), blank=True, default="")
    text = models.TextField(_("实际发送内容"), blank=True, default="")
    parts = models.PositiveSmallIntegerField(_("计费条数"), default=0)
    batch = models.PositiveIntegerField(default=0)  # the reservation "campaign:<c>:run:<r>:batch:<n>"
    settlement = models.CharField(max_length=16, choices=Settlement.choices, default=Settlement.NONE)
    link_code = models.CharField(max_length=16, null=True, blank=True)
    # The A/B variant this recipient got (null: a campaign without variants).
    variant = models.ForeignKey(
        CampaignVariant,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    counted_at = models.DateTimeField(null=True, blank=True)  # when the frequency service counted it
    sent_at = models.DateTimeField(_("提交时间"), null=True, blank=True)
    final_at = models.DateTimeField(_("回执时间"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The partition key (docs/RETENTION.md): the run's ``month``, copied by the planner. The table
    # is partitioned by month in PostgreSQL (migration 0030); its primary key there is
    # (id, month), ids still come from one sequence, so ``id`` alone stays unique.
    month = models.DateField(default=current_month, editable=False)

    class Meta:
        verbose_name = _("短信")
        verbose_name_plural = _("短信")
        constraints = [
            # A partitioned table's unique keys contain the partition key; a run's messages all
            # have its month, so this is (run, phone) unique over the whole table.
            models.UniqueConstraint(fields=["run", "phone", "month"], name="message_run_phone_unique"),
            # Link codes start with their month's character (campaigns.services.links), so codes
            # of different live months never collide; within a month this index refuses a repeat.
            models.UniqueConstraint(fields=["link_code", "month"], name="message_link_code_unique"),
        ]
        indexes = [
            # Dispatch claims: WHERE run_id = %s AND status = 'planned' ORDER BY id ... SKIP LOCKED.
            models.Index(fields=["run", "id"], condition=models.Q(status="planned"), name="message_planned"),
            # Settlement: WHERE settlement = 'pending' AND status IN (final states).
            models.Index(
                fields=["id"],
                condition=models.Q(
                    settlement="pending", status__in=["delivered", "failed", "expired", "dropped"]
                ),
                name="message_to_settle",
            ),
            # The 72-hour sweep: WHERE status IN ('sending', 'accepted') AND sent_at < %s.
            models.Index(
                fields=["sent_at"],
                condition=models.Q(status__in=["sending", "accepted"]),
                name="message_in_flight",
            ),
            models.Index(fields=["campaign", "status"], name="message_campaign_status"),
            # The metrics' "last minute" (campaigns.metrics._WINDOW_SQL): WHERE GREATEST(created_at,
            # sent_at, final_at) >= %s reads only the rows planned, sent or finalised since then.
            models.Index(Greatest("created_at", "sent_at", "final_at"), name="message_last_change"),
            # Attribution (campaigns.services.attribution): a shop's deliveries to a phone in the
            # window before an order: WHERE shop_id = %s AND phone = %s AND status = 'delivered'
            # AND final_at BETWEEN %s AND %s.
            models.Index(
                fields=["shop", "phone", "final_at"],
                condition=models.Q(status="delivered"),
                name="message_delivered_touch",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.phone} ({self.get_status_display()})"

    @property
    def reservation_reference(self) -> str:
        return reservation_reference(campaign_id=self.campaign_id, run_id=self.run_id, batch=self.batch)


def reservation_reference(*, campaign_id: int, run_id: int, batch: int) -> str:
    return f"campaign:{campaign_id}:run:{run_id}:batch:{batch}"


class DeliveryReport(models.Model):
    """Every delivery report received, applied or not (duplicates, late ones)."""

    # No foreign key in the database: the report lives in its message's month partition and
    # goes with it (migration 0030), and a partitioned table's key is (id, month).
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="reports", db_constraint=False
    )
    status = models.CharField(max_length=16)
    at = models.DateTimeField()
    applied = models.BooleanField(default=False)
    raw = models.JSONField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    month = models.DateField(default=current_month, editable=False)  # the message's month

    class Meta:
        verbose_name = _("状态回执")
        verbose_name_plural = _("状态回执")

    def __str__(self) -> str:
        return f"{self.message_id}: {self.status}"


class VerifiedPhone(models.Model):
    """A merchant's own phone, verified by a code, the only target of test SMS."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="verified_phones")
    phone = models.CharField(_("手机号"), max_length=11)
    code_hash = models.CharField(max_length=64, blank=True, default="")
    code_sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    verified_at = models.DateTimeField(_("验证时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("测试手机号")
        verbose_name_plural = _("测试手机号")
        constraints = [
            models.UniqueConstraint(fields=["shop", "phone"], name="verifiedphone_shop_phone_unique"),
        ]

    def __str__(self) -> str:
        return self.phone


class ArchivedMonth(models.Model):
    """A month of message history past the retention: written to its shops' archive files
    (``MessageArchive``), then its partitions dropped. Its runs' results stay in the counters."""

    month = models.DateField(_("月份"), unique=True)
    messages = models.BigIntegerField(_("短信条数"), default=0)
    archived_at = models.DateTimeField(_("归档时间"), null=True, blank=True)  # the files are written
    dropped_at = models.DateTimeField(_("删除分区时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("已归档月份")
        verbose_name_plural = _("已归档月份")
        ordering = ["-month"]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m}"


class MessageArchive(models.Model):
    """One shop's messages of one archived month: a gzip-compressed CSV file with the campaign
    export's columns, under ``SMS_ARCHIVE_DIR``."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="message_archives")
    month = models.DateField(_("月份"))
    path = models.CharField(_("文件"), max_length=255)  # relative to SMS_ARCHIVE_DIR
    messages = models.BigIntegerField(_("短信条数"), default=0)
    size = models.BigIntegerField(_("文件大小(字节)"), default=0)
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(_("生成时间"), auto_now=True)

    class Meta:
        verbose_name = _("短信归档文件")
        verbose_name_plural = _("短信归档文件")
        ordering = ["-month", "shop"]
        constraints = [
            # A re-run of an interrupted archive rewrites the file and this row, never a second one.
            models.UniqueConstraint(fields=["shop", "month"], name="messagearchive_shop_month_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.shop_id} {self.month:%Y-%m}"
