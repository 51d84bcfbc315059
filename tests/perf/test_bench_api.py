"""Smoke run of ``bench_api`` at a small size: it works and leaves nothing behind (figures not asserted)."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command

from campaigns.models import Campaign
from campaigns.models.api import ApiKey, IdempotencyRecord


@pytest.mark.django_db
def test_it_prints_the_four_steps_and_rolls_everything_back():
    out = io.StringIO()
    call_command("bench_api", requests=5, stdout=out)
    text = out.getvalue()
    for step in (
        "GET /account",
        "POST /campaigns, no key",
        "POST /campaigns, fresh key",
        "POST /campaigns, replay",
    ):
        assert re.search(re.escape(step) + r"\s+[\d.]+\s+[\d.]+", text), text
    assert (
        not ApiKey.objects.exists()
        and not Campaign.objects.exists()
        and not IdempotencyRecord.objects.exists()
    )
