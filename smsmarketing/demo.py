"""Demo data of the merchant core: a superuser, a reviewer, two merchants, alice's SMS account.

Idempotent: objects are looked up by natural keys and created only if missing,
and existing objects are not modified (a changed demo password stays changed).
``campaigns.demo.seed_demo`` runs this first, then the demo data of the apps above.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from smsmarketing.models import (
    Category,
    LedgerEntry,
    Membership,
    RechargeOrder,
    RechargePackage,
    Shop,
    SmsAccount,
)
from smsmarketing.roles import REVIEWER_GROUP
from smsmarketing.services import account_activate, account_grant, recharge


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str


DEMO_LOGINS = [
    DemoLogin("admin", "demo-admin-pass", "平台超级管理员 (platform superuser, /admin/)"),
    DemoLogin("reviewer", "demo-review-pass", "平台审核员 (reviewer, /admin/)"),
    DemoLogin("alice", "demo-alice-pass", "商家：爱丽丝服饰旗舰店 (merchant)"),
    DemoLogin("bob", "demo-bob-pass", "商家：博康大药房 (merchant, restricted category 医药)"),
]

DEMO_SHOPS = [("alice", "爱丽丝服饰旗舰店", "服饰内衣"), ("bob", "博康大药房", "医药")]


@dataclass(frozen=True)
class DemoCast:
    """Who the demo data of the other apps is made for."""

    shop: Shop
    merchant: object
    reviewer: object


@transaction.atomic
def seed_demo_core() -> tuple[int, DemoCast]:
    """Create the core demo objects that are missing; return how many were created and the cast."""
    User = get_user_model()
    created = 0
    for login in DEMO_LOGINS:
        user, new = User.objects.get_or_create(username=login.username)
        if new:
            user.set_password(login.password)
            user.is_staff = login.username in {"admin", "reviewer"}
            user.is_superuser = login.username == "admin"
            user.save()
            created += 1
    Group.objects.get(name=REVIEWER_GROUP).user_set.add(User.objects.get(username="reviewer"))
    for username, shop_name, category_name in DEMO_SHOPS:
        category = Category.objects.get(name=category_name)
        shop, new = Shop.objects.get_or_create(name=shop_name, defaults={"category": category})
        created += int(new)
        _, new = Membership.objects.get_or_create(
            user=User.objects.get(username=username), shop=shop
        )
        created += int(new)
    alice = User.objects.get(username="alice")
    created += _seed_demo_account(alice)
    cast = DemoCast(
        shop=Shop.objects.get(name=DEMO_SHOPS[0][1]),
        merchant=alice,
        reviewer=User.objects.get(username="reviewer"),
    )
    return created, cast


DEMO_GRANT_REASON = "演示数据：平台赠送"
DEMO_RECHARGE_UNITS = 10_000
DEMO_GRANT_UNITS = 2_000


def _seed_demo_account(alice) -> int:
    """Alice's shop: SMS activated, a platform gift and one paid recharge (each once)."""
    shop = Shop.objects.get(name=DEMO_SHOPS[0][1])
    created = 0
    if not SmsAccount.objects.filter(shop=shop, status=SmsAccount.Status.ACTIVE).exists():
        account_activate(shop=shop, user=alice, accept_terms=True)
        created += 1
    gifts = LedgerEntry.objects.filter(account__shop=shop, kind=LedgerEntry.Kind.GRANT)
    if not gifts.filter(note=DEMO_GRANT_REASON).exists():
        account_grant(
            shop_id=shop.pk,
            units=DEMO_GRANT_UNITS,
            reason=DEMO_GRANT_REASON,
            actor=None,
            actor_label="seed_demo",
        )
        created += 1
    package = RechargePackage.objects.filter(units=DEMO_RECHARGE_UNITS, active=True).first()
    if package and not RechargeOrder.objects.filter(account__shop=shop).exists():
        recharge(shop=shop, user=alice, package_id=package.pk)
        created += 1
    return created
