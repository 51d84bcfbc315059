"""manage.py api_key_create: a key of the shop, printed once, only its hash stored."""

from __future__ import annotations

import hashlib
import io

import pytest
from django.core.management import CommandError, call_command

from campaigns.models.api import ApiKey
from tests.campaigns.api_helpers import api_get

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("api_key_create", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_it_prints_a_working_key_once_and_stores_its_hash(client, alice, alice_shop):
    token, note = run("--shop", str(alice_shop.pk), "--name", "ERP sync", "--scopes", "orders", "customers")

    key = ApiKey.objects.get(shop=alice_shop)
    assert token.startswith("sk_live_" + key.prefix)
    assert key.key_hash == hashlib.sha256(token.encode()).hexdigest()
    assert key.scopes == ["customers", "orders"] and key.created_by == alice and key.name == "ERP sync"
    assert token not in note and key.prefix in note
    assert api_get(client, "/account", token).json()["shop_id"] == alice_shop.pk


def test_it_defaults_to_every_scope_and_takes_commas(alice_shop):
    run("--shop", str(alice_shop.pk), "--name", "all")
    run("--shop", str(alice_shop.pk), "--name", "two", "--scopes", "orders,reports")
    assert dict(ApiKey.objects.values_list("name", "scopes")) == {
        "all": ["customers", "orders", "campaigns", "reports", "webhooks"],
        "two": ["orders", "reports"],
    }


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--shop", "987654", "--name", "x"], "No shop with id 987654"),
        (["--name", "x", "--scopes", "admin"], "API-KEY-INVALID"),
        (["--name", "  "], "API-KEY-INVALID"),
    ],
)
def test_it_refuses_bad_input_and_creates_nothing(alice_shop, args, error):
    if "--shop" not in args:
        args = ["--shop", str(alice_shop.pk), *args]
    with pytest.raises(CommandError, match=error):
        run(*args)
    assert not ApiKey.objects.exists()


def test_it_refuses_a_restricted_shop(charlie_shop):
    with pytest.raises(CommandError, match="CATEGORY-RESTRICTED"):
        run("--shop", str(charlie_shop.pk), "--name", "x")
    assert not ApiKey.objects.exists()
