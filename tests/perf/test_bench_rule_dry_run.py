"""The rule proposals' dry-run benchmark runs, prints a figure per kind and leaves nothing behind."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command

from reviews.models import MessageTemplate, RuleProposal

pytestmark = pytest.mark.django_db


def test_it_times_each_kind_of_proposal_and_rolls_its_rows_back():
    out = io.StringIO()
    call_command("bench_rule_dry_run", reviewed=120, pending=30, rounds=1, stdout=out)
    lines = out.getvalue().splitlines()
    kinds = {line.split()[0]: line for line in lines[1:]}
    assert set(kinds) == {"term", "confusable", "pattern"}
    for line in kinds.values():
        assert "read 30 pending + 120 reviewed" in line
        flagged = re.search(r"flags (\d+) \+ (\d+)", line)
        assert int(flagged.group(1)) >= 1 and int(flagged.group(2)) >= 1  # the trick is among them
        assert re.search(r"median \d+\.\d\d s", line)
    assert not MessageTemplate.objects.filter(shop__name="基准测试店铺").exists()
    assert not RuleProposal.objects.exists()
