"""The operator's admin pages of campaigns and messages open, and are read-only."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse

from tests.factories import PASSWORD, make_user


def test_it_opens_every_campaigns_admin_changelist_for_a_superuser(client, db):
    make_user("ops", superuser=True)
    assert client.login(request=HttpRequest(), username="ops", password=PASSWORD)
    for model in ("customer", "purchase", "segment", "coupon", "campaign", "message", "deliveryreport"):
        page = client.get(reverse(f"admin:campaigns_{model}_changelist"))
        assert page.status_code == 200, model
    assert client.get(reverse("admin:campaigns_message_add")).status_code == 403
