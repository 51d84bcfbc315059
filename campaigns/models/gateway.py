"""Messages received from handsets through the gateway (MO, 上行短信)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from smsmarketing.models import Shop


class InboundMessage(models.Model):
    """Every reply that reached the inbound endpoint, and what was done with it."""

    class Outcome(models.TextChoices):
        OPTED_OUT = "opted_out", _("已退订")
        ALREADY_OPTED_OUT = "already_opted_out", _("此前已退订")
        NOT_A_KEYWORD = "not_keyword", _("非退订回复")
        NO_SHOP = "no_shop", _("找不到对应店铺")
        INVALID_PHONE = "invalid_phone", _("手机号无效")

    kannel_id = models.CharField(_("网关消息编号"), max_length=64, blank=True, default="")
    sender = models.CharField(_("发送方号码(原始)"), max_length=32)
    phone = models.CharField(_("手机号"), max_length=11, blank=True, default="")
    receiver = models.CharField(_("接收号码"), max_length=32, blank=True, default="")
    text = models.TextField(_("回复内容"), blank=True, default="")
    shop = models.ForeignKey(
        Shop, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("店铺")
    )
    # The campaigns Message this reply answers (a plain id: the reply log outlives messages).
    in_reply_to = models.BigIntegerField(_("回复的短信"), null=True, blank=True)
    outcome = models.CharField(_("处理结果"), max_length=24, choices=Outcome.choices)
    raw = models.JSONField(_("原始参数"), default=dict, blank=True)
    sent_at = models.DateTimeField(_("网关接收时间"), null=True, blank=True)
    received_at = models.DateTimeField(_("接收时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("上行短信")
        verbose_name_plural = _("上行短信")
        ordering = ["-received_at", "-id"]
        constraints = [
            # Kannel retries a get-url that failed; the same MO (same Kannel id) is handled once.
            models.UniqueConstraint(
                fields=["kannel_id"],
                condition=~models.Q(kannel_id=""),
                name="inboundmessage_kannel_id_unique",
            ),
        ]
        indexes = [
            # The merchant/operator history of one number: WHERE phone = ? ORDER BY received_at DESC.
            models.Index(fields=["phone", "received_at"], name="inboundmessage_phone"),
        ]

    def __str__(self) -> str:
        return f"{self.sender}: {self.text[:20]}"
