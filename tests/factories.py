"""Small factories for tests: named users and shops, real rows in PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from campaigns.models import Coupon
from campaigns.services.audience import coupon_create
from reviews.models import MessageTemplate
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


# A coupon template's text: every coupon variable, nothing a coupon campaign cannot fill.
COUPON_TEMPLATE_TEXT = "${shop_name}送您${coupon_amount}优惠券，${coupon_threshold}，点击${coupon_link}领取。"


def make_approved_template(
    shop: Shop, *, text: str = COUPON_TEMPLATE_TEXT, use: str = "coupon", name: str = "店铺券",
    at: datetime | None = None,
) -> MessageTemplate:  # fmt: skip
    """A custom template of the shop, stored approved at ``at`` (now by default).

    Written straight as approved, without the review: a test may need a text the checker
    would refuse (a variable this kind of campaign cannot fill)."""
    at = at or timezone.now()
    return MessageTemplate.objects.create(
        origin="custom", shop=shop, name=name, use=use, message_class="marketing", text=text,
        state="approved", submitted_at=at, due_at=at, decided_at=at,
    )  # fmt: skip


def official_template(*, use: str = "coupon") -> MessageTemplate:
    """The first of the platform's official templates of ``use`` (seeded by a migration)."""
    return MessageTemplate.objects.filter(origin="official", use=use).order_by("pk").first()


def make_coupon(
    shop: Shop, *, user, name: str = "会员券", amount: str = "20", threshold: str = "199",
    valid_from: datetime | None = None, days: int = 30, total_count: int = 100,
) -> Coupon:  # fmt: skip
    """A coupon of the shop, created through the service, valid ``days`` from ``valid_from`` (now)."""
    start = valid_from or timezone.now()
    return coupon_create(
        shop=shop, user=user, name=name, amount=Decimal(amount), threshold=Decimal(threshold),
        valid_from=start, valid_until=start + timedelta(days=days), total_count=total_count,
    )  # fmt: skip
