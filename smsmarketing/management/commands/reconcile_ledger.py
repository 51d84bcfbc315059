"""Check every SMS account against its ledger; exit 1 with a report of every discrepancy."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from smsmarketing.models import SmsAccount
from smsmarketing.selectors import ledger_reconcile


class Command(BaseCommand):
    help = (
        "Check every SMS account: balance == sum of ledger, no negative balance or reserved, "
        "reserved == sum of ledger reserved changes == open reservations, and the ledger's running "
        "figures. Exits 0 when clean, 1 with one line per discrepancy otherwise."
    )

    def handle(self, *args, **options) -> None:
        discrepancies = ledger_reconcile()
        accounts = SmsAccount.objects.count()
        if not discrepancies:
            self.stdout.write(f"reconcile_ledger: {accounts} accounts checked, 0 discrepancies.")
            return
        for d in discrepancies:
            self.stdout.write(str(d))
        self.stderr.write(
            f"reconcile_ledger: {accounts} accounts checked, {len(discrepancies)} discrepancies."
        )
        raise SystemExit(1)
