"""Small factories for tests: named users and shops, real rows in PostgreSQL."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from smsmarketing.models import Category, Membership, Shop
from smsmarketing.roles import REVIEWER_GROUP

PASSWORD = "pass-for-tests"


def make_user(username: str, *, staff: bool = False, superuser: bool = False):
    User = get_user_model()
    user = User.objects.create_user(username=username, password=PASSWORD)
    user.is_staff = staff or superuser
    user.is_superuser = superuser
    user.save()
    return user


def make_category(name: str = "服饰内衣", *, restricted: bool = False) -> Category:
    category, _ = Category.objects.get_or_create(name=name, defaults={"restricted": restricted})
    return category


def make_shop(name: str, *, owner=None, category: Category | None = None, restricted: bool = False) -> Shop:
    if category is None:
        category = make_category("医药" if restricted else "服饰内衣", restricted=restricted)
    shop = Shop.objects.create(name=name, category=category)
    if owner is not None:
        Membership.objects.create(user=owner, shop=shop)
    return shop


def make_reviewer(username: str = "rita"):
    user = make_user(username, staff=True)
    Group.objects.get(name=REVIEWER_GROUP).user_set.add(user)
    return user


def make_active_account(shop: Shop, *, balance: int = 0, user=None):
    """Activate the shop's SMS account through the services and grant ``balance`` parts."""
    from smsmarketing.services import account_activate, account_grant

    if user is None:
        membership = shop.memberships.select_related("user").first()
        user = membership.user if membership else make_user(f"ops-{shop.pk}", superuser=True)
    account = account_activate(shop=shop, user=user, accept_terms=True)
    if balance:
        account_grant(shop_id=shop.pk, units=balance, reason="测试发放", actor=None)
        account.refresh_from_db()
    return account
