"""CI's chaos soak: ``manage.py soak --minutes 3`` with a fixed seed, as a subprocess on a database
of its own, through Kannel and the SMPP simulator (the simulated gateway where Kannel is not
installed, except under CI=true, where a missing Kannel fails as in tests/gateway)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from urllib.parse import quote

import psycopg
from django.conf import settings
from django.db import connection

from tests.dburl import test_database_url as database_url

SEED = 20261207
MINUTES = "3"
KANNEL_MISSING = "Kannel is not installed (bearerbox/smsbox not found): scripts/kannel/install.sh"
CHECKS = (
    "caps never exceeded",
    "no duplicate (run, phone)",
    "no message handed over twice",
    "reconcile_ledger clean",
    "reconcile_stats clean",
    "statistics reconcile with the ledger",
    "every opt-out honoured",
    "replayed reports changed nothing",
    "dispatch resumes after every fault",
    "every run finished",
    "every restart succeeded",
)


def kannel_installed() -> bool:
    return all(shutil.which(box) or os.access(f"/usr/sbin/{box}", os.X_OK) for box in ("bearerbox", "smsbox"))


def gateway() -> str:
    if kannel_installed():
        return "kannel"
    assert os.environ.get("CI", "").lower() != "true", f"CI=true but {KANNEL_MISSING}"
    return "simulated"


def admin_connection() -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
        password=db["PASSWORD"] or None, dbname="postgres", autocommit=True,
    )  # fmt: skip


def test_it_survives_three_minutes_of_faults_with_no_violation():
    name = connection.settings_dict["NAME"]
    soak_name = f"{name}_ci_soak"  # dropped and created afresh: never a database in use
    with admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{soak_name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{soak_name}"')
    try:
        url = database_url().replace(f"/{quote(name, safe='')}", f"/{quote(soak_name, safe='')}", 1)
        command = ["manage.py", "soak", "--minutes", MINUTES, "--seed", str(SEED), "--gateway", gateway()]
        done = subprocess.run(
            [sys.executable, *command],
            env={**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "smsmarketing.settings_bench"},
            cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=1800,
        )  # fmt: skip
    finally:
        with admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{soak_name}" WITH (FORCE)')
    report = done.stdout
    print(report)
    assert done.returncode == 0, f"{report}\n{done.stderr[-5000:]}"
    lines = report.splitlines()
    assert "result: 0 violations" in lines
    for check in CHECKS:
        assert any(line.startswith(f"  OK   {check}:") for line in lines), f"{check} missing:\n{report}"
    faults = next(line for line in lines if line.startswith("faults: "))
    assert "none" not in faults, faults
