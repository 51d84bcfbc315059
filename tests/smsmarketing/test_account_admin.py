"""The admin of the SMS account: read-only ledger, packages, the audited grant action."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from smsmarketing.models import LedgerEntry, RechargePackage, SmsAccount
from tests.factories import make_active_account, make_user

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:smsmarketing_smsaccount_changelist"


@pytest.fixture
def operator(db):
    return make_user("olga", superuser=True)


@pytest.fixture
def accounts(alice_shop, bob_shop):
    return [make_active_account(alice_shop, balance=10), make_active_account(bob_shop, balance=20)]


def grant_post(client, accounts, **extra):
    data = {"action": "grant_units", ACTION_CHECKBOX_NAME: [a.pk for a in accounts], **extra}
    return client.post(reverse(CHANGELIST), data)


def test_the_grant_action_first_asks_for_units_and_a_reason(client, operator, accounts):
    client.force_login(operator)
    response = grant_post(client, accounts)
    body = response.content.decode()
    assert response.status_code == 200
    assert "发放原因" in body and "确认发放" in body and "爱丽丝服饰" in body
    assert LedgerEntry.objects.count() == 2  # only the factory's grants


def test_the_grant_action_credits_every_selected_account_with_the_reason(client, operator, accounts):
    client.force_login(operator)
    response = grant_post(client, accounts, apply="1", units="100", reason="双十一补偿")
    assert response.status_code == 302
    assert sorted(SmsAccount.objects.values_list("balance", flat=True)) == [110, 120]
    entries = LedgerEntry.objects.filter(note="双十一补偿")
    assert entries.count() == 2 and {e.actor for e in entries} == {operator}


@pytest.mark.parametrize(
    "units,reason",
    [("100", ""), ("0", "x"), ("-5", "x"), ("abc", "x"), ("100000000000", "x")],
)
def test_the_grant_action_refuses_bad_input_and_changes_nothing(client, operator, accounts, units, reason):
    client.force_login(operator)
    response = grant_post(client, accounts, apply="1", units=units, reason=reason)
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert sorted(SmsAccount.objects.values_list("balance", flat=True)) == [10, 20]


def test_a_reviewer_sees_accounts_read_only_and_cannot_grant(client, reviewer, accounts):
    client.force_login(reviewer)
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    assert "grant_units" not in response.content.decode()
    grant_post(client, accounts, apply="1", units="100", reason="偷偷加")
    assert sorted(SmsAccount.objects.values_list("balance", flat=True)) == [10, 20]
    change = reverse("admin:smsmarketing_smsaccount_change", args=[accounts[0].pk])
    client.post(change, {"balance": "99999"})
    assert SmsAccount.objects.get(pk=accounts[0].pk).balance == 10


def test_the_ledger_is_read_only_even_for_a_superuser(client, operator, accounts):
    client.force_login(operator)
    entry = LedgerEntry.objects.first()
    assert client.get(reverse("admin:smsmarketing_ledgerentry_changelist")).status_code == 200
    assert client.get(reverse("admin:smsmarketing_ledgerentry_add")).status_code == 403
    client.post(reverse("admin:smsmarketing_ledgerentry_change", args=[entry.pk]), {"amount": "999"})
    client.post(reverse("admin:smsmarketing_ledgerentry_delete", args=[entry.pk]), {"post": "yes"})
    entry.refresh_from_db()
    assert entry.amount in (10, 20)


def test_an_operator_edits_packages(client, operator):
    client.force_login(operator)
    package = RechargePackage.objects.get(units=1_000)
    url = reverse("admin:smsmarketing_rechargepackage_change", args=[package.pk])
    data = {"name": "1,000 条（特惠）", "units": "1000", "price": "45.00", "active": "on", "sort_order": "5"}
    response = client.post(url, data)
    assert response.status_code == 302
    package.refresh_from_db()
    assert (package.name, str(package.price)) == ("1,000 条（特惠）", "45.00")


@pytest.mark.parametrize(
    "model", ["smsaccount", "rechargeorder", "ledgerentry", "rechargepackage", "reservation"]
)
def test_admin_lists_render(client, operator, accounts, model):
    client.force_login(operator)
    assert client.get(reverse(f"admin:smsmarketing_{model}_changelist")).status_code == 200
