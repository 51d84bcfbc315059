"""A shop's orders: ingesting a batch (CSV import, the open API), each row validated, the same
``order_no`` again an update of the same order, never a second one.

An ingested order also:

- **feeds the customer base** (repurchase reminders and segments read purchases): it upserts
  the shop's customer of its phone (a new phone becomes a customer, as a purchase row of
  ``import_customers`` makes one) and exactly one ``Purchase`` row linked to it
  (``Purchase.order``: product, time, amount follow the order when it is updated); the
  customer's summary (``purchase_count``, ``total_spent``, ``last_purchase_at``) is recounted
  from its purchases, so an order updated to another phone or amount leaves both customers
  exact;
- **is attributed** in the same transaction (``campaigns.services.attribution``, last touch).

Rows are mappings with ``order_no``, ``phone``, ``amount``, ``placed_at`` and optionally
``coupon_code`` and ``product`` (a CSV line also carries ``line``). A rejected row is reported
with its index (or line), a code and a Chinese message; the other rows of the batch go in.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from itertools import islice
from typing import Any, BinaryIO

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.models.audience import Customer, Purchase
from campaigns.models.orders import Order
from campaigns.phones import normalize_phone
from campaigns.services.attribution import orders_attribute
from campaigns.services.importing import ImportFileError, detect_encoding, header_columns
from smsmarketing.models import Shop

BAD_ROW = "BAD-ROW"
BAD_ORDER_NO = "BAD-ORDER-NO"
BAD_PHONE = "BAD-PHONE"
BAD_AMOUNT = "BAD-AMOUNT"
BAD_TIME = "BAD-TIME"
TOO_LONG = "TOO-LONG"

REASON_TEXT = {
    BAD_ROW: gettext_lazy("不是一条订单（需含订单号、手机号、金额、下单时间）"),
    BAD_ORDER_NO: gettext_lazy("订单号为空或超过 64 个字符"),
    BAD_PHONE: gettext_lazy("手机号格式不正确（需为中国大陆 11 位手机号）"),
    BAD_AMOUNT: gettext_lazy("金额格式不正确（需为不小于 0 的数字，最多两位小数）"),
    BAD_TIME: gettext_lazy("下单时间格式不正确或晚于现在（格式如 2026-06-18 20:30:00，未写时区按北京时间）"),
    TOO_LONG: gettext_lazy("内容过长（优惠券码最多 64 个字符，商品名称最多 128 个字符）"),
}

MAX_ORDER_NO = 64
MAX_COUPON_CODE = 64
MAX_PRODUCT = 128
MAX_AMOUNT = Decimal("9999999999.99")  # Order.amount: 12 digits, 2 of them decimals
# A placed_at later than now by more than this is refused: the pusher's clock may run a little
# ahead of ours, an order from the future is a mistake.
CLOCK_SKEW = timedelta(minutes=10)
# Rows validated and upserted at a time by ``orders_import`` (the command): memory stays bounded;
# the whole file is still one transaction.
IMPORT_BATCH_ROWS = 5_000
SNIFF_BYTES = 64 * 1024

HEADER_ALIASES = {
    "order_no": {"订单号", "订单编号", "order_no", "order", "order_id"},
    "phone": {"手机号", "手机", "手机号码", "电话", "phone", "mobile"},
    "amount": {"金额", "订单金额", "实付金额", "amount"},
    "placed_at": {"下单时间", "时间", "placed_at", "time", "date"},
    "coupon_code": {"优惠券码", "优惠券", "coupon_code", "coupon"},
    "product": {"商品", "商品名称", "product"},
}
REQUIRED_COLUMNS = ("order_no", "phone", "amount", "placed_at")
COLUMN_LABELS = {
    "order_no": "订单号",
    "phone": "手机号",
    "amount": "金额",
    "placed_at": "下单时间",
    "coupon_code": "优惠券码",
    "product": "商品",
}

_DATE_TIME = re.compile(
    r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?"
)


@dataclass
class OrderRejection:
    """A refused row: ``index`` in the batch (0-based) or the file's ``line``, a code, the
    Chinese message and the value that has the problem."""

    code: str
    index: int | None = None
    line: int | None = None
    value: str = ""

    @property
    def message(self) -> str:
        return str(REASON_TEXT.get(self.code, self.code))

    def as_dict(self) -> dict[str, Any]:
        where = {"line": self.line} if self.line is not None else {"index": self.index}
        return {**where, "code": self.code, "message": self.message}


@dataclass
class OrdersReport:
    """What a batch did: orders created, orders updated (the same ``order_no`` again, also
    within the batch), rows rejected."""

    created: int = 0
    updated: int = 0
    rejected: list[OrderRejection] = field(default_factory=list)

    def add(self, other: OrdersReport) -> None:
        self.created += other.created
        self.updated += other.updated
        self.rejected.extend(other.rejected)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "rejected": [r.as_dict() for r in self.rejected],
        }


@dataclass(frozen=True)
class _Row:
    order_no: str
    phone: str
    amount: Decimal
    placed_at: datetime
    coupon_code: str
    product: str


# --- validation ----------------------------------------------------------------------------


def parse_placed_at(value: Any) -> datetime | None:
    """A time as a pusher writes it: an aware datetime is kept; a naive one, or a text without
    a zone (2026-06-18 20:30, 2026/6/18, ISO 8601), is Beijing time (TIME_ZONE)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        text = value.strip()
        match = _DATE_TIME.fullmatch(text)
        try:
            if match:
                parsed = datetime(*(int(part) for part in match.groups(default="0")))
            else:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, timezone.get_default_timezone())
    return parsed


