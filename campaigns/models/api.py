"""The open API's keys and its idempotency records (campaigns.api, docs/API.md).

A key is shown to the merchant once, when it is created; only a SHA-256 of the whole key is
stored, so a leaked database does not leak usable keys. ``prefix`` (8 characters, part of the
key) identifies a key in the portal and in logs without revealing it.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from smsmarketing.models import Shop


class ApiScope(models.TextChoices):
    CUSTOMERS = "customers", _("客户")
    ORDERS = "orders", _("订单")
    CAMPAIGNS = "campaigns", _("营销任务")
    REPORTS = "reports", _("报表与短信明细")
    WEBHOOKS = "webhooks", _("Webhooks")


class ApiKey(models.Model):
    """A shop's API key: ``Authorization: Bearer sk_live_<prefix><secret>``."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="api_keys", verbose_name=_("店铺"))
    name = models.CharField(_("名称"), max_length=64)
    prefix = models.CharField(_("密钥前缀"), max_length=8, unique=True)
    key_hash = models.CharField(_("密钥摘要（SHA-256）"), max_length=64, unique=True)
    scopes = ArrayField(
        models.CharField(max_length=16, choices=ApiScope.choices), verbose_name=_("权限范围"), default=list
    )
    # The owner who created it: the API's writes run as this user (services receive it as ``user``).
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("创建人")
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    # Written at most once a minute per key (campaigns.services.api_keys.api_key_touch).
    last_used_at = models.DateTimeField(_("最近使用"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("吊销时间"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("吊销人"),
    )

    class Meta:
        verbose_name = _("API 密钥")
        verbose_name_plural = _("API 密钥")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(scopes__contained_by=[scope.value for scope in ApiScope]),
                name="apikey_scopes_known",
            ),
            models.CheckConstraint(condition=~Q(scopes=[]), name="apikey_scopes_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.display_prefix} ({self.name})"

    @property
    def display_prefix(self) -> str:
        return f"sk_live_{self.prefix}…"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotencyRecord(models.Model):
    """The first answer to a POST carrying an ``Idempotency-Key`` (campaigns.api.idempotency).

    The row is inserted in the same transaction as the operation's writes, so it exists exactly
    when they do: a concurrent request with the same key waits on the unique index until the
    first commits (then replays its answer) or rolls back (then runs itself).
    """

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="idempotency_records")
    key = models.CharField(max_length=255)
    # SHA-256 of method, path and body: the same key with another request is refused.
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    body = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("幂等记录")
        verbose_name_plural = _("幂等记录")
        constraints = [
            # The INSERT .. ON CONFLICT DO NOTHING's target: one answer per key and idempotency key.
            models.UniqueConstraint(fields=["api_key", "key"], name="idempotencyrecord_key_unique"),
        ]
        indexes = [
            # The purge: DELETE .. WHERE created_at < now() - 24 h.
            models.Index(fields=["created_at"], name="idempotencyrecord_created"),
        ]

    def __str__(self) -> str:
        return f"{self.api_key_id}:{self.key}"
