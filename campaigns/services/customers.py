"""A shop's customers pushed in a batch (the open API's ``POST /api/v1/customers``).

The same rules as a customer line of the CSV import (``campaigns.services.importing``): the
phone normalised (``campaigns.phones.normalize_phone``), a name of at most 64 characters, tags
of at most 32 each, the same reason ids (``BAD-PHONE``, ``TOO-LONG``) and Chinese messages. A
known phone is an update merged as the import merges it: the last non-empty name wins, tags are
added to the customer's (never removed). A refused row is reported with its index; the other
rows of the batch go in, in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils.translation import gettext_lazy

from campaigns.models.audience import Customer
from campaigns.phones import normalize_phone
from campaigns.services.importing import _TAG_SPLIT, BAD_PHONE, MAX_NAME, MAX_TAG, REASON_TEXT, TOO_LONG
from smsmarketing.models import Shop
from smsmarketing.services import shop_ensure_sms_allowed

BAD_ROW = "BAD-ROW"
TOO_MANY_TAGS = "TOO-MANY-TAGS"
# A customer pushed with more tags than this is a mistake (a whole catalogue sent as tags).
MAX_TAGS = 20

ROW_TEXT = {
    BAD_ROW: gettext_lazy("不是一条客户记录（需含手机号，姓名和标签可选）"),
    TOO_MANY_TAGS: gettext_lazy("标签过多（每位客户最多 20 个标签）"),
}


@dataclass
class CustomerRejection:
    index: int
    code: str

    @property
    def message(self) -> str:
        return str(ROW_TEXT.get(self.code) or REASON_TEXT.get(self.code, self.code))

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "code": self.code, "message": self.message}


@dataclass
class CustomersReport:
    """What a batch did: customers created, rows that updated a known customer (the same phone
    again within the batch too), rows rejected."""

    created: int = 0
    updated: int = 0
    rejected: list[CustomerRejection] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "rejected": [r.as_dict() for r in self.rejected],
        }


@dataclass(frozen=True)
class _Row:
    phone: str
    name: str
    tags: tuple[str, ...]


def _tags(value: Any) -> list[str] | None:
    """A list of tags, or one text separated like the import's column (| ; 、 ，)."""
    if value is None:
        return []
    if isinstance(value, str):
        value = _TAG_SPLIT.split(value)
    if not isinstance(value, list | tuple) or not all(isinstance(t, str) for t in value):
        return None
    return sorted({t.strip() for t in value if t.strip()})


def _validate(raw: Any) -> _Row | str:
    if not isinstance(raw, Mapping):
        return BAD_ROW
    phone_text, name = raw.get("phone"), raw.get("name") or ""
    tags = _tags(raw.get("tags"))
    if not isinstance(name, str) or tags is None:
        return BAD_ROW
    # PostgreSQL text cannot hold NUL: refused here, not by a failed batch.
    if "\x00" in name or any("\x00" in t for t in tags):
        return BAD_ROW
    phone = normalize_phone(phone_text) if isinstance(phone_text, str) else None
    if phone is None:
        return BAD_PHONE
    name = name.strip()
    if len(name) > MAX_NAME or any(len(t) > MAX_TAG for t in tags):
        return TOO_LONG
    if len(tags) > MAX_TAGS:
        return TOO_MANY_TAGS
    return _Row(phone, name, tuple(tags))


def customers_upsert(*, shop: Shop, rows: Iterable[Any]) -> CustomersReport:
    """Create or update a batch of a shop's customers in one transaction.

    Each row is a mapping ``{phone, name?, tags?}``; a refused row is reported with its index
    (0-based) and the others go in. A new phone creates a customer; a known one keeps its
    purchases and summary, takes the last non-empty name and adds the tags. The same phone
    twice in a batch is merged in order (created once, then updated). Safe to repeat.
    """
    shop_ensure_sms_allowed(shop=shop)
    report = CustomersReport()
    merged: dict[str, tuple[str, set[str]]] = {}
    valid = 0
    for index, raw in enumerate(rows):
        checked = _validate(raw)
        if isinstance(checked, str):
            report.rejected.append(CustomerRejection(index, checked))
            continue
        valid += 1
        name, tags = merged.get(checked.phone, ("", set()))
        merged[checked.phone] = (checked.name or name, tags | set(checked.tags))
    if not merged:
        return report
    phones = sorted(merged)
    with transaction.atomic(), connection.cursor() as cursor:
        report.created = _upsert(
            cursor,
            shop_id=shop.pk,
            phones=phones,
            names=[merged[p][0] for p in phones],
            # One text per phone ("\x1f"-joined): PostgreSQL has no ragged arrays to unnest.
            tags=["\x1f".join(sorted(merged[p][1])) for p in phones],
        )
    report.updated = valid - report.created
    return report


def _upsert(cursor, *, shop_id: int, phones: list[str], names: list[str], tags: list[str]) -> int:
    """One set-based statement (the import's merge, ``importing._merge_batch``, for a batch held
    in memory): returns how many customers it created.

    Race: the same phone pushed by two batches (or the API and a CSV import) at once: ON CONFLICT
    on the unique (shop, phone) makes the second an update of the first's row. Rows go in phone
    order, as the import's, so two writers lock their common customers in the same order and
    wait for each other instead of deadlocking. A customer the row does not change is left as it
    is (no new row version)."""
    customer = Customer._meta.db_table
    cursor.execute(
        f"""INSERT INTO {customer} AS c
                   (shop_id, phone, name, tags, purchase_count, total_spent, created_at)
            SELECT %s, i.phone, i.name,
                   coalesce(string_to_array(nullif(i.tags, ''), chr(31))::varchar[], '{{}}'), 0, 0, now()
            FROM unnest(%s::text[], %s::text[], %s::text[]) AS i(phone, name, tags)
            ORDER BY i.phone
            ON CONFLICT (shop_id, phone) DO UPDATE SET
              name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE c.name END,
              tags = CASE WHEN c.tags @> excluded.tags THEN c.tags ELSE
                       ARRAY(SELECT DISTINCT x FROM unnest(c.tags || excluded.tags) AS x ORDER BY x) END
            WHERE (excluded.name <> '' AND excluded.name <> c.name) OR NOT c.tags @> excluded.tags
            RETURNING (xmax = 0)""",
        [shop_id, phones, names, tags],
    )
    return sum(1 for (created,) in cursor.fetchall() if created)
