"""A campaign's results as data kept up to date (docs/PERFORMANCE.md, "Results as counters").

Every statement that inserts, updates or deletes message rows updates these counters in the
same transaction, set-based: one ``INSERT … ON CONFLICT DO UPDATE`` per statement, by the
statement-level triggers of migration 0026 (``campaigns.counters``). Pages and the API read
them instead of counting message rows, so their cost does not grow with the messages table and
does not depend on a cache. ``manage.py reconcile_stats`` recounts them from the message rows.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from campaigns.models.sending import Campaign, CampaignRun


class MessageCounter(models.Model):
    """The number of a run's messages (and their parts, and those with a link code) planned on
    ``day`` (UTC) that are now in ``status`` / ``settlement`` (``reason``: the suppression's, ''
    for any other status), per A/B ``variant_id`` (0: none). A message moving from one status
    to another moves one from a row to another; rows are never deleted by the pipeline (a row
    at 0 stays)."""

    # No foreign keys in the database, as the messages' (the triggers write these rows for every
    # message statement; a foreign key check per row would lock the run row). Deletes cascade
    # through Django with the run.
    run = models.ForeignKey(
        CampaignRun, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    day = models.DateField()
    status = models.CharField(max_length=16)
    reason = models.CharField(max_length=32, blank=True, default="")
    settlement = models.CharField(max_length=16)
    variant_id = models.BigIntegerField(default=0)
    messages = models.BigIntegerField(default=0)
    parts = models.BigIntegerField(default=0)
    links = models.BigIntegerField(default=0)  # messages with a link code (coupons issued)

    class Meta:
        verbose_name = _("发送统计")
        verbose_name_plural = _("发送统计")
        constraints = [
            models.UniqueConstraint(
                fields=["run", "day", "status", "reason", "settlement", "variant_id"],
                name="messagecounter_key",
            ),
        ]
        indexes = [models.Index(fields=["campaign", "run"], name="messagecounter_campaign")]

    def __str__(self) -> str:
        return f"{self.run_id} {self.day} {self.status}: {self.messages}"


class HourCounter(models.Model):
    """A run's messages per hour (UTC-truncated instant) for the campaign's chart: ``sent`` by
    their ``sent_at``, ``delivered`` / ``failed`` (failed or expired) by their ``final_at``."""

    class Kind(models.TextChoices):
        SENT = "sent", _("已提交")
        DELIVERED = "delivered", _("发送成功")
        FAILED = "failed", _("发送失败")

    run = models.ForeignKey(
        CampaignRun, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    hour = models.DateTimeField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    messages = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("发送时段统计")
        verbose_name_plural = _("发送时段统计")
        constraints = [
            models.UniqueConstraint(fields=["run", "hour", "kind"], name="hourcounter_key"),
        ]
        indexes = [models.Index(fields=["campaign", "run"], name="hourcounter_campaign")]

    def __str__(self) -> str:
        return f"{self.run_id} {self.hour} {self.kind}: {self.messages}"


class ClickCounter(models.Model):
    """A run's human clicks per day (UTC, of the click) and A/B ``variant_id`` (0: none), and its
    unique clicks: the messages whose first human click (``ClickedMessage``) fell on that day.
    Written by the click table's statement-level triggers (migration 0029) in the redirect's own
    statement, never by Python."""

    run = models.ForeignKey(
        CampaignRun, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    day = models.DateField()
    variant_id = models.BigIntegerField(default=0)
    clicks = models.BigIntegerField(default=0)
    unique_clicks = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("点击统计")
        verbose_name_plural = _("点击统计")
        constraints = [
            models.UniqueConstraint(fields=["run", "day", "variant_id"], name="clickcounter_key"),
        ]
        indexes = [models.Index(fields=["campaign", "run"], name="clickcounter_campaign")]

    def __str__(self) -> str:
        return f"{self.run_id} {self.day}: {self.clicks} / {self.unique_clicks}"


class ClickedMessage(models.Model):
    """A message with at least one human click: the unique row whose INSERT … ON CONFLICT DO
    NOTHING decides, race-free, which click is a message's first (the one that counts it in
    ``ClickCounter.unique_clicks``, on the day kept here)."""

    message_id = models.BigIntegerField(primary_key=True)
    run_id = models.BigIntegerField()
    campaign_id = models.BigIntegerField()
    variant_id = models.BigIntegerField(default=0)
    day = models.DateField()

    class Meta:
        verbose_name = _("已点击短信")
        verbose_name_plural = _("已点击短信")

    def __str__(self) -> str:
        return f"{self.message_id} {self.day}"


class OrderCounter(models.Model):
    """The orders attributed to a run's messages (``Order.attributed_message``) per A/B
    ``variant_id`` (0: none): their number, revenue (yuan) and the messages with at least one
    (``converted``). Written by the order table's statement-level triggers (migration 0029) in
    the transaction of the ingest or re-attribution that changes them."""

    run = models.ForeignKey(
        CampaignRun, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    variant_id = models.BigIntegerField(default=0)
    orders = models.BigIntegerField(default=0)
    revenue = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    converted = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("归因订单统计")
        verbose_name_plural = _("归因订单统计")
        constraints = [
            models.UniqueConstraint(fields=["run", "variant_id"], name="ordercounter_key"),
        ]
        indexes = [models.Index(fields=["campaign", "run"], name="ordercounter_campaign")]

    def __str__(self) -> str:
        return f"{self.run_id} v{self.variant_id}: {self.orders} {self.revenue}"


class AttributedMessage(models.Model):
    """How many orders are attributed to a message (rows at 0 stay): the upsert's new value
    minus the statement's change says whether the message became (or stopped being) converted."""

    message_id = models.BigIntegerField(primary_key=True)
    run_id = models.BigIntegerField()
    campaign_id = models.BigIntegerField()
    variant_id = models.BigIntegerField(default=0)
    orders = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("已归因短信")
        verbose_name_plural = _("已归因短信")

    def __str__(self) -> str:
        return f"{self.message_id}: {self.orders}"


