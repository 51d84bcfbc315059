"""CSV exports that open cleanly in Excel and cannot smuggle formulas.

Text cells starting with ``=``, ``+``, ``-``, ``@`` (or a tab / carriage return,
which Excel strips before the same check) are prefixed with ``'`` so a spreadsheet
shows them as text instead of evaluating them (CSV/formula injection, OWASP).
Numbers are written as numbers. The file starts with a UTF-8 BOM so Excel reads
the Chinese correctly. Rows are streamed: memory stays flat for large exports.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal

from django.http import StreamingHttpResponse
from django.utils import timezone

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_safe_cell(value: object) -> object:
    """A value ready for ``csv.writer``: text neutralised, numbers kept, times local."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int | float | Decimal):
        return value
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")
    text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_rows(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow([csv_safe_cell(h) for h in header])
    for row in rows:
        yield writer.writerow([csv_safe_cell(cell) for cell in row])


def csv_response(
    filename: str, header: Sequence[str], rows: Iterable[Sequence[object]]
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(csv_rows(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
