"""Platform staff act only within their permissions, by every route the admin offers.

A staff member without the review permission cannot decide a review (decide page,
change form, bulk action, the services); a reviewer cannot change a balance at all,
and units are credited only through the audited grant action.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from reviews.models import MessageTemplate, ReviewDecision, Signature
from reviews.services.signatures import signature_approve, signature_reject
from reviews.services.templates import template_approve
from smsmarketing.models import LedgerEntry, SmsAccount
from tests.factories import make_user
from tests.security.conftest import snapshot

pytestmark = pytest.mark.django_db


def staff_with(username: str, *codenames: str):
    user = make_user(username, staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def viewer(db):
    """Staff who can see the queues and accounts but holds no review or grant permission."""
    return staff_with(
        "vera", "view_signature", "view_messagetemplate", "view_smsaccount", "view_ledgerentry", "view_shop"
    )


def review_routes(item) -> list[tuple[str, str, dict]]:
    info = (item._meta.app_label, item._meta.model_name)
    decide = reverse("admin:{}_{}_decide".format(*info), args=[item.pk])
    change = reverse("admin:{}_{}_change".format(*info), args=[item.pk])
    changelist = reverse("admin:{}_{}_changelist".format(*info))
    return [
        ("get", decide, {}),
        ("post", decide, {"decision": "approve"}),
        ("post", decide, {"decision": "reject", "reason_code": "other", "reason_text": "x"}),
        ("post", change, {"state": "approved"}),
        ("post", changelist, {"action": "bulk_approve", "_selected_action": [item.pk]}),
        ("post", reverse("admin:{}_{}_delete".format(*info), args=[item.pk]), {"post": "yes"}),
    ]


def test_it_lets_no_staff_without_the_review_permission_decide_by_any_route(client, viewer, world):
    pending = [world.signature, world.template]
    assert {p.state for p in pending} == {"pending"}
    client.force_login(viewer)
    before = snapshot()
    for item in pending:
        for method, url, data in review_routes(item):
            response = getattr(client, method)(url, data)
            # 403, or the changelist again with "no action" (the bulk action is not offered).
            assert response.status_code in (403, 302, 200), url
            if response.status_code == 200:
                assert "bulk_approve" not in response.content.decode(), url
    assert snapshot() == before
    for call in (
        lambda: signature_approve(signature=world.signature, reviewer=viewer),
        lambda: signature_reject(signature=world.signature, reviewer=viewer, reason_code="other"),
        lambda: template_approve(template=world.template, reviewer=viewer),
    ):
        with pytest.raises(PermissionDenied):
            call()
    assert Signature.objects.get(pk=world.signature.pk).state == "pending"
    assert MessageTemplate.objects.get(pk=world.template.pk).state == "pending"
    assert not ReviewDecision.objects.filter(actor=viewer).exists()


def test_it_lets_a_reviewer_decide_through_the_workbench(client, reviewer, world):
    """The control of the test above: the same route works with the permission."""
    client.force_login(reviewer)
    url = reverse("admin:reviews_signature_decide", args=[world.signature.pk])
    assert client.post(url, {"decision": "approve"}).status_code == 302
    assert Signature.objects.get(pk=world.signature.pk).state == "approved"
    assert ReviewDecision.objects.filter(actor=reviewer, action="approve").exists()


def balance_routes(account: SmsAccount) -> list[tuple[str, dict]]:
    entry = LedgerEntry.objects.filter(account=account).first()
    return [
        (reverse("admin:smsmarketing_smsaccount_change", args=[account.pk]), {"balance": "999999"}),
        (reverse("admin:smsmarketing_smsaccount_add"), {"shop": account.shop_id, "balance": "999999"}),
        (reverse("admin:smsmarketing_ledgerentry_add"), {"account": account.pk, "amount": "999999"}),
        (reverse("admin:smsmarketing_ledgerentry_change", args=[entry.pk]), {"amount": "999999"}),
        (reverse("admin:smsmarketing_ledgerentry_delete", args=[entry.pk]), {"post": "yes"}),
        (reverse("admin:smsmarketing_smsaccount_delete", args=[account.pk]), {"post": "yes"}),
        (
            reverse("admin:smsmarketing_smsaccount_changelist"),
            {
                "action": "grant_units",
                "_selected_action": [account.pk],
                "apply": "1",
                "units": "999999",
                "reason": "私自加量",
            },
        ),
    ]


def test_it_lets_a_reviewer_change_no_balance_by_any_route(client, reviewer, world):
    account = SmsAccount.objects.get(shop=world.alice_shop)
    client.force_login(reviewer)
    before = snapshot()
    for url, data in balance_routes(account):
        response = client.post(url, data)
        assert response.status_code in (403, 302, 200), url
    assert snapshot() == before


def test_it_credits_units_only_through_the_audited_grant_action(client, world):
    granter = staff_with("gina", "view_smsaccount", "grant_units")
    account = SmsAccount.objects.get(shop=world.alice_shop)
    client.force_login(granter)
    url = reverse("admin:smsmarketing_smsaccount_changelist")
    without_reason = {"action": "grant_units", "_selected_action": [account.pk], "apply": "1", "units": "50"}
    client.post(url, {**without_reason, "reason": ""})
    assert SmsAccount.objects.get(pk=account.pk).balance == account.balance  # a reason is required
    client.post(url, {**without_reason, "reason": "售后补偿"})
    assert SmsAccount.objects.get(pk=account.pk).balance == account.balance + 50
    entry = LedgerEntry.objects.filter(account=account).order_by("-id").first()
    assert (entry.kind, entry.amount, entry.actor, entry.note) == ("grant", 50, granter, "售后补偿")
    # Still no other route for the granter either.
    before = snapshot()
    for route_url, data in balance_routes(account)[:-1]:
        assert client.post(route_url, data).status_code in (403, 302, 200)
    assert snapshot() == before
