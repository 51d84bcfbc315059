"""Shared fixtures: alice and bob run ordinary shops, charlie a restricted one."""

from __future__ import annotations

import pytest

from tests.factories import make_reviewer, make_shop, make_user


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every transactional test restores the migrations' data (``serialized_rollback``).

    A plain transactional test ends with a flush that re-runs post_migrate (which
    re-creates the reviewers group); the next test with ``serialized_rollback`` then
    fails to reload its data (duplicate group). Serializing all of them keeps the
    order of test files from mattering.
    """
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
        elif marker is None and {"transactional_db", "live_server"} & set(getattr(item, "fixturenames", ())):
            # The same for a test that asks for the fixture instead of the marker.
            item.add_marker(pytest.mark.django_db(transaction=True, serialized_rollback=True))


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