def parse_amount(value: Any) -> Decimal | None:
    """Yuan, at least 0, at most two decimals (``¥`` and thousands commas allowed in text)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        value = repr(value)
    try:
        amount = Decimal(str(value).strip().lstrip("¥￥").replace(",", ""))
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT or amount != round(amount, 2):
        return None
    return amount.quantize(Decimal("0.01"))


def _text(row: Mapping[str, Any], key: str) -> str:
    value = row.get(key)
    return "" if value is None else str(value).strip()


def _validate(row: Mapping[str, Any], now: datetime) -> _Row | tuple[str, str]:
    if any("\x00" in _text(row, key) for key in HEADER_ALIASES):
        return BAD_ROW, ""  # PostgreSQL text cannot hold NUL: refused here, not by a failed batch
    order_no = _text(row, "order_no")
    if not order_no or len(order_no) > MAX_ORDER_NO:
        return BAD_ORDER_NO, order_no
    phone_text = _text(row, "phone")
    phone = normalize_phone(phone_text)
    if phone is None:
        return BAD_PHONE, phone_text
    amount = parse_amount(row.get("amount"))
    if amount is None:
        return BAD_AMOUNT, _text(row, "amount")
    placed_at = parse_placed_at(row.get("placed_at"))
    if placed_at is None or placed_at > now + CLOCK_SKEW:
        return BAD_TIME, _text(row, "placed_at")
    coupon_code, product = _text(row, "coupon_code"), _text(row, "product")
    if len(coupon_code) > MAX_COUPON_CODE or len(product) > MAX_PRODUCT:
        return TOO_LONG, coupon_code if len(coupon_code) > MAX_COUPON_CODE else product
    return _Row(order_no, phone, amount, placed_at, coupon_code, product)


# --- the upsert ------------------------------------------------------------------------------


def orders_upsert(*, shop: Shop, rows: Iterable[Mapping[str, Any]]) -> OrdersReport:
    """Ingest a batch of a shop's orders in one transaction.

    Each row is validated; a refused row is reported (index, or ``line`` when the row has one)
    and the others go in. A new ``order_no`` creates an order, a known one updates it (phone,
    amount, time, coupon code, product); the same number twice in a batch is a creation then an
    update (the later row wins). Every order of the batch then has its purchase row, its
    customer's summary recounted, and its attribution computed. Safe to repeat: the same batch
    again updates the same orders.
    """
    report = OrdersReport()
    now = timezone.now()
    latest: dict[str, _Row] = {}
    valid = 0
    for index, raw in enumerate(rows):
        if not isinstance(raw, Mapping):
            report.rejected.append(OrderRejection(BAD_ROW, index=index))
            continue
        checked = _validate(raw, now)
        if isinstance(checked, tuple):
            code, value = checked
            line = raw.get("line")
            report.rejected.append(
                OrderRejection(code, index=None if line else index, line=line, value=value[:60])
            )
            continue
        valid += 1
        latest[checked.order_no] = checked  # the later row of the same order_no wins
    if not latest:
        return report
    with transaction.atomic(), connection.cursor() as cursor:
        order_ids, created = _upsert_orders(cursor, shop_id=shop.pk, rows=list(latest.values()))
        _feed_purchases(cursor, order_ids=order_ids)
        orders_attribute(order_ids=order_ids)
    report.created = created
    report.updated = valid - created
    return report


def _upsert_orders(cursor, *, shop_id: int, rows: list[_Row]) -> tuple[list[int], int]:
    # Race: the same order pushed twice at once (an import and the API): ON CONFLICT on the
    # unique (shop, order_no) makes the second an update of the first's row, never a second
    # order. ORDER BY order_no: two batches of one shop lock their common orders in the same
    # order, so they wait for each other instead of deadlocking.
    cursor.execute(
        f"""INSERT INTO {Order._meta.db_table} AS o
                   (shop_id, order_no, phone, amount, placed_at, coupon_code, product,
                    attributed_touch, created_at, updated_at)
            SELECT %s, i.order_no, i.phone, i.amount, i.placed_at, i.coupon_code, i.product, '', now(), now()
            FROM unnest(%s::text[], %s::text[], %s::numeric[], %s::timestamptz[], %s::text[], %s::text[])
                 AS i(order_no, phone, amount, placed_at, coupon_code, product)
            ORDER BY i.order_no
            ON CONFLICT (shop_id, order_no) DO UPDATE SET
              phone = excluded.phone, amount = excluded.amount, placed_at = excluded.placed_at,
              coupon_code = excluded.coupon_code, product = excluded.product, updated_at = now()
            RETURNING o.id, (o.xmax = 0)""",
        [
            shop_id,
            [r.order_no for r in rows],
            [r.phone for r in rows],
            [r.amount for r in rows],
            [r.placed_at for r in rows],
            [r.coupon_code for r in rows],
            [r.product for r in rows],
        ],
    )
    returned = cursor.fetchall()
    return [order_id for order_id, _created in returned], sum(1 for _id, new in returned if new)


def _feed_purchases(cursor, *, order_ids: list[int]) -> None:
    """One purchase per order, on the customer of its phone (created if new), and the summary of
    every customer the batch touches (its old customer too, when an order changed phone)
    recounted from the purchases."""
    customer, purchase, order = Customer._meta.db_table, Purchase._meta.db_table, Order._meta.db_table
    cursor.execute(
        f"""INSERT INTO {customer} (shop_id, phone, name, tags, purchase_count, total_spent, created_at)
            SELECT DISTINCT o.shop_id, o.phone, '', '{{}}'::varchar[], 0, 0, now()
            FROM {order} o WHERE o.id = ANY(%s) ORDER BY o.phone
            ON CONFLICT (shop_id, phone) DO NOTHING""",
        [order_ids],
    )
    # Race: the customer import adds to a customer's summary (purchase_count + n) under the
    # customer's row lock. The recount below must read purchases committed by any import that
    # held the lock, so the customers are locked first (in phone order, as the import locks
    # them) and the recount is a later statement, with a snapshot taken after the locks.
    cursor.execute(
        f"""WITH touched AS (
                SELECT c.id FROM {order} o JOIN {customer} c ON c.shop_id = o.shop_id AND c.phone = o.phone
                WHERE o.id = ANY(%s)
                UNION
                SELECT p.customer_id FROM {purchase} p WHERE p.order_id = ANY(%s))
            SELECT c.id FROM {customer} c WHERE c.id IN (SELECT id FROM touched)
            ORDER BY c.phone FOR UPDATE""",
        [order_ids, order_ids],
    )
    customer_ids = [row[0] for row in cursor.fetchall()]
    cursor.execute(
        f"""INSERT INTO {purchase} (shop_id, customer_id, product, purchased_at, amount, order_id)
            SELECT o.shop_id, c.id, o.product, o.placed_at, o.amount, o.id
            FROM {order} o JOIN {customer} c ON c.shop_id = o.shop_id AND c.phone = o.phone
            WHERE o.id = ANY(%s) ORDER BY o.id
            ON CONFLICT (order_id) DO UPDATE SET
              customer_id = excluded.customer_id, product = excluded.product,
              purchased_at = excluded.purchased_at, amount = excluded.amount""",
        [order_ids],
    )
    cursor.execute(
        f"""UPDATE {customer} c SET purchase_count = a.n, total_spent = a.total, last_purchase_at = a.last
            FROM (SELECT c2.id, agg.n, agg.total, agg.last FROM {customer} c2,
                         -- per customer, on the purchases' customer index (a hash join of all
                         -- purchases was 5 times slower for a batch of 5,000)
                         LATERAL (SELECT count(*) AS n, coalesce(sum(p.amount), 0) AS total,
                                         max(p.purchased_at) AS last
                                  FROM {purchase} p WHERE p.customer_id = c2.id) agg
                  WHERE c2.id = ANY(%s)) a
            WHERE c.id = a.id
              AND (c.purchase_count, c.total_spent, c.last_purchase_at)
                  IS DISTINCT FROM (a.n, a.total, a.last)""",
        [customer_ids],
    )


# --- CSV ----------------------------------------------------------------------------------------


def _columns(header: list[str]) -> dict[str, int]:
    found = header_columns(header, HEADER_ALIASES)
    missing = [COLUMN_LABELS[c] for c in REQUIRED_COLUMNS if c not in found]
    if missing:
        raise ImportFileError(
            _(
                "文件第 1 行（表头）缺少列：{missing}。"
                "表头可用：订单号、手机号、金额、下单时间、优惠券码、商品。"
            ).format(missing="、".join(missing))
        )
    return found


def read_order_rows(stream: BinaryIO) -> tuple[str, Iterator[dict[str, Any]]]:
    """The encoding (UTF-8 with or without BOM, else GB18030, a superset of GBK) and the rows of
    an orders CSV, each a dict with its file ``line`` (the header is line 1). ``ImportFileError``
    for a file that cannot be read at all (empty, no header, a required column missing)."""
    buffered = stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(stream, SNIFF_BYTES)  # type: ignore[arg-type]
    sample = buffered.peek(SNIFF_BYTES)[:SNIFF_BYTES]
    encoding = detect_encoding(sample)
    text = io.TextIOWrapper(buffered, encoding=encoding, newline="")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            sample.decode(encoding, errors="ignore"), delimiters=",\t;"
        )
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(text, dialect)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError(_("文件是空的。")) from None
    except (UnicodeDecodeError, csv.Error):
        raise ImportFileError(_("无法读取文件第 1 行，请另存为 UTF-8 或 GBK 编码的 CSV。")) from None
    columns = _columns(header)

    def rows() -> Iterator[dict[str, Any]]:
        line = reader.line_num
        try:
            for raw in reader:
                start, line = line + 1, reader.line_num
                if not any(cell.strip() for cell in raw):
                    continue
                row: dict[str, Any] = {"line": start}
                for name, index in columns.items():
                    row[name] = raw[index] if index < len(raw) else ""
                yield row
        except (UnicodeDecodeError, csv.Error):
            raise ImportFileError(
                _("第 {line} 行无法读取（编码或格式错误），请另存为 UTF-8 或 GBK 编码的 CSV。").format(
                    line=line + 1
                )
            ) from None

    return encoding, rows()


@dataclass
class OrdersImport:
    rows: int = 0
    encoding: str = ""
    report: OrdersReport = field(default_factory=OrdersReport)


def orders_import(*, shop: Shop, stream: BinaryIO) -> OrdersImport:
    """An orders CSV into ``orders_upsert``, ``IMPORT_BATCH_ROWS`` rows per transaction (the
    command), all in one transaction. Columns: 订单号/order_no, 手机号/phone, 金额/amount,
    下单时间/placed_at (required), 优惠券码/coupon_code, 商品/product. ``ImportFileError`` (nothing
    imported) for a file that cannot be read: empty, a required column missing, a line that
    cannot be decoded or parsed."""
    encoding, rows = read_order_rows(stream)
    result = OrdersImport(encoding=encoding)
    with transaction.atomic():  # a file that breaks off half-way imports nothing
        while batch := list(islice(rows, IMPORT_BATCH_ROWS)):
            result.rows += len(batch)
            result.report.add(orders_upsert(shop=shop, rows=batch))
    return result
