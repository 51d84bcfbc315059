"""The admin of API keys: operators find a key by its prefix and revoke a leaked one."""

from __future__ import annotations

import pytest
from django.urls import reverse

from campaigns.models.api import ApiKey
from tests.campaigns.api_helpers import api_get, make_api_key
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def test_an_operator_finds_a_key_by_prefix_without_its_hash_and_revokes_it(client, alice_shop, bob_shop):
    key, token = make_api_key(alice_shop)
    other, other_token = make_api_key(bob_shop)
    operator = make_user("ops", superuser=True)
    client.force_login(operator)

    listing = client.get(reverse("admin:campaigns_apikey_changelist"), {"q": key.prefix})
    assert listing.status_code == 200
    html = listing.content.decode()
    assert key.prefix in html and other.prefix not in html
    change = client.get(reverse("admin:campaigns_apikey_change", args=[key.pk])).content.decode()
    assert key.key_hash not in change and key.key_hash not in html

    response = client.post(
        reverse("admin:campaigns_apikey_changelist"),
        {"action": "revoke", "_selected_action": [key.pk]},
    )
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by == operator
    assert api_get(client, "/account", token).status_code == 401
    assert api_get(client, "/account", other_token).status_code == 200


def test_a_reviewer_cannot_see_or_revoke_keys(client, alice_shop, reviewer):
    key, _token = make_api_key(alice_shop)
    client.force_login(reviewer)
    assert client.get(reverse("admin:campaigns_apikey_changelist")).status_code == 403
    client.post(
        reverse("admin:campaigns_apikey_changelist"), {"action": "revoke", "_selected_action": [key.pk]}
    )
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None
