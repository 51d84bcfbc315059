"""Migration 0030's live conversion of the message tables to month partitions (issue 25), on a
scratch database of 50,000 messages at ``campaigns 0029`` while a writer thread sends, updates
statuses and writes delivery reports: nothing lost or duplicated, the writer's last values win,
months right, ids continue, the counters' triggers moved, ``reconcile_stats`` clean; and a
migrate killed in the middle of the copy resumes. The pieces are the benchmark's
(``bench_message_conversion``, docs/OPERATIONS.md)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psycopg
import pytest

from bench.management.commands.bench_message_conversion import (
    Writer,
    manage,
    migrate_before_conversion,
    migrate_popen,
    migrate_with_load,
    scratch_create,
    scratch_drop,
    seed,
    server_url,
    verify,
)

MESSAGES = 50_000
# The row the interrupted copy stops at: four batches of 10,000 (COPY_BATCH_ROWS) in.
LOCKED_AT = 45_000
TEMPLATE = f"test_sms_conversion_{os.getpid()}_seed"
SCRATCH = f"test_sms_conversion_{os.getpid()}"
PROGRESS = "campaigns_month_partition_progress"


@pytest.fixture(scope="module")
def seeded():
    """A database at campaigns 0029 holding the seed, cloned by each test (CREATE ... TEMPLATE)."""
    url = scratch_create(TEMPLATE)
    try:
        migrate_before_conversion(url)
        yield seed(url, messages=MESSAGES, log=lambda _line: None)
    finally:
        scratch_drop(TEMPLATE)


@pytest.fixture
def scratch(seeded):
    scratch_drop(SCRATCH)
    with psycopg.connect(server_url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{SCRATCH}" TEMPLATE "{TEMPLATE}"')
    try:
        yield server_url(SCRATCH), seeded
    finally:
        scratch_drop(SCRATCH)


def _one(url: str, sql: str, params=None):
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchone()


def _relkind(url: str, table: str) -> str | None:
    row = _one(url, "SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [table])
    return row[0] if row else None


def _wait_for(process, log: Path, sql: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if _one(server_url(SCRATCH), sql)[0]:
            return
        assert process.poll() is None, log.read_text()[-3000:]
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for: {sql}")


def _assert_converted(url: str, seeded, writer: Writer) -> dict:
    checks = verify(url, seeded, writer)
    assert checks["problems"] == []
    assert checks["reconcile_stats"] == 0
    assert checks["rows_in_default_partitions"] == 0
    message = checks["campaigns_message"]
    # The seed and everything the writer inserted before the swap were copied; what it
    # inserted after went to the new table only.
    assert message["unpartitioned"] >= MESSAGES
    assert message["partitioned"] == message["unpartitioned"] + message["only_in_new"]
    assert message["partitioned"] == seeded.messages + writer.inserted
    assert checks["campaigns_deliveryreport"]["partitioned"] == seeded.reports + writer.reports
    assert checks["campaigns_click"]["partitioned"] == seeded.clicks > 0
    assert checks["writer_updates_checked"] > 1000
    return checks


def _assert_ids_and_counters_continue(url: str, seeded) -> None:
    """An insert after the swap: an id past the old table's, counted by the moved triggers."""
    with psycopg.connect(url, autocommit=True) as conn:
        old_max = conn.execute("SELECT max(id) FROM campaigns_message_unpartitioned").fetchone()[0]
        counted = conn.execute(
            "SELECT coalesce(sum(messages), 0) FROM campaigns_messagecounter WHERE run_id = %s",
            [seeded.live_run],
        ).fetchone()[0]
        new_id = conn.execute(
            """INSERT INTO campaigns_message (phone, status, reason, body, text, parts, batch, settlement,
                   attempts, created_at, campaign_id, run_id, shop_id, month)
               SELECT '16000000000', 'planned', '', 'b', 't', 1, 0, 'pending', 0, now(), %s, r.id, %s, r.month
               FROM campaigns_campaignrun r WHERE r.id = %s RETURNING id""",
            [seeded.live_campaign, seeded.shop, seeded.live_run],
        ).fetchone()[0]
        assert new_id > old_max
        after = conn.execute(
            "SELECT coalesce(sum(messages), 0) FROM campaigns_messagecounter WHERE run_id = %s",
            [seeded.live_run],
        ).fetchone()[0]
        assert after == counted + 1
        triggers = {
            row[0]
            for row in conn.execute(
                """SELECT tgname FROM pg_trigger
                   WHERE tgrelid = 'campaigns_message'::regclass AND NOT tgisinternal"""
            ).fetchall()
        }
        assert {"message_counters_insert", "message_counters_update", "message_counters_delete"} <= triggers
        assert not any("mirror" in name for name in triggers)
    assert manage(url, "reconcile_stats", check=False).returncode == 0


