"""Merchant core: categories, shops and who belongs to which shop."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Category(models.Model):
    """A main category (主营类目). Shops in a restricted one may not use SMS."""

    name = models.CharField(_("类目名称"), max_length=64, unique=True)
    restricted = models.BooleanField(
        _("敏感类目"),
        default=False,
        help_text=_("敏感类目（如计生情趣、医药）的店铺不能使用任何短信功能。"),
    )

    class Meta:
        verbose_name = _("类目")
        verbose_name_plural = _("类目")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Shop(models.Model):
    """A merchant's shop (店铺)."""

    name = models.CharField(_("店铺名称"), max_length=64)
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, related_name="shops", verbose_name=_("主营类目")
    )
    active = models.BooleanField(_("营业中"), default=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("店铺")
        verbose_name_plural = _("店铺")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name

    @property
    def sms_restricted(self) -> bool:
        return self.category.restricted


class Membership(models.Model):
    """A user's membership in a shop: a merchant user sees only their shops."""

    class Role(models.TextChoices):
        OWNER = "owner", _("店主")
        STAFF = "staff", _("店员")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    shop = models.ForeignKey(Shop, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("角色"), max_length=16, choices=Role.choices, default=Role.OWNER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("店铺成员")
        verbose_name_plural = _("店铺成员")
        constraints = [
            models.UniqueConstraint(fields=["user", "shop"], name="membership_user_shop_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.shop}"
