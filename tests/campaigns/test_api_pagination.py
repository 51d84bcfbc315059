"""campaigns.api.pagination: keyset pages with an opaque cursor; a bad cursor is a 422."""

from __future__ import annotations

import base64
import json

import pytest

from campaigns.api.errors import ApiError
from campaigns.api.pagination import decode_cursor, encode_cursor, paginate
from campaigns.models.api import ApiKey
from tests.campaigns.api_helpers import make_api_key

pytestmark = pytest.mark.django_db


def test_it_walks_every_row_once_newest_first_even_while_rows_are_added(alice_shop, bob_shop):
    made = [make_api_key(alice_shop, name=f"k{n}")[0].pk for n in range(12)]
    make_api_key(bob_shop)
    keys = ApiKey.objects.filter(shop=alice_shop)
    seen, cursor, pages = [], None, 0
    while True:
        page = paginate(keys, cursor=cursor, limit=5)
        seen += [row.pk for row in page["items"]]
        pages += 1
        if pages == 1:
            make_api_key(alice_shop, name="added meanwhile")  # newer than every cursor: not on later pages
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == sorted(made, reverse=True)
    assert pages == 3


def test_it_pages_oldest_first_on_request(alice_shop):
    made = [make_api_key(alice_shop, name=f"k{n}")[0].pk for n in range(3)]
    first = paginate(ApiKey.objects.all(), cursor=None, limit=2, newest_first=False)
    rest = paginate(ApiKey.objects.all(), cursor=first["next"], limit=2, newest_first=False)
    assert [r.pk for r in first["items"] + rest["items"]] == made
    assert rest["next"] is None


def _raw(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    ["garbage!", "", "eyJ", _raw({"k": -1}), _raw({"k": True}), _raw({"k": "3"}), _raw({"x": 3}), _raw([3]),
     _raw({"k": 2**70}), "\u4e2d\u6587"],
)  # fmt: skip
def test_it_refuses_a_cursor_it_did_not_make(cursor):
    if cursor == "":
        assert paginate(ApiKey.objects.all(), cursor=cursor)["items"] == []  # no cursor: first page
        return
    with pytest.raises(ApiError) as refused:
        decode_cursor(cursor)
    assert (refused.value.status, refused.value.code) == (422, "VALIDATION")


def test_a_cursor_round_trips():
    assert decode_cursor(encode_cursor(123456789)) == 123456789
