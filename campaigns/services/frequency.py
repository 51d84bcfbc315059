"""Send eligibility: the one decision every send path uses (pipeline, test SMS, dry run).

``frequency_decide`` answers, for a batch of recipients of one shop and one
message class at one moment, whether each may be sent to now and if not why
(a reason id of DOMAIN.md). With ``commit=True`` it also counts the allowed
ones, so the caller must run it inside the transaction that reserves balance and
writes the message rows: if anything later fails, the counts roll back too.

Reasons, when several apply, are reported in this order (the first one wins):
``INVALID-PHONE``, ``OPTED-OUT``, ``QUIET-HOURS``, then the ``FREQ-*`` rules in
the order platform before shop, one-day window before two-day, then rule id.
A recipient refused for any reason is not counted.

Concurrency. Counters are rows keyed by (phone, day) for all shops together and
(phone, shop, day) per shop. The platform rows of the decision's window days are
the phone's lock: a committing decision creates the missing ones
(``INSERT ... ON CONFLICT DO NOTHING`` in key order), then locks them all with
``SELECT ... FOR UPDATE ORDER BY phone, day``, then reads the shop rows, decides
in Python and writes with one ``UPDATE ... FROM unnest(...)`` and one upsert.
Every writer of a phone's counters (decisions and releases) takes the platform
rows first and in the same key order, so two workers sending to overlapping
phones for different shops serialise per phone and never deadlock; a decision
holds the locks of both window days, so a worker whose clock is on the previous
day cannot change a count this decision has read.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import F

from campaigns.models.frequency import (
    UNSUBSCRIBABLE_CLASSES,
    FrequencyRule,
    MessageClass,
    OptOut,
    PlatformCounter,
    PromotionPeriod,
    RuleScope,
    RuleSet,
    ShopCounter,
)
from campaigns.phones import INVALID_PHONE, normalize_phone
from campaigns.services.frequency_partitions import frequency_partitions_ensure, frequency_partitions_purge
from campaigns.sqlarrays import sql_int_array, sql_text_array
from smsmarketing.models import Category, Shop

LOCAL_TZ = ZoneInfo("Asia/Shanghai")

# Marketing is sent only while MARKETING_WINDOW_OPENS <= local time < MARKETING_WINDOW_CLOSES
# (08:00-21:00 Asia/Shanghai, DOMAIN.md); outside it the decision is QUIET-HOURS.
MARKETING_WINDOW_OPENS = time(8, 0)
MARKETING_WINDOW_CLOSES = time(21, 0)

OPTED_OUT = "OPTED-OUT"
QUIET_HOURS = "QUIET-HOURS"

PLATFORM_TABLE = PlatformCounter._meta.db_table
SHOP_TABLE = ShopCounter._meta.db_table

# Counter column of each class. Column names are interpolated into SQL, so they
# come only from this fixed map, never from input.
CLASS_COLUMN: dict[str, str] = {
    MessageClass.MARKETING: "marketing",
    MessageClass.NOTIFY_UNSUB: "notify_unsub",
    MessageClass.NOTIFY: "notify",
}


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether one recipient may be sent to, and why not.

    ``phone`` is the normalised 11-digit number (the input as given when it is
    invalid); ``ruleset``/``ruleset_version`` name the rule set the caps came from.
    """

    phone: str
    allowed: bool
    reason: str | None
    ruleset: str
    ruleset_version: int

    @property
    def ruleset_label(self) -> str:
        return f"{self.ruleset} v{self.ruleset_version}"


@dataclass(frozen=True, slots=True)
class Rule:
    rule_id: str
    scope: str
    message_class: str
    window_days: int
    limit: int


@dataclass(frozen=True, slots=True)
class EffectiveRules:
    """The rule set in force on one day (a promotion's, else the default)."""

    name: str
    version: int
    rules: tuple[Rule, ...]
    promotion: str | None = None

    def for_class(self, message_class: str) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.message_class == message_class)


class Releasable(Protocol):
    """Anything that names a counted message: a ``ReleaseItem`` or a message row."""

    shop_id: int
    message_class: str
    phone: str
    accepted_at: datetime


