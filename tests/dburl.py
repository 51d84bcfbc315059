"""The URL of the test database, for processes a test starts (workers, commands, Kannel)."""

from __future__ import annotations

from smsmarketing.db import connection_url


def test_database_url(**params: str) -> str:
    """A URL of the database the running test uses (``smsmarketing.db.connection_url``); always
    build it here, e.g. ``test_database_url(application_name="x")``."""
    return connection_url(**params)
