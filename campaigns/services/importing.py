"""Importing a shop's customers and purchases from CSV, in bounded memory, as a job.

One path for every file, from the portal or the ``import_customers`` command:

1. **Upload** (``customer_import_start``, in the request): the header is read at once (an
   unreadable file is refused with nothing stored), the bytes are kept in the database in
   1 MB chunks (``CustomerImportChunk``: a worker on another host reads them too), and the
   check is queued.
2. **Check** (``customer_import_check``, a task): the file is read as a stream (UTF-8 with or
   without BOM, or GBK/GB18030 as Excel writes it; the dialect is sniffed), each row is
   validated in Python and streamed with ``COPY`` into ``CustomerImportRow`` in batches (the
   job's progress moves after each); duplicates (in the file, or purchases already imported)
   are marked set-based; the totals the merchant confirms are stored on the job.
3. **Import** (``customer_import_run``, a task, after ``customer_import_confirm``): the valid
   rows are merged into customers and purchases ``IMPORT_BATCH_ROWS`` lines at a time, each
   batch one transaction that also moves the job's cursor, so progress shows as batches
   commit and a retried task resumes after the last one: nothing is imported twice.

SQL rather than the ORM, on purpose: a file of a million rows streams through COPY in bounded
memory and each batch is merged in a few set-based statements, where the ORM would hold the
rows in memory and upsert customers one query at a time.

Row format: one row per customer or per purchase. Columns (Chinese or English headers):
手机号/phone (required), 姓名/name, 标签/tags (separated by | ; 、 or Chinese comma),
商品/product, 购买时间/time, 金额/amount. A row with a product is a purchase and needs a time.
Line numbers are the file's (the header is 1).
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from itertools import islice
from typing import BinaryIO
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_q.tasks import async_task

from campaigns.models.audience import Customer, Purchase
from campaigns.models.imports import (  # noqa: F401  (the reason ids are this module's interface too)
    BAD_AMOUNT,
    BAD_DATE,
    BAD_PHONE,
    DUPLICATE,
    MISSING_PRODUCT,
    REASON_TEXT,
    TOO_LONG,
    CustomerImport,
    CustomerImportChunk,
    CustomerImportRow,
)
from campaigns.phones import normalize_phone
from smsmarketing.errors import SmsError
from smsmarketing.models import Shop
from smsmarketing.permissions import Capability, require_capability
from smsmarketing.services import shop_ensure_sms_allowed

SNIFF_BYTES = 64 * 1024
CHUNK_BYTES = 1024 * 1024
# Rows per COPY transaction of the check, and per merge transaction of the import: the job's
# progress moves once per batch. 20,000 rows merge in well under a second.
CHECK_BATCH_ROWS = 20_000
COPY_BLOCK_ROWS = 5_000  # rows parsed and held in memory before each COPY of the check
IMPORT_BATCH_ROWS = 20_000
# The check of a file is one task (a stream cannot resume mid-way), so it gets its own
# django-q2 timeout, longer than the cluster's (which bounds the budgeted tasks to about a
# minute, docs/OPERATIONS.md): about 20,000-40,000 rows a second here, so 15 minutes is room
# for tens of millions of rows. A copy redelivered meanwhile (after Q_CLUSTER retry) finds the
# job's lease taken and does nothing (campaigns.tasks.check_customer_import).
CHECK_TASK_TIMEOUT = 900
ANALYZE_AFTER_ROWS = 50_000
STALE_PREVIEW_AGE = timedelta(days=1)  # a preview not confirmed by then is cancelled overnight
MAX_NAME = 64
MAX_TAG = 32
MAX_PRODUCT = 128
MAX_AMOUNT = Decimal("999999999.99")
MAX_VALUE = 60  # characters of a rejected cell kept to show

CHECK_TASK = "campaigns.tasks.check_customer_import"
IMPORT_TASK = "campaigns.tasks.run_customer_import"

HEADER_ALIASES = {
    "phone": {"手机号", "手机", "手机号码", "电话", "phone", "mobile"},
    "name": {"姓名", "名称", "客户姓名", "name"},
    "tags": {"标签", "客户标签", "tags", "tag"},
    "product": {"商品", "商品名称", "product"},
    "time": {"购买时间", "下单时间", "时间", "time", "purchased_at", "date"},
    "amount": {"金额", "消费金额", "订单金额", "amount"},
}
COLUMN_LABELS = {
    "phone": "手机号",
    "name": "姓名",
    "tags": "标签",
    "product": "商品",
    "time": "购买时间",
    "amount": "金额",
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


class ImportStale(SmsError):
    rule = "IMPORT-STALE"


@dataclass
class Rejection:
    line: int
    reason: str
    value: str = ""

    @property
    def message(self) -> str:
        return str(REASON_TEXT.get(self.reason, self.reason))


@dataclass
class ImportReport:
    rows: int = 0
    imported: int = 0
    rejected: int = 0
    customers_created: int = 0
    purchases_created: int = 0
    encoding: str = ""
    rejections: list[Rejection] = field(default_factory=list)  # the first REPORTED_REJECTIONS
    job_id: int | None = None

    @property
    def complete(self) -> bool:
        return self.rejected == 0


# customers_import's report keeps this many rejected rows; on_rejection sees them all.
REPORTED_REJECTIONS = 1_000


@dataclass
class ParsedRow:
    line: int
    phone: str | None
    name: str
    tags: list[str]
    product: str | None
    purchased_at: datetime | None
    amount: Decimal | None
    error: str | None
    value: str = ""


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


def header_columns(header: list[str], aliases: dict[str, Collection[str]]) -> dict[str, int]:
    """Column name -> its index in a CSV header, by the titles each column may have (the first
    title found wins; a BOM and case are ignored). Customers' and orders' files alike."""
    found: dict[str, int] = {}
    for index, title in enumerate(header):
        key = title.strip().lstrip("\ufeff").lower()
        for column, titles in aliases.items():
            if key in titles and column not in found:
                found[column] = index
    return found


def _columns(header: list[str]) -> dict[str, int]:
    found = header_columns(header, HEADER_ALIASES)
    if "phone" not in found:
        raise ImportFileError(
            _("文件第 1 行（表头）缺少“手机号”列。表头可用：手机号、姓名、标签、商品、购买时间、金额。")
        )
    return found


_DATE_TIME = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")


@lru_cache(maxsize=16_384)
def _parse_local_time(value: str, zone: str) -> datetime | None:
    """A purchase time as written in the file, in the shop's time zone (cached: a file repeats
    its dates; the regular expression reads the usual forms without ``strptime``)."""
    match = _DATE_TIME.fullmatch(value)
    if match:
        try:
            parsed = datetime(*(int(part) for part in match.groups(default="0")))
        except ValueError:
            return None
    else:
        for fmt in _DATE_FORMATS:
            try:
                parsed = datetime.strptime(value, fmt)
                break
            except ValueError:
                continue
        else:
            return None
    return timezone.make_aware(parsed, ZoneInfo(zone))


def _parse_time(value: str, now: datetime) -> datetime | None:
    aware = _parse_local_time(value.strip(), timezone.get_default_timezone_name())
    return aware if aware is not None and aware <= now else None


def _parse_amount(value: str) -> Decimal | None:
    try:
        amount = Decimal(value.strip().lstrip("¥￥"))
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT or amount != round(amount, 2):
        return None
    return amount


def _cut(value: str) -> str:
    return value if len(value) <= MAX_VALUE else value[:MAX_VALUE] + "…"


def parse_row(line: int, raw: list[str], columns: dict[str, int], now: datetime) -> ParsedRow:
    """One row as it will be imported, or with its problem and the cell that has it (``value``)."""

    def cell(name: str) -> str:
        index = columns.get(name)
        return raw[index].strip() if index is not None and index < len(raw) else ""

    phone_text, name, product = cell("phone"), cell("name"), cell("product")
    when, amount_text, tags_text = cell("time"), cell("amount"), cell("tags")
    tags = sorted({t.strip() for t in _TAG_SPLIT.split(tags_text) if t.strip()})
    row = ParsedRow(line, normalize_phone(phone_text), name, tags, product or None, None, None, None)
    if row.phone is None:
        row.error, row.value = BAD_PHONE, phone_text
    elif len(name) > MAX_NAME or len(product) > MAX_PRODUCT or any(len(t) > MAX_TAG for t in tags):
        row.error = TOO_LONG
        row.value = name if len(name) > MAX_NAME else product if len(product) > MAX_PRODUCT else tags_text
    elif not product and (when or amount_text):
        row.error, row.value = MISSING_PRODUCT, " ".join(v for v in (when, amount_text) if v)
    elif product:
        row.purchased_at = _parse_time(when, now)
        row.amount = _parse_amount(amount_text) if amount_text else Decimal("0")
        if row.purchased_at is None:
            row.error, row.value = BAD_DATE, when
        elif row.amount is None:
            row.error, row.value = BAD_AMOUNT, amount_text
    if row.error:
        # A rejected row keeps only what the merchant needs to find and fix it.
        row.value = _cut(row.value)
        row.name, row.tags, row.product, row.purchased_at, row.amount = "", [], None, None, None
    return row


def iter_rows(text: io.TextIOWrapper, dialect) -> tuple[dict[str, int], Iterator[ParsedRow]]:
    reader = csv.reader(text, dialect)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError(_("文件是空的。")) from None
    except UnicodeDecodeError:
        raise ImportFileError(_("无法识别文件编码，请另存为 UTF-8 或 GBK 编码的 CSV。")) from None
    except csv.Error as exc:
        raise ImportFileError(_("第 1 行格式错误：{error}").format(error=exc)) from None
    columns = _columns(header)

    def rows() -> Iterator[ParsedRow]:
        line, now = reader.line_num, timezone.now()
        try:
            for raw in reader:
                start, line = line + 1, reader.line_num
                if not any(cell.strip() for cell in raw):
                    continue
                yield parse_row(start, raw, columns, now)
        except UnicodeDecodeError:
            raise ImportFileError(
                _("第 {line} 行附近编码无法识别，请另存为 UTF-8 或 GBK 编码的 CSV。").format(line=line + 1)
            ) from None
        except csv.Error as exc:
            raise ImportFileError(
                _("第 {line} 行格式错误：{error}").format(line=line + 1, error=exc)
            ) from None

    return columns, rows()


def customers_import_check_header(*, head: bytes) -> list[str]:
    """The columns found in a file's first bytes; ``ImportFileError`` when it cannot be imported
    at all (empty, not text, no phone column), so the upload is refused before anything is kept."""
    text, _encoding, dialect = _open(io.BytesIO(head))
    columns, _rows = iter_rows(text, dialect)
    return [COLUMN_LABELS[c] for c in sorted(columns, key=columns.get)]


class ChunkStream(io.RawIOBase):
    """An uploaded file read back from its chunks, one chunk (1 MB) in memory at a time."""

    def __init__(self, job_id: int) -> None:
        super().__init__()
        self.job_id = job_id
        self.seq = 0
        self.chunk = memoryview(b"")
        self.at = 0
        self.offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self.at >= len(self.chunk):
            data = (
                CustomerImportChunk.objects.filter(job_id=self.job_id, seq=self.seq)
                .values_list("data", flat=True)
                .first()
            )
            if data is None:
                return 0
            self.chunk, self.at, self.seq = memoryview(bytes(data)), 0, self.seq + 1
        n = min(len(buffer), len(self.chunk) - self.at)
        buffer[:n] = self.chunk[self.at : self.at + n]
        self.at += n
        self.offset += n
        return n

    def tell(self) -> int:
        return self.offset


# --- the job: upload, check, confirm, import ---------------------------------------------

ProgressFn = Callable[[int, int], None]  # rows read, bytes read
RejectionFn = Callable[[Rejection], None]

_ROW_TABLE = CustomerImportRow._meta.db_table
_COPY_ROWS = (
    f"COPY {_ROW_TABLE} (job_id, line, phone, name, tags, product, purchased_at, amount, error, value)"
    " FROM STDIN"
)


def customer_import_start(*, shop: Shop, user, upload) -> CustomerImport:
    """Keep an uploaded file and queue its check. ``ImportFileError`` (nothing kept) for a file
    that cannot be imported at all. The shop's earlier previews that were never confirmed are
    cancelled: one file waits for confirmation at a time."""
    require_capability(shop=shop, user=user, capability=Capability.OPERATE)
    shop_ensure_sms_allowed(shop=shop)
    upload.seek(0)
    columns = customers_import_check_header(head=upload.read(SNIFF_BYTES))
    upload.seek(0)
    with transaction.atomic():
        for stale in CustomerImport.objects.filter(shop=shop, status=CustomerImport.Status.READY):
            customer_import_cancel(job=stale)
        job = CustomerImport.objects.create(
            shop=shop, created_by=user, filename=upload.name[:255], size=upload.size, columns=columns
        )
        for seq, data in enumerate(upload.chunks(CHUNK_BYTES)):  # one chunk in memory at a time
            CustomerImportChunk.objects.create(job=job, seq=seq, data=data)
        transaction.on_commit(lambda: async_task(CHECK_TASK, job.pk, timeout=CHECK_TASK_TIMEOUT))
    return job


def customer_import_check(
    *,
    job_id: int,
    stream: BinaryIO | None = None,
    on_progress: ProgressFn | None = None,
    reraise: bool = False,
) -> str:
    """Read the job's file (its chunks, or ``stream``) into rows, mark the problems and store the
    totals: the job becomes ``ready`` (or ``failed`` with the reason). Safe to run twice: a
    retried check starts over from the first row."""
    job = CustomerImport.objects.select_related("shop__category").get(pk=job_id)
    if job.status != CustomerImport.Status.CHECKING:
        return job.status
    try:
        shop_ensure_sms_allowed(shop=job.shop)
        source = stream if stream is not None else ChunkStream(job.pk)
        CustomerImportRow.objects.filter(job_id=job.pk).delete()
        encoding, columns, rows = _check_rows(job, source, on_progress)
        with transaction.atomic(), connection.cursor() as cursor:
            if rows >= ANALYZE_AFTER_ROWS:
                cursor.execute(f"ANALYZE {_ROW_TABLE}")
            _mark_duplicates(cursor, job_id=job.pk, shop_id=job.shop_id)
            totals = _totals(cursor, job_id=job.pk, shop_id=job.shop_id)
            CustomerImportChunk.objects.filter(job_id=job.pk).delete()
            CustomerImport.objects.filter(pk=job.pk, status=CustomerImport.Status.CHECKING).update(
                status=CustomerImport.Status.READY, encoding=encoding, columns=columns, **totals
            )
    except SmsError as exc:
        _fail(job.pk, exc.message)
        if reraise:
            raise
        return CustomerImport.Status.FAILED
    return CustomerImport.Status.READY


def _check_rows(job: CustomerImport, source: BinaryIO, on_progress: ProgressFn | None):
    text, encoding, dialect = _open(source)
    columns, rows = iter_rows(text, dialect)
    labels = [COLUMN_LABELS[c] for c in sorted(columns, key=columns.get)]
    count, finished = 0, False
    while not finished:
        # One transaction per batch, so the job's progress (bytes read) is visible as the check
        # goes; a failure later rolls its own batch back, and the caller deletes the rest.
        with transaction.atomic(), connection.cursor() as cursor:
            in_batch = 0
            while in_batch < CHECK_BATCH_ROWS and not finished:
                # Rows are read before their COPY starts, never during it: reading the upload's
                # chunks queries the same connection, which a COPY in progress holds.
                block = list(islice(rows, COPY_BLOCK_ROWS))
                finished = len(block) < COPY_BLOCK_ROWS
                if block:
                    with cursor.cursor.copy(_COPY_ROWS) as copy:
                        for row in block:
                            copy.write_row(
                                (
                                    job.pk,
                                    row.line,
                                    row.phone,
                                    row.name,
                                    row.tags,
                                    row.product,
                                    row.purchased_at,
                                    row.amount,
                                    row.error,
                                    row.value,
                                )
                            )
                in_batch += len(block)
            count += in_batch
            position = _bytes_read(source)
            CustomerImport.objects.filter(pk=job.pk).update(rows=count, bytes_read=position)
        if on_progress:
            on_progress(count, position)
    return encoding, labels, count


def _bytes_read(stream: BinaryIO) -> int:
    try:
        return stream.tell()
    except (OSError, ValueError):
        return 0


def _mark_duplicates(cursor, *, job_id: int, shop_id: int) -> None:
    customer, purchase = Customer._meta.db_table, Purchase._meta.db_table
    # The same (phone, product, time) twice in the file: the later lines are duplicates.
    cursor.execute(
        f"""UPDATE {_ROW_TABLE} r SET error = %s, value = '' FROM (
              SELECT line, row_number() OVER (PARTITION BY phone, product, purchased_at ORDER BY line) AS n
              FROM {_ROW_TABLE} WHERE job_id = %s AND error IS NULL) d
            WHERE r.job_id = %s AND r.line = d.line AND d.n > 1""",
        [DUPLICATE, job_id, job_id],
    )
    # A purchase imported by an earlier file is a duplicate too (re-import adds nothing).
    cursor.execute(
        f"""UPDATE {_ROW_TABLE} r SET error = %s FROM {customer} c JOIN {purchase} p ON p.customer_id = c.id
            WHERE r.job_id = %s AND r.error IS NULL AND r.product IS NOT NULL AND c.shop_id = %s
              AND c.phone = r.phone AND p.product = r.product AND p.purchased_at = r.purchased_at""",
        [DUPLICATE, job_id, shop_id],
    )


def _totals(cursor, *, job_id: int, shop_id: int) -> dict[str, int]:
    cursor.execute(
        f"""SELECT count(*), count(*) FILTER (WHERE error IS NULL), count(error),
                   count(DISTINCT phone) FILTER (WHERE error IS NULL),
                   count(*) FILTER (WHERE error IS NULL AND product IS NOT NULL)
            FROM {_ROW_TABLE} WHERE job_id = %s""",
        [job_id],
    )
    rows, valid, rejected, customers, purchases = cursor.fetchone()
    cursor.execute(
        f"""SELECT count(*) FROM (SELECT DISTINCT phone FROM {_ROW_TABLE}
                                  WHERE job_id = %s AND error IS NULL) r
            WHERE NOT EXISTS (SELECT 1 FROM {Customer._meta.db_table} c
                              WHERE c.shop_id = %s AND c.phone = r.phone)""",
        [job_id, shop_id],
    )
    (new_customers,) = cursor.fetchone()
    return {
        "rows": rows,
        "valid": valid,
        "rejected": rejected,
        "customers": customers,
        "new_customers": new_customers,
        "purchases": purchases,
    }


def _fail(job_id: int, message: str) -> None:
    with transaction.atomic():
        CustomerImportRow.objects.filter(job_id=job_id).delete()
        CustomerImportChunk.objects.filter(job_id=job_id).delete()
        CustomerImport.objects.filter(pk=job_id, status__in=CustomerImport.RUNNING).update(
            status=CustomerImport.Status.FAILED, error=message, finished_at=timezone.now()
        )


def customer_import_confirm(
    *, job: CustomerImport, figures: str | None = None, enqueue: bool = True, user=None
) -> CustomerImport:
    """Start importing a checked file. ``figures`` are the totals the merchant saw: the import is
    refused when they are not the job's. Confirming twice (a double click) starts it once.
    ``enqueue=False``: the caller runs ``customer_import_run`` itself (``customers_import``).
    A ``user`` (the portal's member) needs OPERATE; the inner call of ``customers_import`` has none."""
    if user is not None:
        require_capability(shop=job.shop_id, user=user, capability=Capability.OPERATE)
    shop_ensure_sms_allowed(shop=job.shop)
    if figures is not None and figures != job.figures:
        raise ImportStale(_("导入预览已过期，请核对最新的统计后再确认。"))
    with transaction.atomic():
        # The conditional update is the guard against two confirmations racing: one wins.
        started = CustomerImport.objects.filter(pk=job.pk, status=CustomerImport.Status.READY).update(
            status=CustomerImport.Status.IMPORTING, confirmed_at=timezone.now()
        )
        if started and enqueue:
            transaction.on_commit(lambda: async_task(IMPORT_TASK, job.pk))
    job.refresh_from_db()
    if job.status not in (CustomerImport.Status.IMPORTING, CustomerImport.Status.DONE):
        raise ImportStale(_("这个文件不能再导入，请重新上传。"))
    return job


def customer_import_cancel(*, job: CustomerImport, user=None) -> bool:
    """Drop a checked file the merchant does not import (only while it waits for confirmation).
    A ``user`` (the portal's member) needs OPERATE; a new upload dropping the stale one has none."""
    if user is not None:
        require_capability(shop=job.shop_id, user=user, capability=Capability.OPERATE)
    with transaction.atomic():
        cancelled = CustomerImport.objects.filter(pk=job.pk, status=CustomerImport.Status.READY).update(
            status=CustomerImport.Status.CANCELLED, finished_at=timezone.now()
        )
        if cancelled:
            CustomerImportRow.objects.filter(job_id=job.pk).delete()
    return bool(cancelled)


def customer_imports_purge_stale(*, older_than: timedelta = STALE_PREVIEW_AGE) -> int:
    """Cancel the previews nobody confirmed within ``older_than`` and drop their checked rows
    (a preview of a big file holds a row per line). Nightly, by ``campaigns.tasks``."""
    cutoff = timezone.now() - older_than
    with transaction.atomic():
        stale = list(
            CustomerImport.objects.filter(status=CustomerImport.Status.READY, created_at__lt=cutoff)
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)
        )
        CustomerImportRow.objects.filter(job_id__in=stale).delete()
        return CustomerImport.objects.filter(pk__in=stale, status=CustomerImport.Status.READY).update(
            status=CustomerImport.Status.CANCELLED, finished_at=timezone.now()
        )


