"""An embedded PostgreSQL for machines with no database service.

When ``DATABASE_URL`` is not set, settings call :func:`database_url`, which
starts (or reuses) a PostgreSQL server from the pip-installed ``pgserver``
package in ``<project>/.pgdata``. The server keeps running after the process
exits so that the web server, the django-q2 cluster and management commands
share it; ``make stop`` ends it. CI and production set ``DATABASE_URL``.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

EMBEDDED_DB_NAME = "smsmarketing"


def database_url(data_dir: Path) -> str:
    """Start the embedded server if needed and return a URL for our database."""
    # pgserver logs every process exit at INFO and platformdirs warns without
    # XDG_RUNTIME_DIR; neither is news to an operator.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir.parent / ".run"))
    (data_dir.parent / ".run").mkdir(exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Imported here: an optional dependency, only machines without DATABASE_URL need it.
        import pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(data_dir), cleanup_mode=None)
    exists = server.psql(
        f"SELECT 1 FROM pg_database WHERE datname = '{EMBEDDED_DB_NAME}';"
    )
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {EMBEDDED_DB_NAME};")
    return f"postgresql://postgres:@/{EMBEDDED_DB_NAME}?host={data_dir}"


def ensure_database(url: str) -> None:
    """Create the database of a ``postgres://`` URL if it does not exist yet."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not found:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


if __name__ == "__main__":
    if os.environ.get("DATABASE_URL"):
        ensure_database(os.environ["DATABASE_URL"])
