"""The URL of the test database, for processes a test starts (workers, commands, Kannel)."""

from __future__ import annotations

from urllib.parse import quote

from django.db import connection


def test_database_url() -> str:
    """A ``postgres://`` URL of the database the running test uses (TCP host and port)."""
    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
