"""A shop's orders, pushed by the merchant (CSV import, the open API): what campaigns are judged by."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from campaigns.models.sending import Campaign, Message
from smsmarketing.models import Shop


class Order(models.Model):
    """An order of a shop's customer. ``order_no`` is unique per shop: the same number again is an
    update of this row, never a second order. Attribution (last touch, campaigns.services.attribution)
    fills ``attributed_message``: the shop's message to this phone with the most recent touch
    before ``placed_at`` (a human click within the click window, or a delivery within the delivery
    window); at most one message per order."""

    class Touch(models.TextChoices):
        CLICK = "click", _("点击")
        DELIVERY = "delivery", _("送达")

    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="orders")
    order_no = models.CharField(_("订单号"), max_length=64)
    phone = models.CharField(_("手机号"), max_length=11)
    amount = models.DecimalField(_("金额(元)"), max_digits=12, decimal_places=2)
    placed_at = models.DateTimeField(_("下单时间"))
    coupon_code = models.CharField(_("优惠券码"), max_length=64, blank=True, default="")
    # What was bought, when the merchant says (optional): the order's purchase row carries it, so
    # repurchase reminders ("bought X N days ago") and segments see orders (docs/RESULTS.md).
    product = models.CharField(_("商品"), max_length=128, blank=True, default="")
    attributed_message = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_constraint=False
    )
    attributed_campaign = models.ForeignKey(
        Campaign, on_delete=models.SET_NULL, null=True, blank=True, related_name="attributed_orders"
    )
    attributed_touch = models.CharField(
        _("归因触点"), max_length=8, choices=Touch.choices, blank=True, default=""
    )
    attributed_touch_at = models.DateTimeField(_("触点时间"), null=True, blank=True)
    created_at = models.DateTimeField(_("导入时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("订单")
        verbose_name_plural = _("订单")
        constraints = [
            # Race: the same order pushed twice at once (an import and the API); one row.
            models.UniqueConstraint(fields=["shop", "order_no"], name="order_shop_order_no_unique"),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="order_amount_not_negative"),
        ]
        indexes = [
            # Holdout comparison and attribution: a shop's orders of a phone in a time range.
            models.Index(fields=["shop", "phone", "placed_at"], name="order_shop_phone_placed"),
            # The holdout comparison's counters (migration campaigns/0032): a planning batch reads
            # the shop's orders placed since its run's start (few while a run plans), not one
            # probe per planned phone.
            models.Index(fields=["shop", "placed_at"], name="order_shop_placed"),
        ]

    def __str__(self) -> str:
        return f"{self.order_no} ¥{self.amount}"
