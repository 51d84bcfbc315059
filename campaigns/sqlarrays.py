"""Arrays as PostgreSQL array literals, for the set-based statements of the send pipeline.

Performance (docs/PERFORMANCE.md): Django's psycopg 3 cursors bind parameters on the client
and adapt a Python list element by element (about 2 µs each); a batch passes thousands of
values per statement. One ``str`` per array, cast in SQL (``%s::bigint[]``, ``%s::text[]``),
costs a small fraction of that. The quoting follows PostgreSQL's array input syntax.
"""

from __future__ import annotations

import re
from collections.abc import Iterable


def sql_int_array(values: Iterable[int]) -> str:
    """``{1,2,3}``; every value goes through ``int()``, so nothing needs quoting."""
    return "{" + ",".join(map(str, map(int, values))) + "}"


def sql_text_array(values: Iterable[object | None]) -> str:
    """``{a,"b\\"c",NULL}``: each value as text, ``None`` as NULL.

    A batch's columns repeat a few values (statuses, reasons), so each distinct value is
    written once: quoted unless it is a plain token (letters, digits, ``_.:+-``) that
    PostgreSQL reads back unchanged without quotes."""
    values = list(values)
    if all(type(value) is int for value in values):
        return "{" + ",".join(map(str, values)) + "}"  # ids: nothing to quote
    if all(type(value) is str and value.isascii() and value.isdigit() for value in values):
        return "{" + ",".join(values) + "}"  # digit strings (phones): nothing to quote
    written = {value: "NULL" if value is None else _element(str(value)) for value in set(values)}
    return "{" + ",".join(map(written.__getitem__, values)) + "}"


_PLAIN = re.compile(r"[A-Za-z0-9_.:+\-]+")


def _element(text: str) -> str:
    if _PLAIN.fullmatch(text) and text.upper() != "NULL":
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
