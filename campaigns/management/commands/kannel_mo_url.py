"""Print the get-url of Kannel's sms-service for replies (used by scripts/kannel/start.sh)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from campaigns.gateways.kannel import mo_url


class Command(BaseCommand):
    help = "Print the inbound (MO) URL, with its token and Kannel placeholders, for kannel.conf."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="how Kannel reaches this app")

    def handle(self, *args, base_url: str, **options) -> None:
        self.stdout.write(mo_url(base_url))