def test_it_converts_the_message_tables_while_the_app_writes(scratch, tmp_path):
    url, seeded = scratch
    conversion, writer, reader, monitor, started, ended = migrate_with_load(
        url, SCRATCH, seeded, log_path=tmp_path / "migrate.log"
    )

    assert writer.errors == [] and reader.errors == []
    assert writer.timings.count(started, ended) > 20 and reader.timings.count(started, ended) > 20
    for table in ("campaigns_message", "campaigns_deliveryreport", "campaigns_click"):
        assert _relkind(url, table) == "p"
    # Every seeded row went through the batched copy (the writer's later ones may have come
    # through the mirror triggers instead), and the swap ran once.
    assert conversion.copied["campaigns_message"] >= MESSAGES
    assert conversion.copied["campaigns_deliveryreport"] >= seeded.reports
    assert conversion.copied["campaigns_click"] == seeded.clicks
    assert conversion.swap_seconds is not None
    checks = _assert_converted(url, seeded, writer)
    # The writer worked through the swap: some of its rows are only in the new table.
    assert checks["campaigns_message"]["only_in_new"] > 0
    _assert_ids_and_counters_continue(url, seeded)


def test_it_resumes_a_conversion_killed_in_the_middle_of_the_copy(scratch, tmp_path):
    url, seeded = scratch
    writer = Writer(url, seeded, pause=0.01)
    writer.start()
    holder = psycopg.connect(url)
    try:
        process = migrate_popen(url, "--no-input", log_path=tmp_path / "killed.log")
        # Once the three tables' mirror triggers are in (no more ACCESS EXCLUSIVE lock until the
        # swap), a row lock near the end of the messages (FOR UPDATE conflicts with the copy's
        # FOR KEY SHARE, not with the writer's status updates) holds the copy a few batches in.
        locked = seeded.min_id + LOCKED_AT
        _wait_for(
            process,
            tmp_path / "killed.log",
            """SELECT count(*) FROM pg_trigger WHERE tgname = 'campaigns_click_mirror_ins'""",
        )
        holder.execute("SELECT id FROM campaigns_message WHERE id = %s FOR UPDATE", [locked])
        _wait_for(
            process,
            tmp_path / "killed.log",
            """SELECT count(*) FROM pg_stat_activity WHERE application_name = 'bench-migrate'
               AND wait_event_type = 'Lock' AND query LIKE '%%FOR KEY SHARE%%'""",
        )
        process.kill()
        process.wait()
        # Its server session goes when it next writes to the dead socket; end it now.
        _one(
            url,
            """SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
               WHERE application_name = 'bench-migrate'""",
        )
        holder.rollback()

        # Killed mid-copy: the old tables are still the live ones, the new ones half filled.
        assert _relkind(url, "campaigns_message") == "r"
        assert _relkind(url, "campaigns_message_part") == "p"
        (killed_at,) = _one(url, f"SELECT last_id FROM {PROGRESS} WHERE table_name = 'campaigns_message'")
        assert seeded.min_id < killed_at < locked

        # The operator's command goes on from the recorded id (one batch of 5,000), not from 0.
        done = manage(url, "message_partitions", "--convert", "--max-batches", "1", "--batch-rows", "5000")
        assert "Not finished" in done.stdout
        (resumed_to,) = _one(url, f"SELECT last_id FROM {PROGRESS} WHERE table_name = 'campaigns_message'")
        (expected,) = _one(
            url,
            "SELECT max(id) FROM (SELECT id FROM campaigns_message WHERE id > %s ORDER BY id LIMIT 5000) b",
            [killed_at],
        )
        assert resumed_to == expected
        assert _relkind(url, "campaigns_message") == "r"

        # And migrate, run again as a deploy would, finishes the conversion.
        again = manage(url, "migrate", "--no-input", check=False, app="bench-migrate")
        assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-4000:]
        time.sleep(0.5)  # the writer goes on on the new tables
    finally:
        holder.close()  # the writer may be waiting for its row
        writer.stop.set()
        writer.join()

    assert writer.errors == []
    assert _one(url, f"SELECT bool_and(done) FROM {PROGRESS}")[0] is True
    _assert_converted(url, seeded, writer)
    _assert_ids_and_counters_continue(url, seeded)
