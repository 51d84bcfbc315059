"""Reads of the merchant core."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.http import Http404

from smsmarketing.models import Shop


def shops_for_user(*, user: AbstractBaseUser) -> QuerySet[Shop]:
    """The shops a user is a member of, oldest membership first."""
    if not user.is_authenticated:
        return Shop.objects.none()
    return (
        Shop.objects.filter(memberships__user=user)
        .select_related("category")
        .order_by("memberships__created_at", "id")
    )


def shop_for_user(*, user: AbstractBaseUser, shop_id: int) -> Shop:
    """The shop if the user belongs to it; 404 otherwise (never reveal it exists)."""
    shop = shops_for_user(user=user).filter(pk=shop_id).first()
    if shop is None:
        raise Http404("店铺不存在")
    return shop
