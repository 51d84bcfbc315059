"""The portal's 开放接口 page: the owner creates a key (shown once, only its hash stored) and
revokes one after a confirmation; staff are refused with a Chinese message."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.urls import reverse

from campaigns.models.api import ApiKey
from smsmarketing.models import Membership
from tests.campaigns.api_helpers import api_get, make_api_key
from tests.factories import make_user

pytestmark = pytest.mark.django_db

KEY_RE = re.compile(r"sk_live_[A-Za-z0-9]{48}")


def keys_url(shop) -> str:
    return reverse("campaigns:api_keys", args=[shop.pk])


def test_it_creates_a_key_shows_it_once_and_stores_only_its_hash(client, alice, alice_shop):
    client.force_login(alice)
    response = client.post(keys_url(alice_shop), {"name": "ERP 订单同步", "scopes": ["orders", "customers"]})

    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0") or "no-store" in response["Cache-Control"]
    html = response.content.decode()
    shown = KEY_RE.findall(html)
    assert len(set(shown)) == 1
    token = shown[0]
    assert "只显示这一次" in html and 'data-copy="new-key"' in html
    assert "http://testserver/api/v1/" in html and 'href="/api/v1/docs"' in html
    key = ApiKey.objects.get(shop=alice_shop)
    assert key.key_hash == hashlib.sha256(token.encode()).hexdigest()
    assert key.prefix == token[len("sk_live_") : len("sk_live_") + 8]
    assert key.scopes == ["customers", "orders"]
    assert key.created_by == alice
    # Nowhere else: no column holds the key, and the next page shows only its prefix.
    assert token not in str(list(ApiKey.objects.values_list()))
    again = client.get(keys_url(alice_shop)).content.decode()
    assert token not in again and f"sk_live_{key.prefix}…" in again
    # The key works.
    assert api_get(client, "/account", token).status_code == 200


def test_it_refuses_a_key_without_name_or_scope_and_creates_nothing(client, alice, alice_shop):
    client.force_login(alice)
    response = client.post(keys_url(alice_shop), {"name": "", "scopes": []})
    assert response.status_code == 422
    html = response.content.decode()
    assert "请至少选择一项权限范围" in html and "这个字段是必填项" in html
    response = client.post(keys_url(alice_shop), {"name": "x", "scopes": ["admin"]})
    assert response.status_code == 422
    assert not ApiKey.objects.exists()


def test_it_refuses_staff_with_a_chinese_message(client, alice_shop):
    clerk = make_user("clerk")
    Membership.objects.create(user=clerk, shop=alice_shop, role=Membership.Role.OPERATOR)
    key, _token = make_api_key(alice_shop)
    client.force_login(clerk)

    page = client.get(keys_url(alice_shop))
    assert page.status_code == 200
    assert "只有店主可以创建或吊销 API 密钥" in page.content.decode()
    assert 'id="create-key"' not in page.content.decode()

    refused = client.post(keys_url(alice_shop), {"name": "偷偷建的", "scopes": ["orders"]})
    assert refused.status_code == 403
    assert "此操作需要「店主」角色，您的角色是「运营」" in refused.content.decode()
    assert ApiKey.objects.filter(shop=alice_shop).count() == 1

    revoke = reverse("campaigns:api_key_revoke", args=[alice_shop.pk, key.pk])
    refused = client.post(revoke)
    assert refused.status_code == 403
    assert "此操作需要「店主」角色，您的角色是「运营」" in refused.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is None


def test_it_asks_before_revoking_and_the_key_is_refused_after(client, alice, alice_shop):
    key, token = make_api_key(alice_shop)
    client.force_login(alice)
    url = reverse("campaigns:api_key_revoke", args=[alice_shop.pk, key.pk])

    confirm = client.get(url)
    assert confirm.status_code == 200
    assert "不可撤销" in confirm.content.decode() and 'id="confirm-revoke"' in confirm.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is None  # the GET changed nothing

    response = client.post(url)
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by == alice
    assert api_get(client, "/account", token).status_code == 401


def test_it_hides_another_shops_key(client, bob, alice_shop, bob_shop):
    key, _token = make_api_key(alice_shop)
    client.force_login(bob)
    url = reverse("campaigns:api_key_revoke", args=[bob_shop.pk, key.pk])
    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


def test_it_shows_the_restricted_notice_and_no_form_to_a_restricted_shop(client, charlie, charlie_shop):
    client.force_login(charlie)
    html = client.get(keys_url(charlie_shop)).content.decode()
    assert "敏感类目" in html and 'id="create-key"' not in html
    response = client.post(keys_url(charlie_shop), {"name": "ERP", "scopes": ["orders"]})
    assert response.status_code == 422
    assert "敏感类目" in response.content.decode()
    assert not ApiKey.objects.exists()


def test_the_page_takes_the_same_queries_for_one_key_or_twenty(
    client, alice, alice_shop, django_assert_max_num_queries
):
    client.force_login(alice)
    make_api_key(alice_shop)
    with django_assert_max_num_queries(8) as one:
        assert client.get(keys_url(alice_shop)).status_code == 200
    for n in range(19):
        make_api_key(alice_shop, name=f"key {n}")
    with django_assert_max_num_queries(8) as twenty:
        assert client.get(keys_url(alice_shop)).status_code == 200
    assert len(twenty.captured_queries) == len(one.captured_queries)
