"""``check_content --kind template --json`` over a corpus of realistic templates, through the real command.

The corpus (``data/templates_corpus.jsonl``) was written for this suite: one JSON
object per line with the text, the expected verdict ``ok`` and the expected set
of rule ids of the findings (warnings included).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.dburl import test_database_url as database_url

pytestmark = pytest.mark.django_db

CORPUS = Path(__file__).parent / "data" / "templates_corpus.jsonl"


def load_corpus() -> list[dict]:
    return [
        json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def run_check_content(*args: str, stdin: str) -> subprocess.CompletedProcess:
    """Run ``manage.py check_content`` in a new process against the test database."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "smsmarketing.settings_test",
    }
    return subprocess.run(
        [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "check_content", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_the_corpus_is_large_and_varied():
    corpus = load_corpus()
    assert len(corpus) >= 60
    assert sum(item["ok"] for item in corpus) >= 25
    assert sum(not item["ok"] for item in corpus) >= 25
    covered = {rule for item in corpus for rule in item["rules"]}
    assert covered >= {
        "TPL-INCOMPLETE",
        "TPL-SYMBOL",
        "TPL-PUNCT",
        "TPL-ADLAW",
        "TPL-REVIEW-BAIT",
        "TPL-OFFSITE",
        "TPL-LINK",
        "TPL-IMPERSONATE",
        "TPL-VARIABLE",
        "TPL-LENGTH",
        "TPL-SUFFIX",
    }
    assert len({item["text"] for item in corpus}) == len(corpus)


def test_every_corpus_verdict_matches_through_the_command():
    corpus = load_corpus()
    process = run_check_content(
        "--kind", "template", "--json", stdin="\n".join(i["text"] for i in corpus) + "\n"
    )
    assert process.returncode == 1, process.stderr  # some texts are blocked
    lines = [json.loads(line) for line in process.stdout.splitlines() if line.strip()]
    assert len(lines) == len(corpus)
    mismatches = []
    for expected, got in zip(corpus, lines, strict=True):
        assert got["text"] == expected["text"]
        rules = sorted({f["rule"] for f in got["findings"]})
        if got["ok"] != expected["ok"] or rules != expected["rules"]:
            mismatches.append(
                (expected["note"], expected["ok"], expected["rules"], got["ok"], rules)
            )
        assert got["ok"] == (not any(f["severity"] == "block" for f in got["findings"]))
        assert isinstance(got["length"], int) and isinstance(got["parts"], int)
        for finding in got["findings"]:
            assert 0 <= finding["start"] <= finding["end"] <= len(got["text"])
            assert finding["message"] and finding["hint"]
    assert mismatches == []


def test_the_command_exits_zero_when_nothing_is_blocked():
    clean = [item["text"] for item in load_corpus() if item["ok"]]
    process = run_check_content("--kind", "template", "--json", stdin="\n".join(clean) + "\n")
    assert process.returncode == 0, process.stderr
    assert all(json.loads(line)["ok"] for line in process.stdout.splitlines())


def test_the_command_checks_free_text_and_uses_the_signature_for_length():
    text = "夏季新品上市欢迎选购" * 5 + "夏季新品上市欢迎"  # 58 characters
    process = run_check_content(
        "--kind", "text", "--json", "--signature", "爱丽丝服饰", stdin=text + "\n"
    )
    assert process.returncode == 0, process.stderr
    data = json.loads(process.stdout)
    assert (data["length"], data["parts"]) == (7 + 58 + 6, 2)
    process = run_check_content("--kind", "text", "--json", stdin=text + "\n")
    assert json.loads(process.stdout)["length"] == 11 + 58 + 6
