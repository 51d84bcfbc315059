"""Management commands: check_content (signature kind) and review_report."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from reviews.checking import check_text
from reviews.findings import Finding
from reviews.policy.checker import CheckResult
from reviews.services.signatures import signature_approve, signature_reject, signature_submit
from tests.dburl import test_database_url as _test_database_url
from tests.factories import make_shop, make_user

pytestmark = pytest.mark.django_db
SH = ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parents[2]


def run(*args, stdin: str | None = None) -> tuple[int, str]:
    out = io.StringIO()
    kwargs = {"stdout": out}
    if stdin is not None:
        kwargs["stdin"] = io.StringIO(stdin)
    try:
        call_command(*args, **kwargs)
    except CommandError as exc:
        return exc.returncode, out.getvalue()
    return 0, out.getvalue()


def test_it_prints_one_json_object_per_text_read_from_stdin():
    code, out = run("check_content", "--kind", "signature", "--json", stdin="爱丽丝\nｊＤ优选\n\n花+\n")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 1
    assert [line["text"] for line in lines] == ["爱丽丝", "ｊＤ优选", "花+"]
    assert [line["ok"] for line in lines] == [True, False, False]
    assert lines[0] == {"text": "爱丽丝", "ok": True, "findings": [], "length": None, "parts": None}
    assert lines[1]["findings"] == [{
        "rule": "SIG-PLATFORM", "start": 0, "end": 2, "severity": "block",
        "message": lines[1]["findings"][0]["message"], "hint": lines[1]["findings"][0]["hint"],
    }]
    assert lines[2]["findings"][0]["rule"] == "SIG-CHARSET"
    assert (lines[2]["findings"][0]["start"], lines[2]["findings"][0]["end"]) == (1, 2)


def test_it_exits_zero_when_nothing_is_blocked():
    code, out = run("check_content", "--kind", "signature", "爱丽丝服饰")
    assert code == 0
    assert "爱丽丝服饰" in out


def test_it_checks_a_signature_against_every_shop():
    alice = make_user("alice")
    signature_submit(shop=make_shop("爱丽丝服饰", owner=alice), text="Alice", by=alice)
    code, out = run("check_content", "--kind", "signature", "--json", "ＡＬＩＣＥ")
    assert code == 1
    assert json.loads(out)["findings"][0]["rule"] == "SIG-DUPLICATE"


def test_an_unknown_kind_is_a_usage_error():
    with pytest.raises(CommandError):
        call_command("check_content", "--kind", "poem", "x")
    with pytest.raises(CommandError):
        call_command("check_content", "x")  # --kind is required


def test_ok_is_false_exactly_when_a_blocking_finding_exists():
    warn = Finding(rule="X-WARN", start=0, end=1, severity="warn", message="m", hint="h")
    block = Finding(rule="X-BLOCK", start=0, end=1, severity="block", message="m", hint="h")
    assert CheckResult(findings=[warn]).ok is True
    assert CheckResult(findings=[warn, block]).ok is False
    assert check_text(kind="signature", text="爱丽丝").ok is True


def test_the_exit_statuses_from_the_command_line():
    """Real processes against the test database: 0 clean, 1 blocked, 2 usage error."""
    env = {**os.environ, "DATABASE_URL": _test_database_url()}

    def status(*args: str, stdin: str = "") -> int:
        cmd = [sys.executable, "manage.py", "check_content", *args]
        return subprocess.run(cmd, cwd=ROOT, env=env, input=stdin, capture_output=True, text=True).returncode

    assert status("--kind", "signature", "爱丽丝") == 0
    assert status("--kind", "signature", "京东") == 1
    assert status("--kind", "signature", stdin="爱丽丝\n京東\n") == 1
    assert status("--kind", "nonsense", "x") == 2
    assert status("x") == 2


# review_report --------------------------------------------------------------------

def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


def test_it_reports_pending_overdue_and_decision_time_percentiles(reviewer):
    users = [make_user(f"m{i}") for i in range(5)]
    shops = [make_shop(f"店铺{i}", owner=u) for i, u in enumerate(users)]
    # Three decisions in September taking 2 h, 10 h and 50 h.
    for index, hours in enumerate([2, 10, 50]):
        with time_machine.travel(at(2025, 9, 1, 9, 0), tick=False):
            signature = signature_submit(shop=shops[index], text=f"好店{index}", by=users[index])
        with time_machine.travel(at(2025, 9, 1, 9, 0) + dt.timedelta(hours=hours), tick=False):
            if index == 1:
                signature_reject(signature=signature, reviewer=reviewer, reason_code="generic")
            else:
                signature_approve(signature=signature, reviewer=reviewer)
    # One pending long overdue, one pending fresh.
    with time_machine.travel(at(2025, 9, 1, 9, 0), tick=False):
        signature_submit(shop=shops[3], text="好店3", by=users[3])
    signature_submit(shop=shops[4], text="好店4", by=users[4])

    code, out = run("review_report", "--since", "2025-09-01", "--until", "2025-09-30", "--json")
    assert code == 0
    report = next(json.loads(line) for line in out.splitlines() if json.loads(line)["kind"] == "signature")
    assert report["pending"] == 2
    assert report["overdue"] == 1
    assert (report["decided"], report["approved"], report["rejected"]) == (3, 2, 1)
    assert report["within_sla"] == 3  # 50 h is within 3 working days (Mon → Thu)
    assert report["median_hours"] == 10.0
    assert report["p95_hours"] == 46.0  # percentile_cont: 10 + 0.9 × (50 − 10)

    code, out = run("review_report", "--since", "2025-10-01", "--until", "2025-10-31", "--json")
    report = next(json.loads(line) for line in out.splitlines() if json.loads(line)["kind"] == "signature")
    assert report["decided"] == 0 and report["median_hours"] is None

    code, out = run("review_report", "--since", "2025-09-01", "--until", "2025-09-30")
    assert "signature | 2 | 1 | 3 | 2 | 1 | 3 | 10.00 | 46.00" in out


def test_the_report_refuses_a_bad_date_range():
    assert run("review_report", "--since", "2025-10-01", "--until", "2025-09-01")[0] == 2
    assert run("review_report", "--since", "yesterday")[0] == 2
