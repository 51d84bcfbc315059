import pytest

from smsmarketing.errors import CategoryRestricted
from smsmarketing.models import Category
from smsmarketing.services import shop_ensure_sms_allowed

pytestmark = pytest.mark.django_db


def test_the_migration_seeds_the_restricted_categories():
    restricted = set(Category.objects.filter(restricted=True).values_list("name", flat=True))
    assert {"计生情趣", "医药", "教育培训", "农药", "兽药"} <= restricted


def test_it_refuses_sms_for_a_restricted_shop_with_the_message(charlie_shop):
    with pytest.raises(CategoryRestricted) as excinfo:
        shop_ensure_sms_allowed(shop=charlie_shop)
    assert excinfo.value.rule == "CATEGORY-RESTRICTED"
    assert "医药" in excinfo.value.message and "敏感类目" in excinfo.value.message


def test_it_allows_sms_for_an_ordinary_shop(alice_shop):
    shop_ensure_sms_allowed(shop=alice_shop)


def test_an_operator_can_restrict_a_category_and_it_applies_at_once(alice_shop):
    alice_shop.category.restricted = True
    alice_shop.category.save()
    alice_shop.refresh_from_db()
    with pytest.raises(CategoryRestricted):
        shop_ensure_sms_allowed(shop=alice_shop)
