"""Helpers of the open API's tests: keys made through the service, requests with a bearer key."""

from __future__ import annotations

import json
from typing import Any

from campaigns.models.api import ApiKey, ApiScope
from campaigns.services.api_keys import api_key_create, shop_owner

ALL_SCOPES = [scope.value for scope in ApiScope]


def make_api_key(
    shop, *, scopes: list[str] | None = None, name: str = "ERP 同步", user=None
) -> tuple[ApiKey, str]:
    """A key of ``shop`` created by its owner (or ``user``); returns the row and the whole key."""
    return api_key_create(
        shop=shop,
        user=user or shop_owner(shop=shop),
        name=name,
        scopes=ALL_SCOPES if scopes is None else scopes,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def api_get(client, path: str, token: str | None, **params: Any):
    headers = bearer(token) if token else {}
    return client.get(f"/api/v1{path}", params, headers=headers)


def api_post(client, path: str, token: str | None, body: Any, *, idempotency_key: str | None = None):
    headers = bearer(token) if token else {}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return client.post(f"/api/v1{path}", json.dumps(body), content_type="application/json", headers=headers)
