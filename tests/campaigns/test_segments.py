"""Segments: tags, purchase recency and frequency, total spent, products bought; live counts."""

from __future__ import annotations

import pytest
import time_machine

from campaigns.selectors import segment_count, segment_customers
from campaigns.services.audience import AudienceInvalid, segment_save
from tests.campaigns.campaign_fixtures import MORNING, import_customers

ROWS = [
    "13800130001,甲,VIP,T恤,2026-05-30 10:00,100",  # recent, 2 purchases, 300 total
    "13800130001,甲,VIP,裙子,2026-05-01 10:00,200",
    "13800130002,乙,新客,T恤,2026-01-10 10:00,50",  # long ago, 1 purchase
    "13800130003,丙,VIP|老客,,,",  # never purchased
]


@pytest.fixture
def customers(alice_shop):
    with time_machine.travel(MORNING, tick=False):
        import_customers(alice_shop, ROWS)
    return alice_shop


def phones_of(segment):
    with time_machine.travel(MORNING, tick=False):
        return sorted(segment_customers(segment=segment).values_list("phone", flat=True))


def test_it_filters_on_tags_recency_frequency_spend_and_products(customers, alice):
    def seg(**filters):
        return segment_save(shop=customers, user=alice, name="t", **filters)

    assert phones_of(seg(tags_any=["VIP"])) == ["13800130001", "13800130003"]
    assert phones_of(seg(purchased_within_days=7)) == ["13800130001"]
    assert phones_of(seg(not_purchased_within_days=30)) == ["13800130002", "13800130003"]
    assert phones_of(seg(min_purchases=2)) == ["13800130001"]
    assert phones_of(seg(min_total_spent=60, max_total_spent=1000)) == ["13800130001"]
    assert phones_of(seg(products_any=["T恤"])) == ["13800130001", "13800130002"]
    assert phones_of(seg(products_any=["T恤"], tags_any=["新客"])) == ["13800130002"]
    everyone = seg()
    with time_machine.travel(MORNING, tick=False):
        assert segment_count(segment=everyone) == 3


def test_it_counts_live_as_customers_are_imported(customers, alice):
    segment = segment_save(shop=customers, user=alice, name="VIP", tags_any=["VIP"])
    assert segment_count(segment=segment) == 2
    import_customers(customers, ["13800130009,丁,VIP,,,"])
    assert segment_count(segment=segment) == 3


def test_it_refuses_an_inverted_range(customers, alice):
    with pytest.raises(AudienceInvalid):
        segment_save(shop=customers, user=alice, name="x", min_purchases=5, max_purchases=2)
