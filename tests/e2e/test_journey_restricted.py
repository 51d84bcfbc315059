"""Journey 4: a merchant of a restricted category (医药) sees on every SMS page why SMS is unavailable.

Every page is checked at 1440x900 and at 390x844 (tests/e2e/page_checks.py)."""

from __future__ import annotations

import pytest

from smsmarketing.models import SmsAccount
from tests.factories import PASSWORD, make_shop, make_user

JOURNEY = "restricted"

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# (page, sidebar link, a form the page would offer an ordinary shop)
PAGES = [
    ("dashboard", "概览", "#balance-card a.button"),
    ("account", "短信账户", "#activation form"),
    ("signature", "短信签名", "#signature-form form"),
    ("templates", "短信模板", "#new-template"),
    ("customers", "客户管理", "#import form"),
    ("campaigns", "营销任务", "a[href*='campaigns/new']"),
    ("coupons", "优惠券", "button.primary"),
    ("optouts", "退订管理", "a[href*='resubscribe']"),
]


def test_it_tells_a_restricted_merchant_why_sms_is_unavailable_on_every_page(journey):
    charlie = make_user("charlie")
    shop = make_shop("查理大药房", owner=charlie, restricted=True)

    merchant = journey.open()
    journey.login(merchant, "charlie", PASSWORD)
    for name, link, action in PAGES:
        merchant.click(f"nav.sidenav >> text={link}")
        notice = merchant.locator("#restricted-notice")
        notice.wait_for()
        text = notice.inner_text()
        assert "短信服务不可用" in text and "医药" in text, (name, text)
        assert merchant.locator(action).count() == 0, f"{name} offers {action} to a restricted shop"
        journey.check_both(merchant, name)

    # Nothing can be forced through either: the activation refuses with the same reason.
    csrf = next(c["value"] for c in merchant.context.cookies() if c["name"] == "csrftoken")
    response = merchant.request.post(
        f"/shop/{shop.pk}/account/activate/",
        form={"accept_terms": "on"},
        headers={"X-CSRFToken": csrf, "Referer": f"{journey.base_url}/shop/{shop.pk}/account/"},
    )
    assert response.status == 400 and "医药" in response.text()
    assert not SmsAccount.objects.filter(shop=shop, activated_at__isnull=False).exists()
    journey.assert_console_clean()