def customer_import_run(
    *, job_id: int, time_budget: float | None = None, max_batches: int | None = None
) -> str:
    """Merge a confirmed job's valid rows batch by batch; ``done`` when all are in.

    Each batch is one transaction holding the job's row lock: it merges the rows after the
    cursor, moves the cursor and the counts, and deletes the merged rows. A second copy of
    the task (a retry while the first still runs) waits for the lock, then sees the moved
    cursor: no row is merged twice. ``time_budget`` (seconds) hands the rest to a new task;
    ``max_batches`` stops after that many batches (tests show the bar part way).
    """
    started, batches = time.monotonic(), 0
    while True:
        with transaction.atomic():
            job = CustomerImport.objects.select_for_update().select_related("shop__category").get(pk=job_id)
            if job.status != CustomerImport.Status.IMPORTING:
                return job.status
            try:
                shop_ensure_sms_allowed(shop=job.shop)
            except SmsError as exc:
                _fail(job.pk, exc.message)
                return CustomerImport.Status.FAILED
            with connection.cursor() as cursor:
                upper = _next_batch_end(cursor, job)
                if upper is None:
                    _finish(cursor, job)
                    return job.status
                _merge_batch(cursor, job, upper=upper)
        batches += 1
        if max_batches is not None and batches >= max_batches:
            return "paused"
        if time_budget is not None and time.monotonic() - started > time_budget:
            async_task(IMPORT_TASK, job_id)
            return "budget spent"