@dataclass(frozen=True, slots=True)
class ReleaseItem:
    shop_id: int
    message_class: str
    phone: str
    accepted_at: datetime


# --- time -------------------------------------------------------------------------------


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("frequency decisions need an aware datetime (with a time zone)")


def local_day(at: datetime) -> date:
    """The calendar day in Asia/Shanghai of an aware moment (16:10 UTC is the next day)."""
    _require_aware(at)
    return at.astimezone(LOCAL_TZ).date()


def in_quiet_hours(at: datetime) -> bool:
    """True outside 08:00 <= local time < 21:00, when marketing must wait."""
    _require_aware(at)
    local = at.astimezone(LOCAL_TZ).time()
    return not (MARKETING_WINDOW_OPENS <= local < MARKETING_WINDOW_CLOSES)


def next_send_window(at: datetime) -> datetime:
    """The earliest moment >= ``at`` at which marketing may be sent (Asia/Shanghai).

    ``at`` itself inside the window; 08:00 the same day before it; 08:00 the
    next day from 21:00 on. The pipeline defers a QUIET-HOURS recipient to this.
    """
    _require_aware(at)
    local = at.astimezone(LOCAL_TZ)
    if not in_quiet_hours(local):
        return local
    day = local.date()
    if local.time() >= MARKETING_WINDOW_CLOSES:
        day += timedelta(days=1)
    return datetime.combine(day, MARKETING_WINDOW_OPENS, tzinfo=LOCAL_TZ)


# --- rules ------------------------------------------------------------------------------


def _rule_order(rule: Rule) -> tuple[int, int, str]:
    return (0 if rule.scope == RuleScope.PLATFORM else 1, rule.window_days, rule.rule_id)


def rules_for_day(day: date) -> EffectiveRules:
    """The rules in force on a local calendar day: a promotion period's, else the default set."""
    promotion = (
        PromotionPeriod.objects.filter(start_date__lte=day, end_date__gte=day)
        .order_by("-start_date", "-id")
        .values_list("name", "ruleset_id")
        .first()
    )
    if promotion is not None:
        ruleset = RuleSet.objects.filter(pk=promotion[1]).values("id", "name", "version").first()
    else:
        ruleset = RuleSet.objects.filter(is_default=True).values("id", "name", "version").first()
    if ruleset is None:
        raise ImproperlyConfigured("No default frequency rule set: create one in the admin (频控规则集).")
    rules = tuple(
        sorted(
            (
                Rule(*row)
                for row in FrequencyRule.objects.filter(ruleset_id=ruleset["id"]).values_list(
                    "rule_id", "scope", "message_class", "window_days", "limit"
                )
            ),
            key=_rule_order,
        )
    )
    return EffectiveRules(
        name=ruleset["name"],
        version=ruleset["version"],
        rules=rules,
        promotion=promotion[0] if promotion else None,
    )


def ruleset_touch(*, ruleset_id: int) -> None:
    """Record that a rule set's rules changed: its version goes up by one.

    A conditional ``UPDATE ... SET version = version + 1`` so that two admins
    saving at once both count (no read-modify-write).
    """
    RuleSet.objects.filter(pk=ruleset_id).update(version=F("version") + 1)


# The DOMAIN.md defaults (also seeded by migration 0002_frequency_defaults): rule id,
# scope, message class, window in calendar days, limit.
DEFAULT_RULESET_NAME = "默认规则"
DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("FREQ-PLATFORM-DAY", RuleScope.PLATFORM.value, MessageClass.MARKETING.value, 1, 3),
    Rule("FREQ-PLATFORM-2DAY", RuleScope.PLATFORM.value, MessageClass.MARKETING.value, 2, 5),
    Rule("FREQ-SHOP-2DAY", RuleScope.SHOP.value, MessageClass.MARKETING.value, 2, 1),
    Rule("FREQ-SHOP-NOTIFY-UNSUB-DAY", RuleScope.SHOP.value, MessageClass.NOTIFY_UNSUB.value, 1, 5),
    Rule("FREQ-SHOP-NOTIFY-DAY", RuleScope.SHOP.value, MessageClass.NOTIFY.value, 1, 2),
)


