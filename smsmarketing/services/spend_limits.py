"""Spending limits (消费上限): a daily and a monthly cap on the parts an SMS account reserves.

What counts: parts **reserved** in the period (Asia/Shanghai day, calendar month), net of
refunds — a release of undelivered parts gives the cap back to the period the reservation
was made in, as it gives the balance back. Charges change nothing (the parts were counted
when reserved). So the cap bounds what the shop is charged for or still holds, never
what it was merely planned to send.

The guard is the reservation itself (``account_reserve`` calls ``spend_reserve`` in its
transaction, after its conditional UPDATE of the account row): for each period, an
``INSERT ... ON CONFLICT DO NOTHING`` makes sure the counter row exists, then ONE conditional
``UPDATE ... SET spent = spent + n WHERE spent + n <= cap``; no row updated means the cap
refuses and the whole reservation rolls back (``SpendLimitReached``, rule SPEND-LIMIT).

Lock order (no deadlocks): the account row first (the reservation's UPDATE, or a settlement's
lock), then the day counter, then the month counter. Every writer of a counter holds the
account row before it, so the counters' writers are already serialised per account; the
conditional UPDATE would still keep the cap alone (it re-evaluates its WHERE on the newest row).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from smsmarketing.errors import AccountNotActive, InvalidUnits, SpendLimitReached
from smsmarketing.models import Shop, SmsAccount, SpendCounter
from smsmarketing.permissions import Capability, require_capability

logger = logging.getLogger(__name__)

DAY = SpendCounter.Period.DAY.value
MONTH = SpendCounter.Period.MONTH.value
# Highest cap a merchant may set (an extra zero or two is a typo, as for grants).
MAX_SPEND_LIMIT = 100_000_000


# --- periods ---------------------------------------------------------------------


def period_starts(at: datetime | None = None) -> dict[str, date]:
    """The day and the month (its first day) ``at`` falls in, in Asia/Shanghai."""
    day = timezone.localtime(at or timezone.now()).date()
    return {DAY: day, MONTH: day.replace(day=1)}


def period_end(period: str, at: datetime | None = None) -> datetime:
    """When the period holding ``at`` ends (the next one starts): local midnight, aware."""
    start = period_starts(at)[period]
    if period == DAY:
        nxt = start + timedelta(days=1)
    else:
        nxt = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return timezone.make_aware(datetime(nxt.year, nxt.month, nxt.day))


def period_label(period: str) -> str:
    return _("每日") if period == DAY else _("每月")


# --- reads -----------------------------------------------------------------------


@dataclass(frozen=True)
class SpendLimitState:
    """An account's caps and their use now (None: no cap)."""

    daily_limit: int | None = None
    daily_used: int = 0
    monthly_limit: int | None = None
    monthly_used: int = 0

    @property
    def daily_left(self) -> int | None:
        return None if self.daily_limit is None else max(0, self.daily_limit - self.daily_used)

    @property
    def monthly_left(self) -> int | None:
        return None if self.monthly_limit is None else max(0, self.monthly_limit - self.monthly_used)

    @property
    def left(self) -> int | None:
        """Parts the caps still allow now (None: no cap)."""
        lefts = [x for x in (self.daily_left, self.monthly_left) if x is not None]
        return min(lefts) if lefts else None

    @property
    def binding(self) -> str:
        """The period whose cap allows the least ("day" or "month"; "" without a cap)."""
        if self.daily_left is None and self.monthly_left is None:
            return ""
        if self.monthly_left is None:
            return DAY
        if self.daily_left is None:
            return MONTH
        return DAY if self.daily_left <= self.monthly_left else MONTH

    @property
    def has_limit(self) -> bool:
        return self.daily_limit is not None or self.monthly_limit is not None


