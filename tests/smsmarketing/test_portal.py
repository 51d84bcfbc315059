import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

SMS_PAGES = [
    "portal:dashboard",
    "portal:account",
    "reviews:signature",
    "reviews:templates",
    "campaigns:customers",
    "campaigns:list",
]


def test_it_sends_anonymous_users_to_login(client, alice_shop):
    response = client.get(reverse("portal:dashboard", args=[alice_shop.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_it_serves_the_login_page_in_chinese(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert "登录商家后台" in response.content.decode()


def test_it_redirects_home_to_the_users_shop(client, alice, alice_shop):
    client.force_login(alice)
    response = client.get(reverse("portal:home"))
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:dashboard", args=[alice_shop.pk])


def test_it_shows_the_dashboard_of_own_shop(client, alice, alice_shop):
    client.force_login(alice)
    response = client.get(reverse("portal:dashboard", args=[alice_shop.pk]))
    assert response.status_code == 200
    assert alice_shop.name in response.content.decode()


@pytest.mark.parametrize("page", SMS_PAGES)
def test_it_returns_404_for_another_shops_pages(client, alice, alice_shop, bob_shop, page):
    client.force_login(alice)
    response = client.get(reverse(page, args=[bob_shop.pk]))
    assert response.status_code == 404
    assert bob_shop.name not in response.content.decode()


def test_it_returns_404_for_a_shop_that_does_not_exist(client, alice, alice_shop):
    client.force_login(alice)
    response = client.get(reverse("portal:dashboard", args=[alice_shop.pk + 1000]))
    assert response.status_code == 404


@pytest.mark.parametrize("page", SMS_PAGES)
def test_it_tells_a_restricted_shop_on_every_sms_page(client, charlie, charlie_shop, page):
    client.force_login(charlie)
    response = client.get(reverse(page, args=[charlie_shop.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "短信服务不可用" in body
    assert "敏感类目" in body and charlie_shop.category.name in body


def test_it_shows_no_restriction_notice_to_an_ordinary_shop(client, alice, alice_shop):
    client.force_login(alice)
    response = client.get(reverse("portal:dashboard", args=[alice_shop.pk]))
    assert "短信服务不可用" not in response.content.decode()


def test_a_user_without_shop_is_told_so(client, bob):
    client.force_login(bob)
    response = client.get(reverse("portal:home"))
    assert "尚未绑定店铺" in response.content.decode()