@transaction.atomic
def ruleset_reset_to_defaults() -> RuleSet:
    """Make the default rule set hold exactly the DOMAIN.md rules (creating it if missing)."""
    ruleset = RuleSet.objects.select_for_update().filter(is_default=True).first()
    if ruleset is None:
        ruleset = RuleSet.objects.create(name=DEFAULT_RULESET_NAME, is_default=True)
    current = {
        (r.rule_id, r.scope, r.message_class, r.window_days, r.limit)
        for r in FrequencyRule.objects.filter(ruleset=ruleset)
    }
    wanted = {(r.rule_id, r.scope, r.message_class, r.window_days, r.limit) for r in DEFAULT_RULES}
    if current != wanted:
        FrequencyRule.objects.filter(ruleset=ruleset).delete()
        FrequencyRule.objects.bulk_create(
            FrequencyRule(
                ruleset=ruleset,
                rule_id=r.rule_id,
                scope=r.scope,
                message_class=r.message_class,
                window_days=r.window_days,
                limit=r.limit,
            )
            for r in DEFAULT_RULES
        )
        ruleset_touch(ruleset_id=ruleset.pk)
        ruleset.refresh_from_db()
    return ruleset


# --- decisions --------------------------------------------------------------------------


def frequency_decide(
    *,
    shop_id: int,
    message_class: str,
    phones: Sequence[str],
    at: datetime,
    commit: bool = True,
) -> list[Decision]:
    """One decision per phone, in input order, for messages of ``shop_id`` sent at ``at``.

    ``commit=True`` counts every allowed message (call it inside the caller's
    transaction); ``commit=False`` is the dry run: the same decisions, nothing
    counted, nothing locked. A phone given twice in one batch is decided
    sequentially, as if it had been sent twice.
    """
    message_class = MessageClass(message_class).value
    day = local_day(at)
    effective = rules_for_day(day)
    rules = effective.for_class(message_class)

    normalised = [normalize_phone(raw) for raw in phones]
    reasons: list[str | None] = [None if phone else INVALID_PHONE for phone in normalised]
    valid = sorted({phone for phone in normalised if phone})

    opted_out: set[str] = set()
    if valid and message_class in UNSUBSCRIBABLE_CLASSES:
        opted_out = _opted_out(shop_id=shop_id, phones=valid)
    quiet = message_class == MessageClass.MARKETING and in_quiet_hours(at)
    for index, phone in enumerate(normalised):
        if reasons[index] is None and phone in opted_out:
            reasons[index] = OPTED_OUT
        elif reasons[index] is None and quiet:
            reasons[index] = QUIET_HOURS

    candidates = sorted({int(normalised[i]) for i, reason in enumerate(reasons) if reason is None})
    if candidates:
        with transaction.atomic(savepoint=False):
            _decide_caps(
                shop_id=shop_id,
                message_class=message_class,
                rules=rules,
                day=day,
                candidates=candidates,
                normalised=normalised,
                reasons=reasons,
                commit=commit,
            )

    return [
        Decision(
            phone=normalised[i] or str(raw),
            allowed=reasons[i] is None,
            reason=reasons[i],
            ruleset=effective.name,
            ruleset_version=effective.version,
        )
        for i, raw in enumerate(phones)
    ]


def _opted_out(*, shop_id: int, phones: list[str]) -> set[str]:
    # One array parameter instead of an IN list of 1,000 placeholders (uses optout_shop_phone_unique).
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT phone FROM {OptOut._meta.db_table} WHERE shop_id = %s AND phone = ANY(%s::varchar[])",
            [shop_id, sql_text_array(phones)],
        )
        return {row[0] for row in cursor.fetchall()}


