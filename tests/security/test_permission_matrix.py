"""The permission matrix: every merchant page × every kind of object × who asks.

Merchant routes are discovered by walking the URL resolver for patterns taking a
``shop_id``, so a page added later is covered without touching this file (a new
URL keyword fails loudly until ``World.ids`` knows an object for it).
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from campaigns.models import Campaign
from tests.security.conftest import SECRETS, snapshot

pytestmark = pytest.mark.django_db


def merchant_routes() -> list[tuple[str, list[str]]]:
    """(namespaced url name, keyword names) of every URL pattern that takes a shop_id."""
    found: list[tuple[str, list[str]]] = []

    def walk(patterns, namespaces: list[str]) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, namespaces + ([entry.namespace] if entry.namespace else []))
            elif isinstance(entry, URLPattern):
                keywords = sorted(getattr(entry.pattern, "converters", {}) or {})
                if "shop_id" in keywords:
                    assert entry.name, f"unnamed merchant URL {entry.pattern}"
                    found.append((":".join([*namespaces, entry.name]), keywords))

    walk(get_resolver().url_patterns, [])
    return found


ROUTES = merchant_routes()
ROUTES_WITH_OBJECTS = [(name, keywords) for name, keywords in ROUTES if len(keywords) > 1]

# A body that fills every merchant form of the portal, so a POST that got through would act.
POST_BODY = {
    "accept_terms": "on",
    "threshold": "100",
    "package": "1",
    "token": "0123abcd",
    "name": "攻击",
    "text": "夏季新品上架，全场满199元减20元，欢迎进店选购。",
    "use": "marketing",
    "message_class": "marketing",
    "when": "now",
    "phone": "13800130005",
    "code": "123456",
    "consent_note": "客户同意",
    "tags_any": "VIP",
    "amount": "5",
    "total_count": "9",
    "valid_from": "2026-06-01T10:00",
    "valid_until": "2026-07-01T10:00",
}


def url_for(name: str, keywords: list[str], ids: dict[str, int]) -> str:
    missing = [k for k in keywords if k not in ids]
    assert not missing, f"{name}: add an object of another shop for {missing} to World.ids"
    return reverse(name, kwargs={k: ids[k] for k in keywords})


NO_SUCH_SHOP = 987654321


def body_of(response) -> str:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return body.decode("utf-8", errors="replace")


def assert_learns_nothing(response, url: str, *, like) -> None:
    """404 (or 405 on a GET of a POST-only action, the same for every shop), answered exactly as
    for a shop that does not exist, with none of the other shop's data in it."""
    assert response.status_code in (404, 405), f"{url}: {response.status_code}"
    assert response.status_code == like.status_code, f"{url}: {response.status_code} vs {like.status_code}"
    text = body_of(response)
    assert text == body_of(like), url
    leaked = [secret for secret in SECRETS if secret in text]
    assert not leaked, f"{url} leaked {leaked}"


def test_it_discovers_every_merchant_page():
    names = {name for name, _ in ROUTES}
    assert len(ROUTES) >= 30
    for expected in (
        "portal:account",
        "reviews:template_edit",
        "campaigns:export",
        "campaigns:optouts_export",
    ):
        assert expected in names


def test_it_answers_the_owner_on_every_page(client, alice, world):
    """The control: the URLs really reach alice's objects (else the 404s below would prove nothing)."""
    client.force_login(alice)
    for name, keywords in ROUTES:
        url = url_for(name, keywords, world.ids())
        status = client.get(url).status_code
        assert status not in (404, 500), f"{url}: {status}"


