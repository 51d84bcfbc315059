"""Create an API key of a shop for the open API and print it once (an operator's command)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from campaigns.models.api import ApiScope
from campaigns.services.api_keys import api_key_create, shop_owner
from smsmarketing.errors import SmsError
from smsmarketing.models import Shop

ALL_SCOPES = [scope.value for scope in ApiScope]


class Command(BaseCommand):
    help = (
        "Create an API key of a shop (as its owner) and print it once: only its hash is stored. "
        "Scopes default to all of: " + ", ".join(ALL_SCOPES) + "."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--shop", type=int, required=True, help="the shop's id")
        parser.add_argument("--name", required=True, help="what the key is for, e.g. 'ERP sync'")
        parser.add_argument(
            "--scopes",
            nargs="+",
            default=ALL_SCOPES,
            metavar="SCOPE",
            help="one or more of: " + ", ".join(ALL_SCOPES),
        )

    def handle(self, *args, shop: int, name: str, scopes: list[str], **options) -> None:
        found = Shop.objects.select_related("category").filter(pk=shop).first()
        if found is None:
            raise CommandError(f"No shop with id {shop}.")
        owner = shop_owner(shop=found)
        if owner is None:
            raise CommandError(f"Shop {shop} has no owner: the key would act as nobody.")
        # Accept "orders,customers" as well as "orders customers".
        chosen = [part for scope in scopes for part in scope.split(",") if part]
        try:
            key, token = api_key_create(shop=found, user=owner, name=name, scopes=chosen)
        except SmsError as error:
            raise CommandError(f"{error.rule}: {error.message}") from None
        self.stderr.write(
            f"Created key {key.display_prefix} ({key.name}) of shop {found.pk} for {owner.get_username()}, "
            f"scopes {', '.join(key.scopes)}. It is shown once, below; only its hash is stored."
        )
        self.stdout.write(token)
