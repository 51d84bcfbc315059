"""seed_demo gives alice's shop an activated SMS account with a balance, once."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from smsmarketing.models import LedgerEntry, RechargeOrder, SmsAccount
from smsmarketing.selectors import ledger_reconcile

pytestmark = pytest.mark.django_db


def test_it_activates_alices_account_with_a_balance():
    call_command("seed_demo")
    account = SmsAccount.objects.get(shop__name="爱丽丝服饰旗舰店")
    assert account.is_active and account.balance == 12_000
    assert RechargeOrder.objects.filter(account=account, status="paid").count() == 1
    assert not SmsAccount.objects.filter(shop__name="博康大药房").exists()  # restricted: left alone
    assert ledger_reconcile() == []


def test_running_it_again_credits_nothing_more():
    call_command("seed_demo")
    before = (SmsAccount.objects.get().balance, LedgerEntry.objects.count(), RechargeOrder.objects.count())
    call_command("seed_demo")
    after = (SmsAccount.objects.get().balance, LedgerEntry.objects.count(), RechargeOrder.objects.count())
    assert after == before
