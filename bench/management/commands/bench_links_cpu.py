"""CPU time per short-link redirect, in-process (no HTTP server, no load), next to a baseline.

What one tap costs the machine, measured where a busy, shared machine disturbs it least: the
codes ``bench_links_seed`` wrote, each tapped once (every tap a different message, as phones
tap), timing this process's CPU (``time.process_time``) and its PostgreSQL backend's
(``/proc/<pid>/stat``, same machine only), in three ways, alternating within each round:

- ``GET /t/``: the whole request through Django's test client (every middleware, the view);
- ``link_follow``: the service alone (the one statement: lookup and click insert);
- ``orm baseline``: the same work written with the ORM, a read of the message with its two
  landing URLs then ``Click.objects.create`` in ``commit_without_flush`` (what the service did
  before its single statement; kept here as the comparison);
- ``lookup only``: the service's statement without its INSERT (what a redirect that records
  nothing would cost): the difference to ``link_follow`` is the click's cost.

    export DJANGO_SETTINGS_MODULE=smsmarketing.settings_bench
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/sms_bench
    .venv/bin/python manage.py bench_links_seed --codes-file /tmp/codes.txt > /tmp/links_seed.sh
    .venv/bin/python manage.py bench_links_cpu /tmp/codes.txt [--taps 1000] [--rounds 3]

Each tap records a real click row (the benchmark's database is not cleaned up).
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.test import Client
from django.utils import timezone

from bench.management.commands.bench_web_cpu import backend_cpu_seconds
from campaigns.models import Click, Message
from campaigns.services.links import (
    FOLLOW_SQL,
    agent_is_human,
    client_hash,
    landing_url_allowed,
    link_follow,
    link_policy,
)
from smsmarketing.db import commit_without_flush

AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 MicroMessenger/8.0.40 NetType/WIFI Language/zh_CN"
)
CLIENT = "10.20.30.40"


def orm_follow(code: str) -> str:
    """The baseline: the ORM's read of the message, then the click's ``create``."""
    at = timezone.now()
    live = Message.objects.filter(
        link_code=code, created_at__gte=at - timedelta(days=settings.SMS_SHORT_LINK_DAYS)
    )
    found = list(
        live.values_list(
            "pk", "campaign_id", "shop_id", "phone", "campaign__coupon__landing_url", "shop__landing_url"
        )[:1]
    )
    message_id, campaign_id, shop_id, phone, coupon_url, shop_url = found[0]
    policy = link_policy()
    human = agent_is_human(AGENT, policy=policy)
    with commit_without_flush():
        Click.objects.create(
            message_id=message_id, campaign_id=campaign_id, shop_id=shop_id, phone=phone, at=at, method="GET",
            user_agent=AGENT, client_hash=client_hash(CLIENT), human=human,
        )  # fmt: skip
    allowed = [url for url in (coupon_url, shop_url) if url and landing_url_allowed(url, policy=policy)]
    return allowed[0] if allowed else ""


# The service's statement up to its CTE ``message``: the read alone, no click written.
LOOKUP_SQL = FOLLOW_SQL.split("), click AS (")[0].replace("WITH message AS (", "", 1)
WAYS = 4


def lookup(code: str) -> None:
    at = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(LOOKUP_SQL, {"code": code, "since": at - timedelta(days=settings.SMS_SHORT_LINK_DAYS)})
        if cursor.fetchone() is None:
            raise CommandError(f"{code}: unknown")


class Command(BaseCommand):
    help = "CPU per short-link redirect in-process: the request, the service, and an ORM baseline."

    def add_arguments(self, parser) -> None:
        parser.add_argument("codes_file")
        parser.add_argument("--taps", type=int, default=1000, help="taps per way and round")
        parser.add_argument("--rounds", type=int, default=3)

    def handle(self, *args, codes_file: str, taps: int, rounds: int, **options) -> None:
        codes = Path(codes_file).read_text().split()
        needed = (rounds * WAYS + 1) * taps
        if len(codes) < needed:
            raise CommandError(f"{codes_file} holds {len(codes)} codes; the rounds need {needed}")
        client = Client(HTTP_HOST=settings.ALLOWED_HOSTS[0] if settings.ALLOWED_HOSTS else "localhost")

        def request(code: str) -> None:
            response = client.get(f"/t/{code}", headers={"user-agent": AGENT})
            if response.status_code != 302:
                raise CommandError(f"/t/{code}: HTTP {response.status_code}")

        def service(code: str) -> None:
            if link_follow(code=code, method="GET", user_agent=AGENT, client=CLIENT) is None:
                raise CommandError(f"{code}: unknown")

        ways = (
            ("GET /t/", request),
            ("link_follow", service),
            ("orm baseline", orm_follow),
            ("lookup only", lookup),
        )
        batches = iter(codes[i : i + taps] for i in range(0, needed, taps))
        for code in next(batches):  # warm up: connection, ua-parser's rules, the policy, the handler
            request(code)
        for number in range(1, rounds + 1):
            for name, tap in ways:
                batch = next(batches)
                db0, cpu0, wall0 = backend_cpu_seconds(), time.process_time(), time.perf_counter()
                for code in batch:
                    tap(code)
                app = (time.process_time() - cpu0) * 1000 / taps
                wall = (time.perf_counter() - wall0) * 1000 / taps
                db1 = backend_cpu_seconds()
                db = f"{(db1 - db0) * 1000 / taps:.3f}" if db0 is not None and db1 is not None else "n/a"
                self.stdout.write(
                    f"round {number} {name:13s} app_cpu={app:.3f}ms db_cpu={db}ms wall={wall:.3f}ms"
                )
