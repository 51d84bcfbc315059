"""No secrets in the repository: the tracked files hold no keys, tokens or real passwords."""

from __future__ import annotations

import re
import subprocess

from django.conf import settings

# What a leaked secret looks like. Demo logins (README, seed_demo) and test passwords are
# not secrets: they are listed in ALLOWED and documented as such.
PATTERNS = {
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA |ENCRYPTED )?PRIVATE KEY-----"),
    "AWS key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "Django secret key literal": re.compile(r"""SECRET_KEY\s*=\s*["'][^"']{20,}["']"""),
    "password in a URL": re.compile(r"\b[a-z][a-z0-9+]*://[^/\s:@'\"]+:([^@\s/'\"{}$]{3,})@"),
    "long hex or base64 secret": re.compile(
        r"""(?i)(?:secret|token|api_?key|passwd|password)["']?\s*[:=]\s*["']([A-Za-z0-9+/_\-]{32,})["']"""
    ),
}
ALLOWED_VALUES = {"pass", "password", "PASSWORD", "x"}  # placeholders in docs and tests


def tracked_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files"], cwd=settings.BASE_DIR, capture_output=True, text=True, check=True
    )
    return [line for line in out.stdout.splitlines() if line]


def test_it_keeps_the_local_secret_key_out_of_git():
    files = set(tracked_files())
    assert ".secret_key" not in files and not any(f.endswith((".pem", ".key", ".p12", ".env")) for f in files)
    ignored = (settings.BASE_DIR / ".gitignore").read_text().split()
    assert ".secret_key" in ignored


def test_no_tracked_file_contains_a_secret():
    found = []
    for name in tracked_files():
        path = settings.BASE_DIR / name
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for label, pattern in PATTERNS.items():
            for match in pattern.finditer(text):
                value = match.group(1) if pattern.groups else match.group(0)
                if value in ALLOWED_VALUES:
                    continue
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{name}:{line}: {label}: {match.group(0)[:60]}")
    assert not found, "\n".join(found)


def test_the_scanner_finds_planted_secrets():
    key = "AKIA" + "ABCDEFGHIJKLMNOP"
    samples = {
        "AWS key": f"aws = '{key}'",
        "password in a URL": "DATABASE_URL=postgres://sms:" + "hunter2x@db:5432/sms",
        "Django secret key literal": 'SECRET_KEY = "' + "k" * 40 + '"',
        "long hex or base64 secret": 'KANNEL_DLR_SECRET = "' + "a1" * 20 + '"',
    }
    for label, sample in samples.items():
        assert PATTERNS[label].search(sample), label