def spend_limit_state(*, account_id: int, at: datetime | None = None) -> SpendLimitState:
    """The account's caps and this day's / month's use, in one query."""
    starts = period_starts(at)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT a.daily_spend_limit, a.monthly_spend_limit,
                       COALESCE((SELECT spent FROM {SpendCounter._meta.db_table}
                                 WHERE account_id = a.id AND period = %s AND period_start = %s), 0),
                       COALESCE((SELECT spent FROM {SpendCounter._meta.db_table}
                                 WHERE account_id = a.id AND period = %s AND period_start = %s), 0)
                FROM {SmsAccount._meta.db_table} a WHERE a.id = %s""",
            [DAY, starts[DAY], MONTH, starts[MONTH], account_id],
        )
        row = cursor.fetchone()
    if row is None:
        return SpendLimitState()
    return SpendLimitState(daily_limit=row[0], monthly_limit=row[1], daily_used=row[2], monthly_used=row[3])


# --- the reservation's guard -----------------------------------------------------


def spend_reserve(*, account_id: int, parts: int, at: datetime | None = None) -> None:
    """Count ``parts`` against the account's day and month, or raise ``SpendLimitReached``.

    Called by ``account_reserve`` inside its transaction, after the account row is locked by
    its conditional UPDATE; raising rolls the whole reservation back (nothing held, nothing
    counted). Counted whether or not a cap is set, so a cap set later sees today's use.
    """
    table = SpendCounter._meta.db_table
    accounts = SmsAccount._meta.db_table
    starts = period_starts(at)
    with connection.cursor() as cursor:
        for period, limit_column in ((DAY, "daily_spend_limit"), (MONTH, "monthly_spend_limit")):
            # Race: two first reservations of a period; the unique index keeps one row and the
            # loser's DO NOTHING falls through to the UPDATE below, on the winner's row.
            cursor.execute(
                f"INSERT INTO {table} (account_id, period, period_start, spent) VALUES (%s, %s, %s, 0)"
                " ON CONFLICT (account_id, period, period_start) DO NOTHING",
                [account_id, period, starts[period]],
            )
            # Race: two planners reserving against one cap at once (two campaigns of a shop).
            # ONE conditional UPDATE: the row lock serialises them and each re-evaluates the
            # WHERE on the newest row, so together they never pass the cap (no read-then-write).
            cursor.execute(
                f"UPDATE {table} c SET spent = c.spent + %s FROM {accounts} a"
                " WHERE c.account_id = %s AND c.period = %s AND c.period_start = %s AND a.id = c.account_id"
                f" AND (a.{limit_column} IS NULL OR c.spent + %s <= a.{limit_column})"
                " RETURNING c.spent",
                [parts, account_id, period, starts[period], parts],
            )
            if cursor.fetchone() is None:
                state = spend_limit_state(account_id=account_id, at=at)
                limit, used = (
                    (state.daily_limit, state.daily_used) if period == DAY
                    else (state.monthly_limit, state.monthly_used)
                )
                raise SpendLimitReached(
                    _("超出{period}消费上限：本次需要 {parts:,} 条，上限 {limit:,} 条，"
                      "已占用 {used:,} 条。").format(
                        period=period_label(period), parts=parts, limit=limit or 0, used=used
                    ),
                    period=period,
                )


def spend_release(*, account_id: int, parts: int, reserved_at: datetime) -> None:
    """Give ``parts`` back to the day and month the reservation was made in (a refund).

    Called by the settlement under its account lock. Never below 0: a reservation made
    before spending limits existed was never counted."""
    table = SpendCounter._meta.db_table
    starts = period_starts(reserved_at)
    with connection.cursor() as cursor:
        for period in (DAY, MONTH):
            cursor.execute(
                f"UPDATE {table} SET spent = GREATEST(spent - %s, 0)"
                " WHERE account_id = %s AND period = %s AND period_start = %s",
                [parts, account_id, period, starts[period]],
            )


# --- the owner's settings --------------------------------------------------------


def _check_limit(value: object, *, what: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidUnits(
            _("{what}必须是大于 0 的整数（留空表示不限），收到：{value}。").format(what=what, value=value)
        )
    if value > MAX_SPEND_LIMIT:
        raise InvalidUnits(_("{what}不能超过 {n:,} 条。").format(what=what, n=MAX_SPEND_LIMIT))
    return value


def account_set_spend_limits(
    *, shop: Shop, user: AbstractBaseUser, daily: int | None, monthly: int | None
) -> SmsAccount:
    """Set (or clear, None) the shop's daily and monthly spending limits, in parts.

    Owner only (``Capability.BILLING``: ``RoleRequired`` / ``NotShopMember`` first, before
    anything is written). Whole numbers > 0, the monthly cap not below the daily one. A cap
    below the period's use is allowed: sends stop until the next period (or a higher cap).
    Audited by a log line (who, old and new caps).
    """
    require_capability(shop=shop, user=user, capability=Capability.BILLING)
    daily = _check_limit(daily, what=_("每日消费上限"))
    monthly = _check_limit(monthly, what=_("每月消费上限"))
    if daily is not None and monthly is not None and monthly < daily:
        raise InvalidUnits(
            _("每月消费上限（{monthly:,} 条）不能小于每日消费上限（{daily:,} 条）。").format(
                monthly=monthly, daily=daily
            )
        )
    with transaction.atomic():
        # Race: two owners saving at once, or a save while a campaign reserves. The account row
        # lock orders them: a reservation sees the old caps or the new ones, never a mix.
        account = SmsAccount.objects.select_for_update().filter(shop_id=shop.pk).first()
        if account is None or not account.is_active:
            raise AccountNotActive(_("请先开通短信服务。"))
        old = (account.daily_spend_limit, account.monthly_spend_limit)
        account.daily_spend_limit, account.monthly_spend_limit = daily, monthly
        account.save(update_fields=["daily_spend_limit", "monthly_spend_limit", "updated_at"])
    logger.info(
        "shop %s: spending limits daily %s -> %s, monthly %s -> %s by user %s",
        shop.pk, old[0], daily, old[1], monthly, user.pk,
    )
    return account
