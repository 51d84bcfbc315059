"""Importing a shop's customers and purchases from CSV, in bounded memory.

The file is read as a stream (UTF-8 with or without BOM, or GBK/GB18030 as
Excel writes it; the dialect is sniffed), each row is validated in Python and
streamed with ``COPY`` into a temporary table; duplicates, the customer upsert,
the purchase insert and the customers' purchase summaries are then a handful of
set-based statements. All of it is one transaction: an import either lands
whole (valid rows) or not at all. SQL rather than the ORM, on purpose: a file of a
million rows streams through COPY in bounded memory and is merged in a few statements,
where the ORM would hold the rows in memory and upsert customers one query at a time.

Row format: one row per customer or per purchase. Columns (Chinese or English
headers): 手机号/phone (required), 姓名/name, 标签/tags (separated by | ; 、 or
Chinese comma), 商品/product, 购买时间/time, 金额/amount. A row with a product
is a purchase and needs a time. Line numbers are the file's (the header is 1).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import BinaryIO

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models.audience import Customer, Purchase
from campaigns.phones import normalize_phone
from smsmarketing.errors import SmsError
from smsmarketing.models import Shop
from smsmarketing.services import shop_ensure_sms_allowed

SNIFF_BYTES = 64 * 1024
PROGRESS_EVERY_ROWS = 20_000
# The web report keeps this many rejected rows; the command prints them all.
REPORTED_REJECTIONS = 1_000
ANALYZE_AFTER_ROWS = 50_000
MAX_NAME = 64
MAX_TAG = 32
MAX_PRODUCT = 128
MAX_AMOUNT = Decimal("999999999.99")

BAD_PHONE = "BAD-PHONE"
BAD_DATE = "BAD-DATE"
BAD_AMOUNT = "BAD-AMOUNT"
MISSING_PRODUCT = "MISSING-PRODUCT"
TOO_LONG = "TOO-LONG"
DUPLICATE = "DUPLICATE"

REASON_TEXT = {
    BAD_PHONE: _("手机号无效（需为中国大陆手机号）"),
    BAD_DATE: _("购买时间无效（格式如 2024-06-18 或 2024-06-18 20:30，且不能晚于现在）"),
    BAD_AMOUNT: _("金额无效（需为不小于 0 的数字，最多两位小数）"),
    MISSING_PRODUCT: _("有购买时间或金额但缺少商品名称"),
    TOO_LONG: _("姓名、标签或商品名称过长"),
    DUPLICATE: _("重复的行（同一手机号、商品和购买时间已导入）"),
}

HEADER_ALIASES = {
    "phone": {"手机号", "手机", "手机号码", "电话", "phone", "mobile"},
    "name": {"姓名", "名称", "客户姓名", "name"},
    "tags": {"标签", "客户标签", "tags", "tag"},
    "product": {"商品", "商品名称", "product"},
    "time": {"购买时间", "下单时间", "时间", "time", "purchased_at", "date"},
    "amount": {"金额", "消费金额", "订单金额", "amount"},
}
_TAG_SPLIT = re.compile(r"[|;；、，]")
_DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%Y-%m-%dT%H:%M:%S",
    "%Y%m%d",
)


class ImportFileError(SmsError):
    rule = "IMPORT-FILE"


@dataclass
class Rejection:
    line: int
    reason: str

    @property
    def message(self) -> str:
        return REASON_TEXT.get(self.reason, self.reason)


@dataclass
class ImportReport:
    rows: int = 0
    imported: int = 0
    rejected: int = 0
    customers_created: int = 0
    purchases_created: int = 0
    encoding: str = ""
    rejections: list[Rejection] = field(default_factory=list)  # the first REPORTED_REJECTIONS

    @property
    def complete(self) -> bool:
        return self.rejected == 0


@dataclass
class ParsedRow:
    line: int
    raw: list[str]
    phone: str | None
    name: str
    tags: list[str]
    product: str | None
    purchased_at: datetime | None
    amount: Decimal | None
    error: str | None


@dataclass
class Preview:
    encoding: str
    columns: list[str]
    rows: list[ParsedRow]


# --- reading ----------------------------------------------------------------


def detect_encoding(sample: bytes) -> str:
    """utf-8-sig for a BOM, utf-8 if the sample decodes, else gb18030 (a superset of GBK)."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        # An incremental decoder tolerates a character cut at the sample's end.
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        return "gb18030"


