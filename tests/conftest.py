"""Shared fixtures: alice and bob run ordinary shops, charlie a restricted one."""

from __future__ import annotations

import pytest

from tests.factories import make_reviewer, make_shop, make_user


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