def _decide_caps(
    *,
    shop_id: int,
    message_class: str,
    rules: tuple[Rule, ...],
    day: date,
    candidates: list[int],
    normalised: list[str | None],
    reasons: list[str | None],
    commit: bool,
) -> None:
    """Apply the caps to the recipients still eligible, filling ``reasons``; count if committing.

    Set-based: whatever the batch size, a committing decision is three statements (create
    the missing platform rows, lock them in key order, then decide and count in one
    statement) and a dry one is one; no per-recipient work in Python but building the
    arrays. The rules are passed as data, so the statement is the same for every rule set.
    """
    column = CLASS_COLUMN[message_class]
    window = max((rule.window_days for rule in rules), default=1)
    days = [day - timedelta(days=offset) for offset in range(window - 1, -1, -1)]
    eligible = [index for index, reason in enumerate(reasons) if reason is None]
    phones = sql_int_array(candidates)
    with connection.cursor() as cursor:
        if commit:
            _lock_platform_rows(cursor, phones=phones, days=days)
        # Performance: a batch whose phones are all different (every audience batch: a shop's
        # customers have distinct phones) takes the simpler statement (no repeats to number).
        distinct = len(eligible) == len(candidates)
        cursor.execute(
            (_distinct_decision_sql if distinct else _decision_sql)(column=column, commit=commit),
            {
                "idx": sql_int_array(eligible),
                "phones": sql_int_array(int(normalised[index]) for index in eligible),
                "uniq": phones,
                "days": days,
                "day": day,
                "shop": shop_id,
                "r_ord": list(range(len(rules))),
                "r_id": [rule.rule_id for rule in rules],
                "r_platform": [rule.scope == RuleScope.PLATFORM for rule in rules],
                "r_win": [rule.window_days for rule in rules],
                "r_lim": [rule.limit for rule in rules],
            },
        )
        for index, rule_id in cursor.fetchall():
            reasons[index] = rule_id


def _counts_and_rules_ctes(column: str) -> str:
    """The CTEs both decision statements share: ``plat`` and ``shp``, each phone's counts of the
    class over the decision day (``d1``) and the two-day window (``d2``), platform-wide and for
    this shop; ``rules``, the rules in force, passed as arrays."""
    return f"""plat AS (
            SELECT phone, sum({column}) FILTER (WHERE day = %(day)s) AS d1, sum({column}) AS d2
            FROM {PLATFORM_TABLE}
            WHERE phone = ANY(%(uniq)s::bigint[]) AND day = ANY(%(days)s::date[])
            GROUP BY phone
        ),
        shp AS (
            SELECT phone, sum({column}) FILTER (WHERE day = %(day)s) AS d1, sum({column}) AS d2
            FROM {SHOP_TABLE}
            WHERE phone = ANY(%(uniq)s::bigint[]) AND shop_id = %(shop)s AND day = ANY(%(days)s::date[])
            GROUP BY phone
        ),
        rules AS (
            SELECT * FROM unnest(%(r_ord)s::int[], %(r_id)s::text[], %(r_platform)s::bool[],
                                 %(r_win)s::int[], %(r_lim)s::int[]) AS r(ord, rule_id, platform, win, lim)
        ),"""


# A rule's room for a phone: its limit minus what its window already counts (``pl`` and ``sh``:
# the phone's rows of ``plat`` and ``shp``; platform rows for platform rules, this shop's for
# shop rules; ``d1`` the decision day, ``d2`` both days).
_ROOM = """r.lim - COALESCE(CASE WHEN r.platform THEN (CASE WHEN r.win = 1 THEN pl.d1 ELSE pl.d2 END)
                                ELSE (CASE WHEN r.win = 1 THEN sh.d1 ELSE sh.d2 END) END, 0)"""


