"""The URL of the test database, for processes a test starts (workers, commands, Kannel)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from django.db import connection


def test_database_url(**params: str) -> str:
    """A URL of the database the running test uses; ``params`` become libpq query parameters.

    A TCP server gives ``postgres://user:pass@host:port/name``. A server on a Unix
    socket (the embedded pgserver: ``HOST`` is its socket folder) gives libpq's
    socket form ``postgresql://user@/name?host=/socket/folder`` (the folder in the
    query, not percent-encoded in the authority, where URL parsers lower-case it).
    Settings move that ``host`` parameter back into ``HOST`` in the child process.

    Always build the URL here, e.g. ``test_database_url(application_name="x")``:
    appending ``?...`` by hand breaks the socket form, which has a query already.
    """
    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    name = quote(db["NAME"], safe="")
    host = db["HOST"] or "127.0.0.1"
    if host.startswith("/"):  # a Unix socket folder
        query = {"host": host, **({"port": str(db["PORT"])} if db["PORT"] else {}), **params}
        return f"postgresql://{auth}@/{name}?{urlencode(query, safe='/')}"
    url = f"postgres://{auth}@{host}:{db['PORT'] or 5432}/{name}"
    return f"{url}?{urlencode(params)}" if params else url
