"""Small database helpers shared by the apps."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote, urlencode

from django.db import connection, transaction


@contextmanager
def commit_without_flush() -> Iterator[None]:
    """A transaction whose commit does not wait for the WAL flush (``SET LOCAL
    synchronous_commit = off``: this transaction only, the connection is durable again after).

    Cost it answers: a durable commit waits for the WAL to reach the disk (several ms here),
    and a row lock taken in the transaction is held until that wait ends, so writers of one
    hot row (a rate-limit counter, a batch of messages) queue one flush each. For writes whose
    loss in a database crash is harmless; each caller says why. A later durable commit flushes
    them anyway (the WAL is written in order), so a lost write is always one of the last.

    Inside a caller's transaction this is a plain savepoint and stays durable: the setting
    would cover the caller's writes too, which never agreed to be lost.
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
        yield


def connection_url(**params: str) -> str:
    """A URL of the database this process uses, for the processes it starts (workers, gunicorn,
    Kannel's DLR storage); ``params`` become libpq query parameters.

    A TCP server gives ``postgres://user:pass@host:port/name``. A server on a Unix socket (the
    embedded pgserver: ``HOST`` is its socket folder) gives libpq's socket form
    ``postgresql://user@/name?host=/socket/folder`` (the folder in the query, not percent-encoded
    in the authority, where URL parsers lower-case it); settings move that ``host`` parameter
    back into ``HOST`` in the child process. Pass parameters here: appending ``?...`` by hand
    breaks the socket form, which has a query already.
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
