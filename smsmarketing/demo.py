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
    return created
