"""The results' statistics: the holdout lift and its interval, the verdict, the price per part."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from scipy import stats

from campaigns.results import MIN_GROUP_SIZE, Group, holdout_lift, shop_price_per_part
from smsmarketing.models import RechargePackage
from smsmarketing.services import account_grant
from smsmarketing.services.recharge import recharge_order_complete, recharge_order_create
from tests.factories import make_active_account


def group(revenues: list[Decimal]) -> Group:
    return Group(
        recipients=len(revenues),
        orders=sum(1 for r in revenues if r),
        buyers=sum(1 for r in revenues if r),
        revenue=sum(revenues, Decimal(0)),
        revenue_squares=sum((r * r for r in revenues), Decimal(0)),
    )


def revenues(n: int, buyers: int, rng: random.Random) -> list[Decimal]:
    return [Decimal(rng.randint(50, 500)) if i < buyers else Decimal(0) for i in range(n)]


def test_it_computes_the_incremental_revenue_and_welchs_interval_as_scipy_does():
    rng = random.Random(21)
    sent, held = revenues(900, 120, rng), revenues(100, 6, rng)
    lift = holdout_lift(sent=group(sent), held=group(held))
    assert lift.incremental_revenue == (sum(sent) - sum(held) * 900 / 100).quantize(Decimal("0.01"))
    expected = stats.ttest_ind(
        [float(r) for r in sent], [float(r) for r in held], equal_var=False
    ).confidence_interval(0.95)
    assert float(lift.low) == pytest.approx(expected.low * 900, abs=0.01)
    assert float(lift.high) == pytest.approx(expected.high * 900, abs=0.01)
    assert lift.conclusive == (lift.low > 0 or lift.high < 0)


def test_it_says_plainly_when_the_groups_are_too_small_or_the_interval_spans_zero():
    rng = random.Random(3)
    small = holdout_lift(sent=group(revenues(500, 50, rng)), held=group(revenues(MIN_GROUP_SIZE - 1, 3, rng)))
    assert not small.conclusive and "样本太少" in small.verdict
    no_orders = holdout_lift(sent=group([Decimal(0)] * 100), held=group([Decimal(0)] * 100))
    assert no_orders.incremental_revenue == 0 and "样本太少" in no_orders.verdict
    same = revenues(200, 20, rng)
    spans = holdout_lift(sent=group(same), held=group(same[:100] + same[100:]))
    assert spans.low < 0 < spans.high and not spans.conclusive and "包含 0" in spans.verdict
    clear = holdout_lift(sent=group(revenues(1000, 400, rng)), held=group(revenues(200, 4, rng)))
    assert clear.conclusive and clear.low > 0 and "显著的增量收入" in clear.verdict
    none = holdout_lift(sent=group(revenues(10, 1, rng)), held=Group())
    assert none.incremental_revenue is None and "没有对照组" in none.verdict


def test_it_prices_a_part_from_paid_recharges_with_granted_parts_at_nothing(alice, alice_shop):
    assert shop_price_per_part(shop_id=alice_shop.pk) == 0  # no account
    make_active_account(alice_shop, balance=500, user=alice)
    assert shop_price_per_part(shop_id=alice_shop.pk) == 0  # granted parts only
    package = RechargePackage.objects.create(name="千条", units=1000, price=Decimal("50.00"))
    paid = recharge_order_create(shop=alice_shop, user=alice, package_id=package.pk)
    recharge_order_create(shop=alice_shop, user=alice, package_id=package.pk)  # never paid
    recharge_order_complete(order_no=paid.order_no, payment_reference="P1")
    assert shop_price_per_part(shop_id=alice_shop.pk) == Decimal("50.00") / 1500
    account_grant(shop_id=alice_shop.pk, units=500, reason="活动赠送", actor=None)
    assert shop_price_per_part(shop_id=alice_shop.pk) == Decimal("50.00") / 2000