def _decision_sql(*, column: str, commit: bool) -> str:
    """The decision of a batch as one statement (and, committing, its counting).

    ``input`` is the still-eligible recipients in input order; ``n`` numbers the repeats of a
    phone. Per phone and rule, ``room`` is the limit minus what the rule's window already
    counts (platform rows for platform rules, this shop's rows for shop rules). Deciding the
    repeats sequentially allows the first ``a = least(k, greatest(0, min(room)))`` of the ``k``
    repeats; each later one is refused by the first rule (in rule order) with ``room <= a``,
    the one that refuses the message after those ``a`` were counted.
    """
    # Race: the counts read here cannot change before commit. Committing, the platform rows
    # are locked by the previous statement, and this statement's snapshot is taken after it
    # got the locks, so it sees every count committed before; shop rows are only written
    # under their phone's platform-row lock.
    sql = f"""
        WITH input AS (
            SELECT u.i, u.phone, row_number() OVER (PARTITION BY u.phone ORDER BY u.i) AS n
            FROM unnest(%(idx)s::int[], %(phones)s::bigint[]) AS u(i, phone)
        ),
        phones AS (SELECT phone, count(*) AS k FROM input GROUP BY phone),
        {_counts_and_rules_ctes(column)}
        room AS (
            SELECT p.phone, r.ord, r.rule_id,
                   {_ROOM} AS room
            FROM phones p
            LEFT JOIN plat pl ON pl.phone = p.phone
            LEFT JOIN shp sh ON sh.phone = p.phone
            CROSS JOIN rules r
        ),
        quota AS (
            SELECT p.phone, LEAST(p.k, GREATEST(0, COALESCE(m.room, p.k))) AS a
            FROM phones p LEFT JOIN (SELECT phone, min(room) AS room FROM room GROUP BY phone) m
                 ON m.phone = p.phone
        ),
        refusal AS (
            SELECT DISTINCT ON (r.phone) r.phone, r.rule_id
            FROM room r JOIN quota q ON q.phone = r.phone
            WHERE r.room <= q.a
            ORDER BY r.phone, r.ord
        )"""
    if commit:
        sql += f""",
        counted_platform AS (
            UPDATE {PLATFORM_TABLE} AS c SET {column} = c.{column} + q.a
            FROM quota q WHERE q.a > 0 AND c.phone = q.phone AND c.day = %(day)s
            RETURNING 1
        ),
        counted_shop AS (
            INSERT INTO {SHOP_TABLE} AS c (phone, shop_id, day, {column})
            SELECT q.phone, %(shop)s, %(day)s, q.a FROM quota q WHERE q.a > 0 ORDER BY q.phone
            ON CONFLICT (phone, shop_id, day) DO UPDATE SET {column} = c.{column} + EXCLUDED.{column}
            RETURNING 1
        )"""
    return (
        sql
        + """
        SELECT i.i, f.rule_id
        FROM input i JOIN quota q ON q.phone = i.phone LEFT JOIN refusal f ON f.phone = i.phone
        WHERE i.n > q.a"""
    )


def _distinct_decision_sql(*, column: str, commit: bool) -> str:
    """``_decision_sql`` for a batch whose phones are all different (same decisions).

    With one message per phone, a phone is allowed when every rule has room for one more
    (``room >= 1``), else refused by the first rule (in rule order) without room; allowed
    phones count one each. ``tests/campaigns/test_frequency_model.py`` checks both
    statements against the sequential model."""
    # Race: as in _decision_sql, the counts read here cannot change before commit.
    sql = f"""
        WITH input AS (
            SELECT u.i, u.phone FROM unnest(%(idx)s::int[], %(phones)s::bigint[]) AS u(i, phone)
        ),
        {_counts_and_rules_ctes(column)}
        refusal AS (
            SELECT DISTINCT ON (i.phone) i.i, i.phone, r.rule_id
            FROM input i
            LEFT JOIN plat pl ON pl.phone = i.phone
            LEFT JOIN shp sh ON sh.phone = i.phone
            JOIN rules r ON {_ROOM} < 1
            ORDER BY i.phone, r.ord
        )"""
    if commit:
        sql += f""",
        allowed AS (
            SELECT i.phone FROM input i WHERE NOT EXISTS (SELECT 1 FROM refusal f WHERE f.phone = i.phone)
        ),
        counted_platform AS (
            UPDATE {PLATFORM_TABLE} AS c SET {column} = c.{column} + 1
            FROM allowed a WHERE c.phone = a.phone AND c.day = %(day)s
            RETURNING 1
        ),
        counted_shop AS (
            INSERT INTO {SHOP_TABLE} AS c (phone, shop_id, day, {column})
            SELECT a.phone, %(shop)s, %(day)s, 1 FROM allowed a ORDER BY a.phone
            ON CONFLICT (phone, shop_id, day) DO UPDATE SET {column} = c.{column} + EXCLUDED.{column}
            RETURNING 1
        )"""
    return sql + """
        SELECT i, rule_id FROM refusal"""


