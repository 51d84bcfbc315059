"""Smoke run of ``bench_webhooks`` at a small size: it measures the three variants and keeps
nothing (its rounds roll back). The figures are not asserted (benchmarks are not timed tests)."""

from __future__ import annotations

import io
import re

from django.core.management import call_command

from campaigns.models import Message, WebhookEndpoint, WebhookEvent
from smsmarketing.models import Shop


def test_it_measures_each_variant_and_keeps_nothing(db):
    out = io.StringIO()
    call_command("bench_webhooks", messages=40, rounds=1, stdout=out)
    rows = dict(
        re.findall(
            r"^(no endpoint|endpoint, other events|endpoint, subscribed)\s+.*?(\d+)$", out.getvalue(), re.M
        )
    )
    # 40 message events and 40 click events, each with its delivery, for the subscribed shop only.
    assert rows == {"no endpoint": "0", "endpoint, other events": "0", "endpoint, subscribed": "80"}
    assert not Message.objects.exists() and not WebhookEvent.objects.exists()
    assert (
        not WebhookEndpoint.objects.exists()
        and not Shop.objects.filter(name__startswith="bench-webhooks").exists()
    )
