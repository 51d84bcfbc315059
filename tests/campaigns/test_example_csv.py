"""The example file offered on the customers page imports without a rejected row."""

from __future__ import annotations

from django.conf import settings

from campaigns.models import Customer
from campaigns.services.importing import customers_import


def test_it_imports_the_example_file_offered_to_merchants(alice_shop):
    path = settings.BASE_DIR / "static" / "portal" / "customers-example.csv"
    with open(path, "rb") as stream:
        report = customers_import(shop=alice_shop, stream=stream)
    assert (report.imported, report.rejected) == (3, 0), report.rejections
    assert Customer.objects.get(shop=alice_shop, phone="13800138000").tags == ["VIP", "老客"]
