"""Settings: every environment variable is read once, typed, and documented once in the README."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(settings.BASE_DIR)

# The names the code reads from the environment, by the way each kind of file reads them.
PYTHON_READS = [
    re.compile(r"""\benv\.(?:str|bool|int|float|list|bounded|choice)\(\s*["']([A-Z][A-Z0-9_]*)["']"""),
    re.compile(r"""os\.environ(?:\.get|\.setdefault)?\(\s*["']([A-Z][A-Z0-9_]*)["']"""),
    re.compile(r"""os\.environ\[\s*["']([A-Z][A-Z0-9_]*)["']\s*\](?!\s*=[^=])"""),
    re.compile(r"""os\.getenv\(\s*["']([A-Z][A-Z0-9_]*)["']"""),
]
SHELL_READ = re.compile(r"\$\$?\{([A-Z][A-Z0-9_]*):?[-=?]")  # ${NAME:-default} (make: $${NAME:-…})
SHELL_FILES = ["Makefile", "Procfile", ".ci/run", "scripts/**/*.sh", "scripts/**/*.in", "bench/*.sh"]
MAKE_READ = re.compile(r"^([A-Z][A-Z0-9_]*) \?=", re.MULTILINE)  # a make variable the environment may set
PROCFILE_READ = re.compile(r"\$\{?([A-Z][A-Z0-9_]*)")
# Standard variables of the OS or of a tool, not this project's settings.
NOT_OURS = {"TMPDIR", "HOME", "PATH", "XDG_RUNTIME_DIR", "DJANGO_ALLOW_ASYNC_UNSAFE", "Q_CLUSTER_NAME"}


def python_files() -> list[Path]:
    skip = {".venv", "node_modules", "migrations", "staticfiles", "artifacts"}
    found = [ROOT / "manage.py", ROOT / "gunicorn.conf.py"]
    for folder in ("smsmarketing", "reviews", "campaigns", "bench", "tests"):
        found += [p for p in (ROOT / folder).rglob("*.py") if not skip & set(p.parts)]
    return [p for p in found if p.exists() and p.name != Path(__file__).name]


def names_read() -> dict[str, set[str]]:
    """Variable name -> the files that read it."""
    reads: dict[str, set[str]] = {}
    for path in python_files():
        text = path.read_text()
        for pattern in PYTHON_READS:
            for name in pattern.findall(text):
                reads.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    for glob in SHELL_FILES:
        for path in ROOT.glob(glob):
            text = path.read_text()
            found = SHELL_READ.findall(text)
            found += MAKE_READ.findall(text) if path.name == "Makefile" else []
            found += PROCFILE_READ.findall(text) if path.name == "Procfile" else []
            for name in found:
                reads.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    for name in NOT_OURS:
        reads.pop(name, None)
    return reads


def names_documented() -> list[str]:
    """Every variable named in the first column of the README's tables headed ``variable``."""
    documented: list[str] = []
    in_table = False
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("| variable"):
            in_table = True
            continue
        if not line.startswith("|"):
            in_table = False
            continue
        if in_table and not line.startswith("|---"):
            first_cell = line.split("|")[1]
            documented += re.findall(r"`([A-Z][A-Z0-9_]*)`", first_cell)
    return documented


def test_it_documents_every_variable_the_code_reads_once():
    reads = names_read()
    documented = names_documented()
    # Sanity: the scan sees the readers it is meant to see (a broken pattern would pass vacuously).
    assert {"DATABASE_URL", "KANNEL_SENDSMS_URL", "SMOKE_PORT", "CI", "KANNEL_RUN_DIR"} <= set(reads)
    missing = {name: sorted(files) for name, files in reads.items() if name not in documented}
    assert missing == {}, "read by the code but not in the README's tables"
    twice = sorted({name for name in documented if documented.count(name) > 1})
    assert twice == [], "documented more than once"
    stale = sorted(set(documented) - set(reads))
    assert stale == [], "documented but read by nothing"


def test_it_reads_the_environment_only_in_settings():
    """The application's own modules take their configuration from settings, never from the
    environment; the exceptions start before settings exist."""
    before_settings = {
        "manage.py",
        "smsmarketing/wsgi.py",
        "smsmarketing/asgi.py",
        "smsmarketing/embedded_db.py",
    }
    readers = set()
    for path in python_files():
        relative = str(path.relative_to(ROOT))
        if relative.startswith(("tests/", "bench/")) or relative in before_settings:
            continue
        if relative in {"smsmarketing/settings.py", "gunicorn.conf.py"}:
            continue
        if any(pattern.search(path.read_text()) for pattern in PYTHON_READS[1:]):
            readers.add(relative)
    assert readers == set()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DEBUG", "banana", "DEBUG='banana' is not a boolean"),
        ("Q_WORKERS", "0", "Q_WORKERS=0 is out of range"),
        ("SMS_DISPATCH_RATE", "fast", "SMS_DISPATCH_RATE='fast' is not a valid int"),
        ("SMS_SIMULATED_FAIL_RATIO", "1.5", "SMS_SIMULATED_FAIL_RATIO=1.5 is out of range"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT='xml' is not one of: plain, json"),
        ("CACHE_URL", "memcached://x", "CACHE_URL='memcached://x' must be a Redis URL"),
    ],
)
def test_it_refuses_to_start_with_a_bad_value(variable, value, message):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "smsmarketing.settings", variable: value}
    env.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/unused")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert f"ImproperlyConfigured: {message}" in result.stderr


@pytest.mark.django_db
def test_the_app_sessions_run_without_jit():
    """A row estimate like a campaign's 400,000 messages made PostgreSQL JIT-compile a lookup
    that returns nothing (~150 ms a campaign page at 20M messages); the app's sessions turn it off."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone() == ("off",)
