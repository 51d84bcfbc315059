"""Shared fixtures: alice and bob run ordinary shops, charlie a restricted one."""

from __future__ import annotations

import pytest

from tests.factories import make_reviewer, make_shop, make_user

# Tests that start other processes (workers, manage.py commands, Kannel's DLR storage)
# against the test database. They reach it through a TCP DATABASE_URL; the embedded
# pgserver (no DATABASE_URL) listens only on a socket folder, which those processes
# are not yet taught to use. CI always sets DATABASE_URL, and under CI=true they run.
NEEDS_TCP_DATABASE = (
    "tests/gateway/test_kannel_backend.py",
    "tests/gateway/test_kannel_campaign.py",
    "tests/gateway/test_kannel_scripts.py::test_it_starts_with_the_smsc_online",
    "tests/reviews/test_content_corpus.py::test_every_corpus_verdict",
    "tests/reviews/test_content_corpus.py::test_the_command_",
    "tests/reviews/test_review_commands.py::test_the_exit_statuses_from_the_command_line",
    "tests/campaigns/test_frequency_concurrency.py",
    "tests/campaigns/test_pipeline_crash.py",
    "tests/security/test_db_faults.py",
    "tests/security/test_qcluster_faults.py",
)


def _skip_multiprocess_tests_on_the_embedded_database(items: list[pytest.Item]) -> None:
    import os

    if os.environ.get("DATABASE_URL") or os.environ.get("CI") == "true":
        return
    skip = pytest.mark.skip(
        reason="starts other processes against the test database: needs a TCP PostgreSQL, "
        "run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/smsmarketing make test (CI does)"
    )
    for item in items:
        if item.nodeid.startswith(NEEDS_TCP_DATABASE):
            item.add_marker(skip)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every transactional test restores the migrations' data (``serialized_rollback``).

    A plain transactional test ends with a flush that re-runs post_migrate (which
    re-creates the reviewers group); the next test with ``serialized_rollback`` then
    fails to reload its data (duplicate group). Serializing all of them keeps the
    order of test files from mattering.
    """
    _skip_multiprocess_tests_on_the_embedded_database(items)
    for item in items:
        marker = item.get_closest_marker("django_db")
        if (
            marker is not None
            and marker.kwargs.get("transaction")
            and not marker.kwargs.get("serialized_rollback")
        ):
            item.add_marker(
                pytest.mark.django_db(*marker.args, **{**marker.kwargs, "serialized_rollback": True}),
                append=False,
            )


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def bob(db):
    return make_user("bob")


@pytest.fixture
def charlie(db):
    return make_user("charlie")


@pytest.fixture
def alice_shop(alice):
    return make_shop("爱丽丝服饰", owner=alice)


@pytest.fixture
def bob_shop(bob):
    return make_shop("鲍勃数码", owner=bob)


@pytest.fixture
def charlie_shop(charlie):
    return make_shop("查理药房", owner=charlie, restricted=True)


@pytest.fixture
def reviewer(db):
    return make_reviewer()
