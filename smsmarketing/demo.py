"""Demo data for local use: a superuser, a reviewer, two merchants.

Idempotent: objects are looked up by natural keys and created only if missing,
and existing objects are not modified (a changed demo password stays changed).
Extend ``seed_demo`` with the demo data of each area.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from smsmarketing.models import Category, Membership, Shop
from smsmarketing.roles import REVIEWER_GROUP


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


@transaction.atomic
def seed_demo() -> int:
    """Create the demo objects that are missing; return how many were created."""
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
    created += _seed_demo_account(User.objects.get(username="alice"))
    from reviews.demo import seed_demo_signatures

    created += seed_demo_signatures(
        shop=Shop.objects.get(name=DEMO_SHOPS[0][1]),
        merchant=User.objects.get(username="alice"),
        reviewer=User.objects.get(username="reviewer"),
    )
    from reviews.demo_templates import seed_demo_templates

    created += seed_demo_templates(
        shop=Shop.objects.get(name=DEMO_SHOPS[0][1]),
        merchant=User.objects.get(username="alice"),
        reviewer=User.objects.get(username="reviewer"),
    )
    return created


DEMO_GRANT_REASON = "演示数据：平台赠送"
DEMO_RECHARGE_UNITS = 10_000
DEMO_GRANT_UNITS = 2_000


def _seed_demo_account(alice) -> int:
    """Alice's shop: SMS activated, a platform gift and one paid recharge (each once)."""
    from smsmarketing.models import LedgerEntry, RechargeOrder, RechargePackage, SmsAccount
    from smsmarketing.services import account_activate, account_grant, recharge

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