def _open(stream: BinaryIO) -> tuple[io.TextIOWrapper, str, type[csv.Dialect] | csv.Dialect]:
    buffered = stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(stream, SNIFF_BYTES)  # type: ignore[arg-type]
    sample = buffered.peek(SNIFF_BYTES)[:SNIFF_BYTES]
    encoding = detect_encoding(sample)
    text = io.TextIOWrapper(buffered, encoding=encoding, newline="")
    head = sample.decode(encoding, errors="ignore")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(head, delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    return text, encoding, dialect


def _columns(header: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, title in enumerate(header):
        key = title.strip().lstrip("\ufeff").lower()
        for column, aliases in HEADER_ALIASES.items():
            if key in aliases and column not in found:
                found[column] = index
    if "phone" not in found:
        raise ImportFileError(
            _("文件第 1 行（表头）缺少“手机号”列。表头可用：手机号、姓名、标签、商品、购买时间、金额。")
        )
    return found


def _parse_time(value: str) -> datetime | None:
    value = value.strip()
    for fmt in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(value, fmt)
        except ValueError:
            continue
        aware = timezone.make_aware(parsed, timezone.get_default_timezone())
        return aware if aware <= timezone.now() else None
    return None


def _parse_amount(value: str) -> Decimal | None:
    try:
        amount = Decimal(value.strip().lstrip("¥￥"))
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT or amount != round(amount, 2):
        return None
    return amount


def parse_row(line: int, raw: list[str], columns: dict[str, int]) -> ParsedRow:
    def cell(name: str) -> str:
        index = columns.get(name)
        return raw[index].strip() if index is not None and index < len(raw) else ""

    name, product, when, amount_text = cell("name"), cell("product"), cell("time"), cell("amount")
    tags = sorted({t.strip() for t in _TAG_SPLIT.split(cell("tags")) if t.strip()})
    row = ParsedRow(line, raw, normalize_phone(cell("phone")), name, tags, product or None, None, None, None)
    if row.phone is None:
        row.error = BAD_PHONE
    elif len(name) > MAX_NAME or len(product) > MAX_PRODUCT or any(len(t) > MAX_TAG for t in tags):
        row.error = TOO_LONG
    elif not product and (when or amount_text):
        row.error = MISSING_PRODUCT
    elif product:
        row.purchased_at = _parse_time(when)
        row.amount = _parse_amount(amount_text) if amount_text else Decimal("0")
        if row.purchased_at is None:
            row.error = BAD_DATE
        elif row.amount is None:
            row.error = BAD_AMOUNT
    return row


def iter_rows(text: io.TextIOWrapper, dialect) -> tuple[dict[str, int], Iterator[ParsedRow]]:
    reader = csv.reader(text, dialect)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError(_("文件是空的。")) from None
    except UnicodeDecodeError:
        raise ImportFileError(_("无法识别文件编码，请另存为 UTF-8 或 GBK 编码的 CSV。")) from None
    columns = _columns(header)

    def rows() -> Iterator[ParsedRow]:
        line = reader.line_num
        try:
            for raw in reader:
                start, line = line + 1, reader.line_num
                if not any(cell.strip() for cell in raw):
                    continue
                yield parse_row(start, raw, columns)
        except UnicodeDecodeError:
            raise ImportFileError(
                _("第 {line} 行附近编码无法识别，请另存为 UTF-8 或 GBK 编码的 CSV。").format(line=line + 1)
            ) from None
        except csv.Error as exc:
            raise ImportFileError(
                _("第 {line} 行格式错误：{error}").format(line=line + 1, error=exc)
            ) from None

    return columns, rows()


def customers_import_preview(*, shop: Shop, stream: BinaryIO, limit: int = 20) -> Preview:
    """The first rows of a file as they would be read, each with its problem if any."""
    shop_ensure_sms_allowed(shop=shop)
    text, encoding, dialect = _open(stream)
    columns, rows = iter_rows(text, dialect)
    preview = []
    for row in rows:
        preview.append(row)
        if len(preview) >= limit:
            break
    ordered = sorted(columns, key=columns.get)
    return Preview(encoding=encoding, columns=ordered, rows=preview)


# --- importing --------------------------------------------------------------

ProgressFn = Callable[[int, int], None]  # rows read, bytes read
RejectionFn = Callable[[Rejection], None]


def customers_import(
    *,
    shop: Shop,
    stream: BinaryIO,
    on_progress: ProgressFn | None = None,
    on_rejection: RejectionFn | None = None,
) -> ImportReport:
    """Import a CSV stream into the shop's customers and purchases.

    Valid rows are imported, invalid ones reported with their line and reason
    (``on_rejection`` sees every one in line order; the report keeps the first
    ``REPORTED_REJECTIONS``). Re-importing a file adds nothing: its purchase rows
    come back as duplicates. Raises ``ImportFileError`` for a file that cannot
    be read at all, with nothing written.
    """
    shop_ensure_sms_allowed(shop=shop)
    text, encoding, dialect = _open(stream)
    _, rows = iter_rows(text, dialect)
    report = ImportReport(encoding=encoding)
    with transaction.atomic(), connection.cursor() as cursor:
        # ON COMMIT DROP cleans up after a top-level import; inside an outer transaction
        # (tests, a caller's atomic block) the explicit DROPs keep imports repeatable.
        cursor.execute("DROP TABLE IF EXISTS import_rows")
        cursor.execute(
            "CREATE TEMP TABLE import_rows (line integer PRIMARY KEY, phone text, name text,"
            " tags text[], product text, purchased_at timestamptz, amount numeric(12,2), error text)"
            " ON COMMIT DROP"
        )
        with cursor.cursor.copy(
            "COPY import_rows (line, phone, name, tags, product, purchased_at, amount, error) FROM STDIN"
        ) as copy:
            for row in rows:
                report.rows += 1
                copy.write_row(
                    (
                        row.line,
                        row.phone,
                        row.name,
                        row.tags,
                        row.product,
                        row.purchased_at,
                        row.amount,
                        row.error,
                    )
                )
                if on_progress and report.rows % PROGRESS_EVERY_ROWS == 0:
                    on_progress(report.rows, _bytes_read(stream))
        if on_progress:
            on_progress(report.rows, _bytes_read(stream))
        _apply(cursor, shop_id=shop.pk, report=report)
        _collect_rejections(cursor, report=report, on_rejection=on_rejection)
        cursor.execute("DROP TABLE import_rows")
        if report.rows >= ANALYZE_AFTER_ROWS:
            # A big import changes the tables' statistics at once; without fresh ones the
            # planner picks a bitmap scan of the whole shop for every keyset batch of a campaign.
            cursor.execute(f"ANALYZE {Customer._meta.db_table}")
            cursor.execute(f"ANALYZE {Purchase._meta.db_table}")
    return report


def _bytes_read(stream: BinaryIO) -> int:
    try:
        return stream.tell()
    except (OSError, ValueError):
        return 0


def _apply(cursor, *, shop_id: int, report: ImportReport) -> None:
    customer, purchase = Customer._meta.db_table, Purchase._meta.db_table
    cursor.execute("CREATE INDEX ON import_rows (phone)")
    cursor.execute("ANALYZE import_rows")
    # The same (phone, product, time) twice in the file: the later lines are duplicates.
    cursor.execute(
        """UPDATE import_rows r SET error = %s FROM (
              SELECT line, row_number() OVER (PARTITION BY phone, product, purchased_at ORDER BY line) AS n
              FROM import_rows WHERE error IS NULL) d
            WHERE r.line = d.line AND d.n > 1""",
        [DUPLICATE],
    )
    # A purchase imported by an earlier file is a duplicate too (re-import adds nothing).
    cursor.execute(
        f"""UPDATE import_rows r SET error = %s FROM {customer} c JOIN {purchase} p ON p.customer_id = c.id
            WHERE r.error IS NULL AND r.product IS NOT NULL AND c.shop_id = %s AND c.phone = r.phone
              AND p.product = r.product AND p.purchased_at = r.purchased_at""",
        [DUPLICATE, shop_id],
    )
    cursor.execute(
        f"""WITH ok AS (SELECT * FROM import_rows WHERE error IS NULL),
                 phones AS (SELECT DISTINCT phone FROM ok),
                 names AS (SELECT DISTINCT ON (phone) phone, name FROM ok WHERE name <> ''
                           ORDER BY phone, line DESC),
                 tags AS (SELECT phone, array_agg(DISTINCT t ORDER BY t) AS tags
                          FROM ok, unnest(ok.tags) AS t GROUP BY phone)
            INSERT INTO {customer} AS c (shop_id, phone, name, tags, purchase_count, total_spent, created_at)
            SELECT %s, p.phone, coalesce(n.name, ''), coalesce(t.tags, '{{}}'), 0, 0, now()
            FROM phones p LEFT JOIN names n USING (phone) LEFT JOIN tags t USING (phone)
            ON CONFLICT (shop_id, phone) DO UPDATE SET
              name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE c.name END,
              tags = ARRAY(SELECT DISTINCT x FROM unnest(c.tags || excluded.tags) AS x ORDER BY x)
            RETURNING (xmax = 0)""",
        [shop_id],
    )
    report.customers_created = sum(1 for (created,) in cursor.fetchall() if created)
    cursor.execute(
        f"""INSERT INTO {purchase} (shop_id, customer_id, product, purchased_at, amount)
            SELECT %s, c.id, r.product, r.purchased_at, r.amount
            FROM import_rows r JOIN {customer} c ON c.shop_id = %s AND c.phone = r.phone
            WHERE r.error IS NULL AND r.product IS NOT NULL
            ON CONFLICT DO NOTHING""",
        [shop_id, shop_id],
    )
    report.purchases_created = cursor.rowcount
    cursor.execute(
        f"""UPDATE {customer} c SET purchase_count = a.n, total_spent = a.total, last_purchase_at = a.last
            FROM (SELECT p.customer_id, count(*) AS n, sum(p.amount) AS total, max(p.purchased_at) AS last
                  FROM {purchase} p JOIN {customer} c2 ON c2.id = p.customer_id
                  WHERE c2.shop_id = %s AND c2.phone IN
                        (SELECT phone FROM import_rows WHERE error IS NULL AND product IS NOT NULL)
                  GROUP BY p.customer_id) a
            WHERE c.id = a.customer_id""",
        [shop_id],
    )


def _collect_rejections(cursor, *, report: ImportReport, on_rejection: RejectionFn | None) -> None:
    cursor.execute("SELECT count(*) FILTER (WHERE error IS NULL), count(error) FROM import_rows")
    report.imported, report.rejected = cursor.fetchone()
    # A server-side cursor: a file of a million bad rows is reported without holding them all.
    with connection.connection.cursor(name="import_rejections") as rejected:
        rejected.itersize = 5_000
        rejected.execute("SELECT line, error FROM import_rows WHERE error IS NOT NULL ORDER BY line")
        for line, reason in rejected:
            rejection = Rejection(line, reason)
            if len(report.rejections) < REPORTED_REJECTIONS:
                report.rejections.append(rejection)
            if on_rejection:
                on_rejection(rejection)