class HoldoutRun(models.Model):
    """An audience run's start for the holdout comparison (``campaigns.results._groups``): the
    earliest ``created_at`` of its message rows (planning began), kept by the message table's
    triggers (migration 0032): an INSERT with an earlier row moves it back, an UPDATE of
    ``created_at`` recomputes it from the rows; a DELETE or an archived (dropped) month does not
    move it, so an old campaign's comparison stays as it was. The order triggers find a shop's
    runs whose window [start, start + COMPARISON_WINDOW) holds an order's ``placed_at`` here."""

    # Deleted with the run (through Django, as the other counters); no foreign key in the database.
    run = models.OneToOneField(
        CampaignRun, on_delete=models.CASCADE, primary_key=True, related_name="+", db_constraint=False
    )
    campaign_id = models.BigIntegerField()
    shop_id = models.BigIntegerField()
    start = models.DateTimeField()

    class Meta:
        verbose_name = _("对照比较批次")
        verbose_name_plural = _("对照比较批次")
        indexes = [models.Index(fields=["shop_id", "start"], name="holdoutrun_shop_start")]

    def __str__(self) -> str:
        return f"{self.run_id} {self.start}"


class HoldoutRecipient(models.Model):
    """A recipient's (message's) orders in its run's comparison window: the shop's orders of its
    phone placed in [run start, + COMPARISON_WINDOW), whoever they are attributed to, and their
    revenue; whatever the message's status (the group it counts in follows its status). Only
    messages with at least one such order have a row (rows at 0 stay). The per-recipient figure
    is what lets the sum of squares be kept by delta: (r + a)² − r²."""

    message_id = models.BigIntegerField(primary_key=True)
    run_id = models.BigIntegerField()
    campaign_id = models.BigIntegerField()
    orders = models.BigIntegerField(default=0)
    revenue = models.DecimalField(max_digits=18, decimal_places=2, default=0)

    class Meta:
        verbose_name = _("对照比较收件人")
        verbose_name_plural = _("对照比较收件人")
        indexes = [models.Index(fields=["run_id"], name="holdoutrecipient_run")]

    def __str__(self) -> str:
        return f"{self.message_id}: {self.orders} {self.revenue}"


class HoldoutCounter(models.Model):
    """One side of a run's holdout comparison (``held``: the holdout group, else the sent group:
    messages handed to the gateway): the recipients' orders in the window, the recipients with
    at least one (``buyers``), the revenue and the sum of squared per-recipient revenues.
    The group's recipients are the message counters' (status ``holdout`` / the sent statuses).
    Written by the order and message tables' statement-level triggers (migration 0032)."""

    run = models.ForeignKey(
        CampaignRun, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    held = models.BooleanField()
    orders = models.BigIntegerField(default=0)
    buyers = models.BigIntegerField(default=0)
    revenue = models.DecimalField(max_digits=18, decimal_places=2, default=0)
    revenue_squares = models.DecimalField(max_digits=36, decimal_places=4, default=0)

    class Meta:
        verbose_name = _("对照比较统计")
        verbose_name_plural = _("对照比较统计")
        constraints = [models.UniqueConstraint(fields=["run", "held"], name="holdoutcounter_key")]
        indexes = [models.Index(fields=["campaign", "run"], name="holdoutcounter_campaign")]

    def __str__(self) -> str:
        return f"{self.run_id} {'held' if self.held else 'sent'}: {self.orders} {self.revenue}"
