"""What webhook emission adds to the pipeline: delivery reports, settlement and short-link taps,
for a shop without an endpoint, with one subscribed to other events, and with one subscribed.

Per round and variant: 1,000 messages handed to the gateway; ``delivery_reports_apply`` of
their 1,000 final reports, then ``delivery_settle`` (where ``message.*`` events are written);
then 1,000 human taps of their short links (``link_follow``, where ``link.clicked`` is written).
Wall time of each step (median over the rounds). Everything happens inside a transaction that is
rolled back, so the database keeps nothing (and commits' WAL flushes are not in the figures:
they are the same with or without webhooks).

    export DJANGO_SETTINGS_MODULE=smsmarketing.settings_bench
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/sms_bench
    .venv/bin/python manage.py bench_webhooks [--messages 1000] [--rounds 5]

Messages carry no parts (no reservation): settlement's money moves are not measured, so the
webhook share of a real settlement is smaller than the share printed here.
"""

from __future__ import annotations

import secrets
import statistics
import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign, CampaignRun, Message, WebhookDelivery, WebhookEndpoint
from campaigns.services.delivery import delivery_reports_apply, delivery_settle
from campaigns.services.links import link_code_new, link_follow
from smsmarketing.models import Category, Membership, Shop

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 MicroMessenger/8.0.40(0x1800282a) NetType/WIFI Language/zh_CN"
)
VARIANTS = {
    "no endpoint": None,
    "endpoint, other events": ["optout.created"],
    "endpoint, subscribed": ["message.delivered", "message.failed", "link.clicked"],
}


class Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Cost of webhook emission in delivery reports, settlement and short-link taps."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--messages", type=int, default=1000)
        parser.add_argument("--rounds", type=int, default=5)

    def handle(self, *args, messages: int, rounds: int, **options) -> None:
        figures: dict[str, dict[str, list[float]]] = {name: {} for name in VARIANTS}
        for _round in range(rounds):
            for name, events in VARIANTS.items():
                for step, seconds in self.round(messages=messages, events=events).items():
                    figures[name].setdefault(step, []).append(seconds)
        self.stdout.write(f"{messages} messages per round, {rounds} rounds, median wall time (ms):")
        self.stdout.write(
            f"{'variant':<26}{'reports_apply':>15}{'settle':>10}{'link_follow':>13}{'written':>9}"
        )
        for name, steps in figures.items():
            row = [statistics.median(steps[step]) * 1000 for step in ("apply", "settle", "follow")]
            written = int(statistics.median(steps["deliveries"]))
            self.stdout.write(f"{name:<26}{row[0]:>15.1f}{row[1]:>10.1f}{row[2]:>13.1f}{written:>9}")

    def round(self, *, messages: int, events: list[str] | None) -> dict[str, float]:
        timings: dict[str, float] = {}
        try:
            with transaction.atomic():
                shop, owner = self.shop()
                if events is not None:
                    WebhookEndpoint.objects.create(
                        shop=shop, url="https://93.184.215.14/hooks", events=events, secret="whsec_bench",
                        created_by=owner,
                    )  # fmt: skip
                rows = self.messages(shop=shop, owner=owner, count=messages)
                now = timezone.now()
                reports = [(m.pk, "delivered" if i % 10 else "failed", now, None) for i, m in enumerate(rows)]
                started = time.perf_counter()
                delivery_reports_apply(reports=reports)
                timings["apply"] = time.perf_counter() - started
                started = time.perf_counter()
                delivery_settle()
                timings["settle"] = time.perf_counter() - started
                started = time.perf_counter()
                for message in rows:
                    link_follow(code=message.link_code, method="GET", user_agent=IPHONE, client="10.0.0.1")
                timings["follow"] = time.perf_counter() - started
                timings["deliveries"] = WebhookDelivery.objects.filter(endpoint__shop=shop).count()
                raise Rollback
        except Rollback:
            pass
        return timings

    def shop(self):
        tag = secrets.token_hex(4)
        category = Category.objects.create(name=f"bench-webhooks-{tag}")
        shop = Shop.objects.create(name=f"bench-webhooks-{tag}", category=category)
        owner = get_user_model().objects.create_user(username=f"bench-webhooks-{tag}")
        Membership.objects.create(user=owner, shop=shop)
        return shop, owner

    def messages(self, *, shop, owner, count: int) -> list[Message]:
        campaign = Campaign.objects.create(
            shop=shop, kind="marketing", name="bench", status="running", text="bench ${shop_link}",
            created_by=owner,
        )  # fmt: skip
        run = CampaignRun.objects.create(campaign=campaign, status="dispatching")
        sent_at = timezone.now() - timedelta(minutes=1)
        return Message.objects.bulk_create(
            Message(
                campaign=campaign,
                run=run,
                shop=shop,
                phone=f"199{i:08d}",
                status="sending",
                parts=0,
                settlement="pending",
                link_code=link_code_new(),
                sent_at=sent_at,
            )  # fmt: skip
            for i in range(count)
        )