def _lock_platform_rows(cursor, *, phones: str, days: list[date]) -> None:
    # Race: two workers creating the same missing counter rows. Inserting in key
    # order means they wait for each other in the same order (no deadlock), and
    # DO NOTHING lets the loser go on to lock the winner's row.
    cursor.execute(
        f"""
        INSERT INTO {PLATFORM_TABLE} (phone, day)
        SELECT p, d FROM unnest(%s::bigint[]) AS p CROSS JOIN unnest(%s::date[]) AS d
        ORDER BY p, d
        ON CONFLICT (phone, day) DO NOTHING
        """,
        [phones, days],
    )
    # Race: workers of different shops sending to the same phones at once. Locking the
    # window's rows in one fixed order (phone, day) serialises them per phone without
    # deadlocks; the decision that follows reads counts no one else can change until commit.
    cursor.execute(
        f"""
        SELECT count(*) FROM (
            SELECT 1 FROM {PLATFORM_TABLE}
            WHERE phone = ANY(%s::bigint[]) AND day = ANY(%s::date[])
            ORDER BY phone, day
            FOR UPDATE
        ) AS locked
        """,
        [phones, days],
    )


def frequency_sendable_again(
    *, shop_id: int, message_class: str, phones: Sequence[str], at: datetime
) -> dict[str, date]:
    """For phones a cap refuses at ``at``: the first local day on which every rule of the class
    has room for one more message again, counting only what is counted now (nothing planned
    later). A rule with a window of W days counts the day and the W-1 before it, so a message
    counted today stops counting on day W (FREQ-SHOP-2DAY: the day after tomorrow, 00:00).

    Read-only: two queries (both counter tables, the phones' rows of the window days), then
    a few days per phone in Python; the dry run calls it for the phones a cap refused."""
    message_class = MessageClass(message_class).value
    day = local_day(at)
    rules = rules_for_day(day).for_class(message_class)
    numbers = sorted({int(p) for raw in phones if (p := normalize_phone(raw))})
    if not numbers or not rules:
        return {}
    column = CLASS_COLUMN[message_class]
    window = max(rule.window_days for rule in rules)
    first = day - timedelta(days=window - 1)
    platform: dict[int, dict[date, int]] = defaultdict(dict)
    shop: dict[int, dict[date, int]] = defaultdict(dict)
    for phone, when, n in PlatformCounter.objects.filter(
        phone__in=numbers, day__gte=first, day__lte=day
    ).values_list("phone", "day", column):
        platform[phone][when] = n
    for phone, when, n in ShopCounter.objects.filter(
        phone__in=numbers, shop_id=shop_id, day__gte=first, day__lte=day
    ).values_list("phone", "day", column):
        shop[phone][when] = n
    again: dict[str, date] = {}
    for phone in numbers:
        for ahead in range(1, window + 1):
            candidate = day + timedelta(days=ahead)
            if all(
                sum(
                    (platform if rule.scope == RuleScope.PLATFORM else shop)[phone].get(
                        candidate - timedelta(days=back), 0
                    )
                    for back in range(rule.window_days)
                )
                < rule.limit
                for rule in rules
            ):
                again[f"{phone:011d}"] = candidate
                break
    return again


# --- releases ---------------------------------------------------------------------------


def frequency_release(*, shop_id: int, message_class: str, phone: str, accepted_at: datetime) -> None:
    """A counted message finally failed: it stops counting (its day's counts go down by one)."""
    frequency_release_many(
        [ReleaseItem(shop_id=shop_id, message_class=message_class, phone=phone, accepted_at=accepted_at)]
    )


