"""GET /api/v1/account: the key's shop's SMS account, and the API's authentication."""

from __future__ import annotations

import pytest
import time_machine
from django.utils import timezone

from campaigns.models.api import ApiKey
from campaigns.services.api_keys import api_key_revoke, key_hash
from smsmarketing.models import Membership
from tests.campaigns.api_helpers import api_get, bearer, make_api_key
from tests.factories import make_active_account

pytestmark = pytest.mark.django_db


def test_it_answers_the_balance_reserved_and_threshold_of_the_keys_shop(client, alice_shop, bob_shop):
    account = make_active_account(alice_shop, balance=1200)
    account.low_balance_threshold = 2000
    account.save(update_fields=["low_balance_threshold"])
    make_active_account(bob_shop, balance=7)
    key, token = make_api_key(alice_shop, scopes=["orders"])

    response = api_get(client, "/account", token)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["shop_id"] == alice_shop.pk
    assert body["balance"] == 1200
    assert body["reserved"] == 0
    assert body["low_balance_threshold"] == 2000
    assert body["low_balance"] is True
    assert body["status"] == "active"
    assert body["key"] == {"prefix": key.prefix, "name": "ERP 同步", "scopes": ["orders"]}


def test_it_answers_an_inactive_account_with_zero_balance(client, alice_shop):
    _key, token = make_api_key(alice_shop)
    body = api_get(client, "/account", token).json()
    assert (body["status"], body["balance"], body["reserved"]) == ("inactive", 0, 0)


def test_it_refuses_a_request_without_a_key(client, alice_shop):
    response = api_get(client, "/account", None)
    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHENTICATED"
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header",
    ["Bearer sk_live_nope", "Bearer " + "sk_live_" + "a" * 48, "Basic YWxpY2U6cGFzcw==", "Bearer", ""],
)
def test_it_refuses_a_bad_key(client, alice_shop, header):
    make_api_key(alice_shop)
    response = client.get("/api/v1/account", headers={"Authorization": header})
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "UNAUTHENTICATED"
    assert "API 密钥" in body["message"]


def test_it_refuses_the_next_request_of_a_revoked_key(client, alice, alice_shop):
    key, token = make_api_key(alice_shop)
    assert api_get(client, "/account", token).status_code == 200

    api_key_revoke(key=key, user=alice)

    response = api_get(client, "/account", token)
    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHENTICATED"


def test_it_refuses_a_restricted_category_shop_with_the_portals_text(client, charlie_shop):
    # The service refuses to create a key for a restricted shop; a key made before the shop's
    # category became restricted is the case to cover.
    token = "sk_live_" + "R" * 8 + "s" * 40
    ApiKey.objects.create(
        shop=charlie_shop,
        name="旧密钥",
        prefix="R" * 8,
        key_hash=key_hash(token),
        scopes=["orders"],
        created_by=charlie_shop.memberships.get().user,
    )

    response = api_get(client, "/account", token)

    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "CATEGORY-RESTRICTED"
    assert "敏感类目" in body["message"] and charlie_shop.category.name in body["message"]


def test_it_answers_json_404_for_an_unknown_path(client, alice_shop):
    _key, token = make_api_key(alice_shop)
    response = api_get(client, "/no-such-thing", token)
    assert response.status_code == 404
    assert response.json()["code"] == "NOT-FOUND"


def test_it_answers_in_a_bounded_number_of_queries(client, alice_shop, django_assert_max_num_queries):
    """The key (with shop and category), the rate-limit count, the account; last_used_at once a
    minute and the old windows' cleanup once a window. (Inside the test's transaction the count
    also takes a savepoint and its release.)"""
    make_active_account(alice_shop, balance=10)
    _key, token = make_api_key(alice_shop)
    with time_machine.travel(timezone.now(), tick=False):  # both in one rate-limit window
        with django_assert_max_num_queries(7):
            assert api_get(client, "/account", token).status_code == 200
        with django_assert_max_num_queries(5):
            assert api_get(client, "/account", token).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"), [("get", "/orders"), ("delete", "/account"), ("put", "/campaigns")]
)
def test_it_answers_a_method_a_path_lacks_with_a_json_405(client, alice_shop, method, path):
    _key, token = make_api_key(alice_shop)
    response = getattr(client, method)(f"/api/v1{path}", headers=bearer(token))
    assert response.status_code == 405
    assert response.json()["code"] == "METHOD-NOT-ALLOWED"
    assert response["Allow"]


def test_a_key_stops_working_when_its_creator_leaves_the_shop_or_is_deactivated(client, alice, alice_shop):
    _key, token = make_api_key(alice_shop)
    _second, second_token = make_api_key(alice_shop, name="second")
    membership = Membership.objects.get(user=alice, shop=alice_shop)
    assert api_get(client, "/account", token).status_code == 200

    membership.delete()
    assert api_get(client, "/account", token).status_code == 401
    assert api_get(client, "/account", second_token).status_code == 401

    Membership.objects.create(user=alice, shop=alice_shop, role=Membership.Role.OWNER)
    assert api_get(client, "/account", token).status_code == 200
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    assert api_get(client, "/account", token).status_code == 401
