"""What the open API's framework costs per request (in-process: Django's test client, no network).

Per round, inside a transaction that is rolled back (the database keeps nothing): GET /account
(auth, rate-limit count, one read), POST /campaigns without an Idempotency-Key, with a fresh key
each time (the record is inserted and the answer stored with the operation), and the replay of one
key (the stored answer, the operation not run). Median and 95th percentile of the wall time.

    export DJANGO_SETTINGS_MODULE=smsmarketing.settings_bench
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/sms_bench
    .venv/bin/python manage.py bench_api [--requests 300]
"""

from __future__ import annotations

import json
import secrets
import statistics
import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.test import Client, override_settings

from campaigns.services.api_keys import api_key_create
from smsmarketing.models import Category, Membership, Shop
from smsmarketing.services import account_activate, account_grant

BODY = json.dumps(
    {"kind": "marketing", "name": "压测", "text": "夏季新品上架，全场满199元减20元，欢迎进店选购。"}
)


class Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Per-request wall time of the open API: auth, rate limit, idempotency (in-process)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--requests", type=int, default=300)

    def handle(self, *args, requests: int, **options) -> None:
        figures: dict[str, list[float]] = {}
        try:
            with transaction.atomic(), override_settings(API_RATE_LIMIT={"requests": 10**9, "seconds": 60}):
                token = self.key()
                client = Client(HTTP_HOST="127.0.0.1")  # an ALLOWED_HOSTS name (not testserver)
                auth = {"Authorization": f"Bearer {token}"}
                steps = {
                    "GET /account": lambda n: client.get("/api/v1/account", headers=auth),
                    "POST /campaigns, no key": lambda n: self.post(client, auth),
                    "POST /campaigns, fresh key": lambda n: self.post(client, auth, key=f"bench-{n}"),
                    "POST /campaigns, replay": lambda n: self.post(client, auth, key="bench-0"),
                }
                for name, call in steps.items():
                    call(0)  # warm-up (and the replayed key's first answer)
                    figures[name] = []
                    for n in range(1, requests + 1):
                        started = time.perf_counter()
                        response = call(n)
                        figures[name].append(time.perf_counter() - started)
                        if response.status_code >= 300:
                            raise RuntimeError(f"{name}: {response.status_code} {response.content[:200]!r}")
                raise Rollback
        except Rollback:
            pass
        self.stdout.write(f"{requests} requests per step, in-process, wall time (ms):")
        self.stdout.write(f"{'step':<30}{'median':>9}{'p95':>9}")
        for name, times in figures.items():
            p95 = statistics.quantiles(times, n=20)[18]
            self.stdout.write(f"{name:<30}{statistics.median(times) * 1000:>9.2f}{p95 * 1000:>9.2f}")

    def post(self, client: Client, auth: dict[str, str], *, key: str | None = None):
        headers = {**auth, **({"Idempotency-Key": key} if key else {})}
        return client.post("/api/v1/campaigns", BODY, content_type="application/json", headers=headers)

    def key(self) -> str:
        suffix = secrets.token_hex(4)
        owner = get_user_model().objects.create_user(username=f"bench-api-{suffix}")
        category, _ = Category.objects.get_or_create(name="压测类目")
        shop = Shop.objects.create(name=f"压测店铺{suffix}", category=category)
        Membership.objects.create(user=owner, shop=shop, role=Membership.Role.OWNER)
        account_activate(shop=shop, user=owner, accept_terms=True)
        account_grant(shop_id=shop.pk, units=1000, reason="bench", actor=None)
        _row, token = api_key_create(shop=shop, user=owner, name="bench", scopes=["campaigns"])
        return token