def frequency_release_many(items: Iterable[Releasable]) -> int:
    """Release many counted messages at once; returns how many were released.

    Each item names the shop, class, phone and acceptance time of a message
    that was counted by ``frequency_decide(commit=True)``; the caller releases
    each message once (its status change is the guard). Counts never go below 0.
    Items with an invalid phone are ignored (they were never counted).
    """
    platform: dict[tuple[int, date], Counter[str]] = defaultdict(Counter)
    shop: dict[tuple[int, int, date], Counter[str]] = defaultdict(Counter)
    released = 0
    for item in items:
        normalised = normalize_phone(item.phone)
        if normalised is None:
            continue
        column = CLASS_COLUMN[MessageClass(item.message_class).value]
        phone, day = int(normalised), local_day(item.accepted_at)
        platform[(phone, day)][column] += 1
        shop[(phone, item.shop_id, day)][column] += 1
        released += 1
    if not released:
        return 0

    platform_keys = sorted(platform)
    shop_keys = sorted(shop)
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        # Race: a release running while decisions for the same phones run. Same lock
        # order as decisions (platform rows by phone, day) so they never deadlock.
        cursor.execute(
            f"""
            SELECT c.phone FROM {PLATFORM_TABLE} AS c
            JOIN unnest(%s::bigint[], %s::date[]) AS k(phone, day) ON c.phone = k.phone AND c.day = k.day
            ORDER BY c.phone, c.day
            FOR UPDATE OF c
            """,
            [[k[0] for k in platform_keys], [k[1] for k in platform_keys]],
        )
        cursor.execute(
            f"""
            UPDATE {PLATFORM_TABLE} AS c SET
                marketing = GREATEST(c.marketing - v.m, 0),
                notify_unsub = GREATEST(c.notify_unsub - v.u, 0),
                notify = GREATEST(c.notify - v.n, 0)
            FROM unnest(%s::bigint[], %s::date[], %s::int[], %s::int[], %s::int[]) AS v(phone, day, m, u, n)
            WHERE c.phone = v.phone AND c.day = v.day
            """,
            [
                [k[0] for k in platform_keys],
                [k[1] for k in platform_keys],
                *_column_arrays(platform, platform_keys),
            ],
        )
        cursor.execute(
            f"""
            UPDATE {SHOP_TABLE} AS c SET
                marketing = GREATEST(c.marketing - v.m, 0),
                notify_unsub = GREATEST(c.notify_unsub - v.u, 0),
                notify = GREATEST(c.notify - v.n, 0)
            FROM unnest(%s::bigint[], %s::bigint[], %s::date[], %s::int[], %s::int[], %s::int[])
                AS v(phone, shop_id, day, m, u, n)
            WHERE c.phone = v.phone AND c.shop_id = v.shop_id AND c.day = v.day
            """,
            [
                [k[0] for k in shop_keys],
                [k[1] for k in shop_keys],
                [k[2] for k in shop_keys],
                *_column_arrays(shop, shop_keys),
            ],
        )
    return released


def _column_arrays(counts: dict, keys: list) -> list[list[int]]:
    return [[counts[key][column] for key in keys] for column in ("marketing", "notify_unsub", "notify")]


# --- housekeeping -----------------------------------------------------------------------


# Windows are at most 2 days; delivery reports may release a message up to 72 hours
# after acceptance. A week keeps every day a decision or a release can touch.
PURGE_KEEP_DAYS = 7
PURGE_MIN_KEEP_DAYS = 3


def frequency_purge_cutoff(*, keep_days: int = PURGE_KEEP_DAYS, now: datetime | None = None) -> date:
    """The first local day kept when the last ``keep_days`` days (today included) are kept."""
    if keep_days < PURGE_MIN_KEEP_DAYS:
        raise ValueError(
            f"keep_days must be at least {PURGE_MIN_KEEP_DAYS} (two-day windows and late delivery reports)"
        )
    return local_day(now or datetime.now(tz=LOCAL_TZ)) - timedelta(days=keep_days - 1)


