"""Arrays as PostgreSQL array literals, for the set-based statements of the send pipeline.

Performance (docs/PERFORMANCE.md): Django's psycopg 3 cursors bind parameters on the client
and adapt a Python list element by element (about 2 µs each); a batch passes thousands of
values per statement. One ``str`` per array, cast in SQL (``%s::bigint[]``, ``%s::text[]``),
costs a small fraction of that. The quoting follows PostgreSQL's array input syntax.
"""

from __future__ import annotations

from collections.abc import Iterable


def sql_int_array(values: Iterable[int]) -> str:
    """``{1,2,3}``; every value goes through ``int()``, so nothing needs quoting."""
    return "{" + ",".join(str(int(value)) for value in values) + "}"


def sql_text_array(values: Iterable[object | None]) -> str:
    """``{"a","b\\"c",NULL}``: each value as text in double quotes, ``None`` as NULL."""
    return "{" + ",".join("NULL" if value is None else _quote(str(value)) for value in values) + "}"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