def _next_batch_end(cursor, job: CustomerImport) -> int | None:
    cursor.execute(
        f"""SELECT max(line) FROM (SELECT line FROM {_ROW_TABLE} WHERE job_id = %s AND line > %s
                                   ORDER BY line LIMIT %s) b""",
        [job.pk, job.last_line, IMPORT_BATCH_ROWS],
    )
    return cursor.fetchone()[0]


def _merge_batch(cursor, job: CustomerImport, *, upper: int) -> None:
    customer, purchase = Customer._meta.db_table, Purchase._meta.db_table
    batch = "r.job_id = %s AND r.line > %s AND r.line <= %s"
    where = [job.pk, job.last_line, upper]
    # Another import of the shop may have added the same purchases since the check.
    cursor.execute(
        f"""UPDATE {_ROW_TABLE} r SET error = %s FROM {customer} c JOIN {purchase} p ON p.customer_id = c.id
            WHERE {batch} AND r.error IS NULL AND r.product IS NOT NULL AND c.shop_id = %s
              AND c.phone = r.phone AND p.product = r.product AND p.purchased_at = r.purchased_at""",
        [DUPLICATE, *where, job.shop_id],
    )
    late_duplicates = cursor.rowcount
    cursor.execute(
        f"""SELECT count(*), count(*) FILTER (WHERE error IS NULL),
                   count(*) FILTER (WHERE error IS NULL AND product IS NOT NULL)
            FROM {_ROW_TABLE} r WHERE {batch}""",
        where,
    )
    rows_in_batch, imported, purchase_rows = cursor.fetchone()
    # Each customer of the batch is written once: created, or updated with what the batch adds
    # (last non-empty name, tags merged, its purchases added to the summary: purchases are only
    # ever added, so adding the batch's is the same as recounting, without reading older ones).
    # ORDER BY phone: two imports of one shop upserting the same customers lock them in the
    # same order, so they wait for each other instead of deadlocking. A customer the batch does
    # not change is left as it is (no new row version).
    cursor.execute(
        f"""WITH ok AS (SELECT * FROM {_ROW_TABLE} r WHERE {batch} AND r.error IS NULL),
                 per_phone AS (
                     SELECT phone,
                            (array_agg(name ORDER BY line DESC) FILTER (WHERE name <> ''))[1] AS name,
                            count(product) AS n,
                            coalesce(sum(amount) FILTER (WHERE product IS NOT NULL), 0) AS total,
                            max(purchased_at) AS last
                     FROM ok GROUP BY phone),
                 tags AS (SELECT phone, array_agg(DISTINCT t ORDER BY t) AS tags
                          FROM ok, unnest(ok.tags) AS t GROUP BY phone)
            INSERT INTO {customer} AS c
                   (shop_id, phone, name, tags, purchase_count, total_spent, last_purchase_at, created_at)
            SELECT %s, p.phone, coalesce(p.name, ''), coalesce(t.tags, '{{}}'), p.n, p.total, p.last, now()
            FROM per_phone p LEFT JOIN tags t USING (phone)
            ORDER BY p.phone
            ON CONFLICT (shop_id, phone) DO UPDATE SET
              name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE c.name END,
              tags = CASE WHEN c.tags @> excluded.tags THEN c.tags ELSE
                       ARRAY(SELECT DISTINCT x FROM unnest(c.tags || excluded.tags) AS x ORDER BY x) END,
              purchase_count = c.purchase_count + excluded.purchase_count,
              total_spent = c.total_spent + excluded.total_spent,
              last_purchase_at = greatest(c.last_purchase_at, excluded.last_purchase_at)
            WHERE (excluded.name <> '' AND excluded.name <> c.name) OR NOT c.tags @> excluded.tags
               OR excluded.purchase_count > 0
            RETURNING (xmax = 0)""",
        [*where, job.shop_id],
    )
    customers_created = sum(1 for (created,) in cursor.fetchall() if created)
    cursor.execute(
        f"""INSERT INTO {purchase} (shop_id, customer_id, product, purchased_at, amount)
            SELECT %s, c.id, r.product, r.purchased_at, r.amount
            FROM {_ROW_TABLE} r JOIN {customer} c ON c.shop_id = %s AND c.phone = r.phone
            WHERE {batch} AND r.error IS NULL AND r.product IS NOT NULL
            ON CONFLICT DO NOTHING""",
        [job.shop_id, job.shop_id, *where],
    )
    purchases_created = cursor.rowcount
    if purchases_created != purchase_rows:
        # Another import of the shop committed some of the same purchases after this batch's
        # duplicate check: those were counted above but not inserted. Recount the batch's
        # customers from their purchases (rare; the summaries stay exact).
        late_duplicates += purchase_rows - purchases_created
        imported -= purchase_rows - purchases_created
        cursor.execute(
            f"""UPDATE {customer} c SET purchase_count = a.n, total_spent = a.total, last_purchase_at = a.last
                FROM (SELECT p.customer_id, count(*) AS n, sum(p.amount) AS total, max(p.purchased_at) AS last
                      FROM {purchase} p WHERE p.customer_id IN (
                          SELECT c2.id FROM {_ROW_TABLE} r
                          JOIN {customer} c2 ON c2.shop_id = %s AND c2.phone = r.phone
                          WHERE {batch} AND r.error IS NULL AND r.product IS NOT NULL)
                      GROUP BY p.customer_id) a
                WHERE c.id = a.customer_id""",
            [job.shop_id, *where],
        )
    cursor.execute(f"DELETE FROM {_ROW_TABLE} r WHERE {batch} AND r.error IS NULL", where)
    job.last_line = upper
    job.rows_done += rows_in_batch
    job.imported += imported
    job.late_duplicates += late_duplicates
    job.customers_created += customers_created
    job.purchases_created += purchases_created
    job.save(
        update_fields=[
            "last_line",
            "rows_done",
            "imported",
            "late_duplicates",
            "customers_created",
            "purchases_created",
        ]
    )


