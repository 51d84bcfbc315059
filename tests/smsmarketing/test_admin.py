import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_the_admin_speaks_chinese(client):
    response = client.get(reverse("admin:login"))
    assert response.status_code == 200
    assert "审核工作台" in response.content.decode()


def test_a_merchant_cannot_reach_the_admin(client, alice, alice_shop):
    client.force_login(alice)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]
