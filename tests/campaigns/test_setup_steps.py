"""The dashboard's getting-started steps: activate, recharge, signature, customers, campaign."""

from __future__ import annotations

from django.urls import reverse

from campaigns.selectors import shop_setup_steps
from tests.campaigns.campaign_fixtures import import_customers, live_signature_for
from tests.factories import make_active_account


def test_it_lists_every_step_as_to_do_for_a_new_shop(alice_shop):
    steps = shop_setup_steps(shop=alice_shop)
    assert [s.done for s in steps] == [False] * 5
    assert [s.status for s in steps][:3] == ["未开通", "余量为 0", "未设置"]


def test_it_marks_the_steps_a_shop_has_done(alice, alice_shop, reviewer):
    make_active_account(alice_shop, balance=1200, user=alice)
    live_signature_for(alice_shop, alice, reviewer)
    import_customers(alice_shop, ["13800138000,张三,,,,"])
    steps = shop_setup_steps(shop=alice_shop)
    assert [s.done for s in steps] == [True, True, True, True, False]
    assert steps[1].status == "余量 1,200 条" and steps[2].status == "【爱丽丝服饰】已生效"
    assert steps[3].status == "已导入" and steps[4].status == "还没有任务"


def test_it_shows_the_steps_on_the_dashboard_but_not_to_a_restricted_shop(
    client, alice, alice_shop, charlie, charlie_shop
):
    client.force_login(alice)
    page = client.get(reverse("portal:dashboard", args=[alice_shop.pk])).content.decode()
    assert 'id="setup-steps"' in page and "还有 5 步" in page
    client.force_login(charlie)
    page = client.get(reverse("portal:dashboard", args=[charlie_shop.pk])).content.decode()
    assert 'id="setup-steps"' not in page
