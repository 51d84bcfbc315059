"""Grant units to a shop's SMS account: ``manage.py grant_units SHOP UNITS --reason TEXT``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from smsmarketing.errors import SmsError
from smsmarketing.services import account_grant


class Command(BaseCommand):
    help = "Credit UNITS parts to shop SHOP's SMS account as a platform grant (平台发放), with a reason."

    def add_arguments(self, parser) -> None:
        parser.add_argument("shop", type=int, help="the shop's id")
        parser.add_argument("units", type=int, help="parts to credit (a positive whole number)")
        parser.add_argument("--reason", required=True, help="why (kept in the ledger, shown to the merchant)")

    def handle(self, *args, shop: int, units: int, reason: str, **options) -> None:
        try:
            entry = account_grant(shop_id=shop, units=units, reason=reason, actor=None, actor_label="命令行")
        except SmsError as exc:
            raise CommandError(f"[{exc.rule}] {exc.message}") from exc
        self.stdout.write(
            f"Granted {entry.parts:,} parts to shop {shop}; balance is now {entry.balance_after:,}"
            f" (ledger entry {entry.pk})."
        )