@pytest.mark.parametrize("method", ["get", "post"])
def test_it_hides_every_page_of_another_shop_and_changes_nothing(client, bob, world, method):
    client.force_login(bob)
    before = snapshot()
    for name, keywords in ROUTES:
        url = url_for(name, keywords, world.ids())
        nowhere = url_for(name, keywords, {**world.ids(), "shop_id": NO_SUCH_SHOP})
        for suffix in ("", "?export=csv", "?q=138"):
            if method == "post":
                response, like = (
                    client.post(url + suffix, POST_BODY),
                    client.post(nowhere + suffix, POST_BODY),
                )
            else:
                response, like = client.get(url + suffix), client.get(nowhere + suffix)
            assert_learns_nothing(response, url + suffix, like=like)
    assert snapshot() == before


@pytest.mark.parametrize("method", ["get", "post"])
def test_it_hides_another_shops_objects_behind_ones_own_shop_id(client, bob, world, method):
    """IDOR: bob's own shop id with alice's campaign / template ids."""
    client.force_login(bob)
    ids = {**world.ids(), "shop_id": world.bob_shop.pk}
    before = snapshot()
    nowhere_ids = {**ids, "campaign_id": NO_SUCH_SHOP, "template_id": NO_SUCH_SHOP}
    for name, keywords in ROUTES_WITH_OBJECTS:
        url, nowhere = url_for(name, keywords, ids), url_for(name, keywords, nowhere_ids)
        if method == "post":
            response, like = client.post(url, POST_BODY), client.post(nowhere, POST_BODY)
        else:
            response, like = client.get(url + "?export=csv"), client.get(nowhere + "?export=csv")
        assert_learns_nothing(response, url, like=like)
    assert snapshot() == before


def test_it_sends_anonymous_visitors_to_the_login_page(client, world):
    before = snapshot()
    for name, keywords in ROUTES:
        url = url_for(name, keywords, world.ids())
        got = client.get(url)
        # A GET of a POST-only action is refused for its method before anything else (405).
        assert got.status_code in (302, 405), url
        for response in [client.post(url, POST_BODY)] + ([got] if got.status_code == 302 else []):
            assert response.status_code == 302, url
            assert response["Location"].startswith(reverse("login") + "?next="), url
    assert snapshot() == before


def test_it_refuses_another_shops_segment_coupon_and_template_in_ones_own_campaign(client, bob, world):
    client.force_login(bob)
    url = reverse("campaigns:new", args=[world.bob_shop.pk]) + "?kind=coupon"
    response = client.post(
        url,
        {
            "name": "借用",
            "segment": world.segment.pk,
            "coupon": world.coupon.pk,
            "template": world.template.pk,
        },
    )
    assert response.status_code == 400  # the form again, with its errors
    assert set(response.context["form"].errors) >= {"segment", "coupon", "template"}
    assert not Campaign.objects.filter(shop=world.bob_shop).exists()


def test_it_copies_only_official_templates_never_another_shops(client, bob, world):
    client.force_login(bob)
    response = client.get(
        reverse("reviews:template_new", args=[world.bob_shop.pk]) + f"?copy={world.template.pk}"
    )
    assert response.status_code in (200, 404)
    assert "会员日：送您" not in response.content.decode()


# --- the admin ------------------------------------------------------------------------


def admin_urls() -> list[str]:
    urls = [reverse("admin:index")]
    for model in admin.site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        urls += [reverse("admin:{}_{}_changelist".format(*info)), reverse("admin:{}_{}_add".format(*info))]
    return urls


def test_it_keeps_merchants_out_of_the_admin(client, bob, world):
    client.force_login(bob)
    before = snapshot()
    for url in admin_urls():
        for response in (
            client.get(url),
            client.post(url, {"action": "grant_units", "_selected_action": [1]}),
        ):
            assert response.status_code == 302, url
            assert response["Location"].startswith(reverse("admin:login")), url
    assert snapshot() == before


def test_it_does_not_let_a_merchant_log_into_the_admin(client, world):
    from tests.factories import PASSWORD

    response = client.post(reverse("admin:login"), {"username": "bob", "password": PASSWORD})
    assert response.status_code == 200  # the form again, with its error
    assert client.get(reverse("admin:index")).status_code == 302