def _finish(cursor, job: CustomerImport) -> None:
    if job.rows >= ANALYZE_AFTER_ROWS:
        # A big import changes the tables' statistics at once; without fresh ones the
        # planner picks a bitmap scan of the whole shop for every keyset batch of a campaign.
        cursor.execute(f"ANALYZE {Customer._meta.db_table}")
        cursor.execute(f"ANALYZE {Purchase._meta.db_table}")
    job.status, job.finished_at, job.rows_done = CustomerImport.Status.DONE, timezone.now(), job.rows
    job.save(update_fields=["status", "finished_at", "rows_done"])


def customers_import(
    *,
    shop: Shop,
    stream: BinaryIO,
    on_progress: ProgressFn | None = None,
    on_rejection: RejectionFn | None = None,
    filename: str = "",
    user=None,
) -> ImportReport:
    """Import a CSV stream at once, through the same job as the portal (the command, tests).

    Valid rows are imported, invalid ones reported with their line and reason
    (``on_rejection`` sees every one in line order; the report keeps the first
    ``REPORTED_REJECTIONS``). Re-importing a file adds nothing: its purchase rows
    come back as duplicates. Raises ``ImportFileError`` for a file that cannot
    be read at all, with nothing imported. A ``user`` (a member) needs the OPERATE
    capability; without one (the management command, the platform's operator) none is checked.
    """
    if user is not None:
        require_capability(shop=shop, user=user, capability=Capability.OPERATE)
    shop_ensure_sms_allowed(shop=shop)
    job = CustomerImport.objects.create(
        shop=shop,
        created_by=user,
        filename=(filename or os.path.basename(str(getattr(stream, "name", ""))) or "CSV")[:255],
    )
    customer_import_check(job_id=job.pk, stream=stream, on_progress=on_progress, reraise=True)
    job.refresh_from_db()
    customer_import_confirm(job=job, enqueue=False)
    customer_import_run(job_id=job.pk)
    job.refresh_from_db()
    report = ImportReport(
        rows=job.rows,
        imported=job.imported,
        rejected=job.rejected_total,
        customers_created=job.customers_created,
        purchases_created=job.purchases_created,
        encoding=job.encoding,
        job_id=job.pk,
    )
    rejected = CustomerImportRow.objects.filter(job_id=job.pk, error__isnull=False).order_by("line")
    for line, reason, value in rejected.values_list("line", "error", "value").iterator(chunk_size=5_000):
        rejection = Rejection(line, reason, value)
        if len(report.rejections) < REPORTED_REJECTIONS:
            report.rejections.append(rejection)
        if on_rejection:
            on_rejection(rejection)
    return report
