"""Audiences: a shop's customers and their purchases, segments, coupons."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import gettext_lazy as _

from smsmarketing.models import Shop


class Customer(models.Model):
    """A shop's customer, imported from CSV. One row per (shop, phone).

    ``purchase_count``, ``total_spent`` and ``last_purchase_at`` summarise the
    customer's purchases; the import recomputes them set-based, so segments
    filter on plain indexed columns instead of aggregating purchases per query.
    """

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="customers")
    phone = models.CharField(_("手机号"), max_length=11)
    name = models.CharField(_("姓名"), max_length=64, blank=True, default="")
    tags = ArrayField(models.CharField(max_length=32), verbose_name=_("标签"), default=list, blank=True)
    purchase_count = models.PositiveIntegerField(_("购买次数"), default=0)
    total_spent = models.DecimalField(_("累计消费"), max_digits=14, decimal_places=2, default=0)
    last_purchase_at = models.DateTimeField(_("最近购买"), null=True, blank=True)
    created_at = models.DateTimeField(_("导入时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("客户")
        verbose_name_plural = _("客户")
        constraints = [
            models.UniqueConstraint(fields=["shop", "phone"], name="customer_shop_phone_unique"),
        ]
        indexes = [
            # Planning streams a shop's audience by keyset: WHERE shop_id = %s AND id > %s ORDER BY id.
            models.Index(fields=["shop", "id"], name="customer_shop_keyset"),
        ]

    def __str__(self) -> str:
        return f"{self.name or self.phone}"


class Purchase(models.Model):
    """One purchase of a product by a customer. A re-imported row is a duplicate."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="purchases")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="purchases")
    product = models.CharField(_("商品"), max_length=128)
    purchased_at = models.DateTimeField(_("购买时间"))
    amount = models.DecimalField(_("金额"), max_digits=12, decimal_places=2, default=0)
    # The order this purchase is (campaigns.services.orders): an order upserts exactly one
    # purchase, so orders feed the customer's summary, segments and repurchase reminders. Null:
    # a purchase imported with the customers (CSV).
    order = models.OneToOneField(
        "campaigns.Order", on_delete=models.CASCADE, null=True, blank=True, related_name="purchase"
    )

    class Meta:
        verbose_name = _("购买记录")
        verbose_name_plural = _("购买记录")
        constraints = [
            # An imported row again is a duplicate; two orders may share a product and a time.
            models.UniqueConstraint(
                fields=["customer", "product", "purchased_at"],
                condition=models.Q(order__isnull=True),
                name="purchase_unique_row",
            ),
        ]
        indexes = [
            # Repurchase reminders and the "products bought" filter: WHERE shop_id = %s AND product IN (...).
            models.Index(fields=["shop", "product", "purchased_at"], name="purchase_shop_product"),
        ]

    def __str__(self) -> str:
        return f"{self.product} @ {self.purchased_at:%Y-%m-%d}"


class Segment(models.Model):
    """A saved filter over a shop's customers. Empty filters match everyone."""

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="segments")
    name = models.CharField(_("人群名称"), max_length=64)
    tags_any = ArrayField(
        models.CharField(max_length=32), verbose_name=_("包含任一标签"), default=list, blank=True
    )
    purchased_within_days = models.PositiveIntegerField(_("最近N天内购买过"), null=True, blank=True)
    not_purchased_within_days = models.PositiveIntegerField(_("N天内未购买"), null=True, blank=True)
    min_purchases = models.PositiveIntegerField(_("购买次数不少于"), null=True, blank=True)
    max_purchases = models.PositiveIntegerField(_("购买次数不多于"), null=True, blank=True)
    min_total_spent = models.DecimalField(
        _("累计消费不低于"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    max_total_spent = models.DecimalField(
        _("累计消费不高于"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    products_any = ArrayField(
        models.CharField(max_length=128), verbose_name=_("购买过任一商品"), default=list, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when the merchant deletes a segment that finished campaigns still name: hidden
    # from the lists and forms, kept for those campaigns' records.
    archived_at = models.DateTimeField(_("删除时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("客户人群")
        verbose_name_plural = _("客户人群")
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name


class Coupon(models.Model):
    """A shop coupon handed out by targeted coupon campaigns, one per recipient.

    ``issued_count`` only grows through a conditional UPDATE (never read-modify-
    write), so two campaigns sharing a coupon never issue more than ``total_count``.
    """

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="coupons")
    name = models.CharField(_("优惠券名称"), max_length=64)
    amount = models.DecimalField(_("面额(元)"), max_digits=10, decimal_places=2)
    threshold = models.DecimalField(_("使用门槛(满X元)"), max_digits=10, decimal_places=2, default=0)
    valid_from = models.DateTimeField(_("有效期开始"))
    valid_until = models.DateTimeField(_("有效期结束"))
    total_count = models.PositiveIntegerField(_("发放总量"))
    issued_count = models.PositiveIntegerField(_("已发放"), default=0)
    # Where the coupon's short link leads (a page on an allowed landing domain); empty: the shop's.
    landing_url = models.URLField(_("落地页链接"), max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("优惠券")
        verbose_name_plural = _("优惠券")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(issued_count__lte=models.F("total_count")),
                name="coupon_issued_within_total",
            ),
            models.CheckConstraint(
                condition=models.Q(valid_until__gt=models.F("valid_from")),
                name="coupon_validity_ordered",
            ),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="coupon_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name}（满{self.threshold}减{self.amount}）"
