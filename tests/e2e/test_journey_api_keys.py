"""Journey: the shop's owner creates an API key (shown once, copied with the button), the key
answers the API, and revoking it (after a confirmation) refuses its next request."""

from __future__ import annotations

import re

import pytest

from campaigns.models.api import ApiKey
from tests.factories import PASSWORD, make_active_account, make_shop, make_user

JOURNEY = "api_keys"

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_owner_creates_copies_uses_and_revokes_a_key(journey):
    alice = make_user("alice")
    shop = make_shop("爱丽丝服饰", owner=alice)
    make_active_account(shop, balance=300, user=alice)

    owner = journey.open()
    owner.context.grant_permissions(["clipboard-read", "clipboard-write"])
    journey.login(owner, "alice", PASSWORD)
    owner.click("nav.sidenav >> text=开放接口")
    journey.ready(owner)
    journey.check_both(owner, "api-keys-empty")

    owner.fill("#id_name", "订单同步")
    owner.check("input[name=scopes][value=orders]")
    owner.check("input[name=scopes][value=customers]")
    with owner.expect_navigation():
        owner.click("#create-key")
    journey.ready(owner)
    token = owner.input_value("#new-key")
    assert re.fullmatch(r"sk_live_[A-Za-z0-9]{48}", token)
    journey.check_both(owner, "api-key-created")
    owner.click("#copy-key")
    owner.locator("#copy-done").wait_for()
    assert owner.evaluate("navigator.clipboard.readText()") == token

    answer = owner.request.get("/api/v1/account", headers={"Authorization": f"Bearer {token}"})
    assert answer.status == 200 and answer.json()["balance"] == 300

    # Shown once: the list has the prefix only.
    owner.goto(f"/shop/{shop.pk}/api/keys/")
    journey.ready(owner)
    assert token not in owner.content()
    key = ApiKey.objects.get(shop=shop)
    assert f"sk_live_{key.prefix}…" in owner.inner_text("#api-keys")

    owner.click(f"#key-{key.pk} >> text=吊销")
    journey.ready(owner)
    journey.check_both(owner, "api-key-revoke")
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None
    with owner.expect_navigation():
        owner.click("#confirm-revoke")
    journey.ready(owner)
    assert "已吊销" in owner.inner_text("#api-keys")
    refused = owner.request.get("/api/v1/account", headers={"Authorization": f"Bearer {token}"})
    assert refused.status == 401 and refused.json()["code"] == "UNAUTHENTICATED"
    journey.assert_console_clean()
