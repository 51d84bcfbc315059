import pytest

from smsmarketing.errors import CategoryRestricted
from smsmarketing.models import Category, SmsAccount
from smsmarketing.services import account_activate, shop_ensure_sms_allowed

pytestmark = pytest.mark.django_db


def test_the_migration_seeds_the_restricted_categories():
    restricted = set(Category.objects.filter(restricted=True).values_list("name", flat=True))
    assert {"计生情趣", "医药", "教育培训", "农药", "兽药"} <= restricted


def test_it_refuses_sms_for_a_restricted_shop_with_the_message(charlie_shop):
    with pytest.raises(CategoryRestricted) as excinfo:
        shop_ensure_sms_allowed(shop=charlie_shop)
    assert excinfo.value.rule == "CATEGORY-RESTRICTED"
    assert "医药" in excinfo.value.message and "敏感类目" in excinfo.value.message


def test_it_allows_sms_for_an_ordinary_shop(alice, alice_shop):
    assert not alice_shop.category.restricted
    assert shop_ensure_sms_allowed(shop=alice_shop) is None
    # The guard every SMS service runs first lets the shop through: its account opens.
    account_activate(shop=alice_shop, user=alice, accept_terms=True)
    account = SmsAccount.objects.get(shop=alice_shop)
    assert account.status == SmsAccount.Status.ACTIVE and account.activated_at is not None


def test_it_opens_no_account_for_a_restricted_shop(charlie, charlie_shop):
    with pytest.raises(CategoryRestricted):
        account_activate(shop=charlie_shop, user=charlie, accept_terms=True)
    assert not SmsAccount.objects.filter(shop=charlie_shop, activated_at__isnull=False).exists()


def test_an_operator_can_restrict_a_category_and_it_applies_at_once(alice_shop):
    alice_shop.category.restricted = True
    alice_shop.category.save()
    alice_shop.refresh_from_db()
    with pytest.raises(CategoryRestricted):
        shop_ensure_sms_allowed(shop=alice_shop)
