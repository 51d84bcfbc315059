"""Smoke run of the short-link benchmark's seed at a small size: the codes it writes answer the
redirect to the coupon's landing page and each records a click (figures are not asserted)."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from campaigns.models import Click, Message
from campaigns.services.links import link_policy_forget


@pytest.mark.django_db
def test_it_seeds_messages_with_codes_that_redirect_and_record_a_click(tmp_path):
    codes_file = tmp_path / "codes.txt"
    out = io.StringIO()
    link_policy_forget()
    call_command(
        "bench_links_seed", messages=2500, sample=100, codes_file=str(codes_file),
        stdout=out, stderr=io.StringIO(),
    )  # fmt: skip
    values = dict(line.split("=", 1) for line in out.getvalue().split())
    campaign_id = int(values["CAMPAIGN_ID"])
    codes = codes_file.read_text().split()
    assert len(codes) == 100 and len(set(codes)) == 100
    messages = Message.objects.filter(campaign_id=campaign_id)
    assert messages.count() == 2500 and messages.filter(link_code__in=codes).count() == 100
    client = Client()
    for code in codes[:5]:
        response = client.get(f"/t/{code}", headers={"user-agent": "Mozilla/5.0 (iPhone) Mobile Safari"})
        assert response.status_code == 302 and response["Location"] == values["LANDING"]
    assert Click.objects.filter(campaign_id=campaign_id, human=True).count() == 5


@pytest.mark.django_db
def test_it_measures_the_cpu_of_a_tap_four_ways(tmp_path):
    codes_file = tmp_path / "codes.txt"
    link_policy_forget()
    call_command(
        "bench_links_seed", messages=300, sample=300, codes_file=str(codes_file),
        stdout=io.StringIO(), stderr=io.StringIO(),
    )  # fmt: skip
    out = io.StringIO()
    call_command("bench_links_cpu", str(codes_file), taps=20, rounds=2, stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 8 and all("app_cpu=" in line and "wall=" in line for line in lines)
    assert {line.split()[2] for line in lines} == {"GET", "link_follow", "orm", "lookup"}
    # The warm-up's 20 taps and 20 per writing way and round left their clicks.
    assert Click.objects.count() == 20 + 6 * 20  # "lookup only" writes none
    with pytest.raises(CommandError):
        call_command("bench_links_cpu", str(codes_file), taps=100, rounds=3, stdout=io.StringIO())
