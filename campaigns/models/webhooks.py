"""Webhooks: a shop's endpoints, the events its data produced, and their deliveries.

The events are an outbox: the service that changes state (settlement, a click, an opt-out, a
run's end) writes the ``WebhookEvent`` and one ``WebhookDelivery`` per subscribed endpoint in
the same transaction, and a django-q2 task posts them (``campaigns.services.webhooks``).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import gettext_lazy as _

from smsmarketing.models import Shop


class WebhookEventType(models.TextChoices):
    MESSAGE_DELIVERED = "message.delivered", _("短信发送成功")
    MESSAGE_FAILED = "message.failed", _("短信发送失败")
    LINK_CLICKED = "link.clicked", _("短链接被点击")
    OPTOUT_CREATED = "optout.created", _("客户退订")
    CAMPAIGN_FINISHED = "campaign.finished", _("营销任务发送完毕")


class WebhookEndpoint(models.Model):
    """A URL of the shop's own system that receives the events it subscribed to."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("正常")
        # Deliveries gave up after 24 hours of failures; new events are still delivered, and
        # the next success makes it active again.
        FAILING = "failing", _("推送失败")
        DISABLED = "disabled", _("已停用")

    # The statuses that receive new events.
    LIVE = (Status.ACTIVE, Status.FAILING)

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(_("接收地址"), max_length=500)
    description = models.CharField(_("备注"), max_length=100, blank=True, default="")
    # The HMAC key of the signatures. Stored as is: signing needs it (shown to the merchant once).
    secret = models.CharField(max_length=64)
    events = ArrayField(
        models.CharField(max_length=32, choices=WebhookEventType.choices), verbose_name=_("事件")
    )
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    failing_since = models.DateTimeField(_("失败开始时间"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("Webhook 接收地址")
        verbose_name_plural = _("Webhook 接收地址")
        indexes = [
            # Emission's check: EXISTS (… WHERE shop_id = %s AND status IN ('active', 'failing')
            # AND %s = ANY(events)), run for every settlement batch, click and opt-out.
            models.Index(
                fields=["shop"],
                condition=models.Q(status__in=["active", "failing"]),
                name="webhook_endpoint_live",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["active", "failing", "disabled"]),
                name="webhook_endpoint_status",
            ),
        ]

    def __str__(self) -> str:
        return self.url


class WebhookEvent(models.Model):
    """Something that happened in a shop, as its endpoints receive it (``id`` is public: evt_…)."""

    id = models.CharField(primary_key=True, max_length=40)
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="+")
    type = models.CharField(_("事件类型"), max_length=32, choices=WebhookEventType.choices)
    data = models.JSONField(_("数据"))
    created_at = models.DateTimeField(_("发生时间"))

    class Meta:
        verbose_name = _("Webhook 事件")
        verbose_name_plural = _("Webhook 事件")
        indexes = [
            models.Index(fields=["shop", "-created_at"], name="webhook_event_shop_recent"),
            # The daily purge: WHERE created_at < %s (campaigns.services.webhooks.webhook_events_purge).
            models.Index(fields=["created_at"], name="webhook_event_created"),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.type}"


class WebhookDelivery(models.Model):
    """One event to one endpoint: pending until the endpoint answers 2xx, or failed after 24 h."""

    class Status(models.TextChoices):
        PENDING = "pending", _("待推送")
        SUCCEEDED = "succeeded", _("推送成功")
        FAILED = "failed", _("推送失败")

    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("尝试次数"), default=0)
    # When the sweeper may take it (a claim pushes it forward by the lease).
    next_attempt_at = models.DateTimeField(_("下次推送时间"), null=True, blank=True)
    give_up_at = models.DateTimeField(_("截止时间"))
    last_status_code = models.PositiveSmallIntegerField(_("最近响应码"), null=True, blank=True)
    last_error = models.CharField(_("最近错误"), max_length=300, blank=True, default="")
    delivered_at = models.DateTimeField(_("送达时间"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"))

    class Meta:
        verbose_name = _("Webhook 推送")
        verbose_name_plural = _("Webhook 推送")
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="webhook_delivery_event_endpoint"),
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "succeeded", "failed"]),
                name="webhook_delivery_status",
            ),
        ]
        indexes = [
            # The sweeper: WHERE status = 'pending' AND next_attempt_at <= %s ORDER BY next_attempt_at.
            models.Index(
                fields=["next_attempt_at"], condition=models.Q(status="pending"), name="webhook_delivery_due"
            ),
            # The portal's list of an endpoint's deliveries, newest first.
            models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One POST of a delivery: when, the answer's status code or the error, how long it took."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    at = models.DateTimeField(_("时间"))
    status_code = models.PositiveSmallIntegerField(_("响应码"), null=True, blank=True)
    error = models.CharField(_("错误"), max_length=300, blank=True, default="")
    duration_ms = models.PositiveIntegerField(_("耗时(毫秒)"), default=0)
    succeeded = models.BooleanField(_("成功"), default=False)

    class Meta:
        verbose_name = _("Webhook 推送记录")
        verbose_name_plural = _("Webhook 推送记录")
        indexes = [models.Index(fields=["delivery", "at"], name="webhook_attempt_delivery")]

    def __str__(self) -> str:
        return f"{self.delivery_id} @ {self.at:%Y-%m-%d %H:%M:%S}"