def frequency_counters_purge_old(*, keep_days: int = PURGE_KEEP_DAYS, now: datetime | None = None) -> int:
    """Nightly maintenance: create the coming days' partitions, then drop the counters of days
    before the last ``keep_days`` local days (today included); returns counter rows removed."""
    today = local_day(now or datetime.now(tz=LOCAL_TZ))
    cutoff = frequency_purge_cutoff(keep_days=keep_days, now=now)
    frequency_partitions_ensure(today=today)
    return frequency_counters_purge(before=cutoff)


def frequency_counters_purge(*, before: date) -> int:
    """Remove counters of days before ``before`` (no window reaches them); returns rows removed.

    The tables are partitioned by day (``campaigns.services.frequency_partitions``): a day is
    a partition DETACH + DROP TABLE, not a DELETE of a day of every phone messaged; only the
    few rows written to the default partition (days that had no partition yet) are deleted."""
    return frequency_partitions_purge(before=before)


# --- replay -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplayEvent:
    """One line of a ``frequency_replay`` file."""

    at: datetime
    shop: str
    phone: str
    message_class: str
    failed: bool = False


class ReplayError(ValueError):
    """A line of a replay file that cannot be read; the message names the line."""


def replay_event_parse(line: str, *, line_number: int) -> ReplayEvent:
    """Read ``{"at", "shop", "phone", "class"[, "outcome": "failed"]}`` or raise ``ReplayError``."""

    def fail(problem: str) -> ReplayError:
        return ReplayError(f"第 {line_number} 行：{problem}")

    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise fail(f"不是有效的 JSON（{exc.msg}）") from None
    if not isinstance(data, dict):
        raise fail("应为一个 JSON 对象")
    missing = [key for key in ("at", "shop", "phone", "class") if key not in data]
    if missing:
        raise fail("缺少字段 " + "、".join(missing))
    try:
        at = datetime.fromisoformat(str(data["at"]))
    except ValueError:
        raise fail(f"时间“{data['at']}”不是 ISO-8601 格式") from None
    if at.tzinfo is None:
        raise fail(f"时间“{data['at']}”缺少时区偏移（如 +08:00）")
    if data["class"] not in MessageClass.values:
        raise fail(f"短信类型“{data['class']}”无效，应为 " + " / ".join(MessageClass.values))
    outcome = data.get("outcome")
    if outcome not in (None, "failed"):
        raise fail(f"outcome“{outcome}”无效，只能是 failed 或省略")
    return ReplayEvent(
        at=at,
        shop=str(data["shop"]),
        phone=str(data["phone"]),
        message_class=data["class"],
        failed=outcome == "failed",
    )


def frequency_replay(*, events: Sequence[ReplayEvent]) -> list[Decision]:
    """Replay events through ``frequency_decide`` on an empty history with the default rules.

    Everything happens in one transaction that is always rolled back: the default
    rule set is reset to the DOMAIN.md rules, promotion periods are ignored, the
    events' phones start with no counts, and shops are created (in a throwaway
    category) per distinct ``shop`` string. An event with ``failed=True`` is
    released right after it was accepted. One decision per event, in order.
    """
    decisions: list[Decision] = []
    with transaction.atomic():
        ruleset_reset_to_defaults()
        PromotionPeriod.objects.all().delete()
        phones = sorted({int(p) for p in (normalize_phone(e.phone) for e in events) if p})
        ShopCounter.objects.filter(phone__in=phones).delete()
        PlatformCounter.objects.filter(phone__in=phones).delete()
        category = Category.objects.create(name=f"频控回放-{uuid.uuid4().hex[:12]}")
        shops: dict[str, int] = {}
        for event in events:
            if event.shop not in shops:
                shops[event.shop] = Shop.objects.create(name=event.shop[:64], category=category).pk
            [decision] = frequency_decide(
                shop_id=shops[event.shop],
                message_class=event.message_class,
                phones=[event.phone],
                at=event.at,
            )
            if decision.allowed and event.failed:
                frequency_release(
                    shop_id=shops[event.shop],
                    message_class=event.message_class,
                    phone=event.phone,
                    accepted_at=event.at,
                )
            decisions.append(decision)
        # Nothing of the replay is kept, whatever it wrote.
        transaction.set_rollback(True)
    return decisions
