"""Create demo users and shops; running it again creates nothing new."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from campaigns.demo import seed_demo
from smsmarketing.demo import DEMO_LOGINS


class Command(BaseCommand):
    help = "Create a platform superuser, a reviewer and two merchants with shops (idempotent)."

    def handle(self, *args, **options) -> None:
        created = seed_demo()
        self.stdout.write(f"Demo data ready ({created} new objects).")
        self.stdout.write("Logins (username / password / role):")
        for login in DEMO_LOGINS:
            self.stdout.write(f"  {login.username:<10} {login.password:<16} {login.role}")
