"""Reads of the merchant core and of the SMS account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import BigIntegerField, F, OuterRef, Q, QuerySet, Subquery, Sum, Value, Window
from django.db.models.functions import Coalesce, Lag
from django.http import Http404
from django.utils import timezone

from smsmarketing.models import (
    LedgerEntry,
    Membership,
    MembershipEvent,
    RechargeOrder,
    Reservation,
    Shop,
    SmsAccount,
)


def shops_for_user(*, user: AbstractBaseUser) -> QuerySet[Shop]:
    """The shops a user is a member of, oldest membership first."""
    if not user.is_authenticated:
        return Shop.objects.none()
    return (
        Shop.objects.filter(memberships__user=user)
        .select_related("category")
        .order_by("memberships__created_at", "id")
    )


def shop_for_user(*, user: AbstractBaseUser, shop_id: int) -> Shop:
    """The shop if the user belongs to it; 404 otherwise (never reveal it exists)."""
    return membership_for_user(user=user, shop_id=shop_id).shop


def membership_for_user(*, user: AbstractBaseUser, shop_id: int) -> Membership:
    """The user's membership of the shop, with the shop and its category (one query); 404 for
    any other shop (never reveal it exists)."""
    membership = None
    if user.is_authenticated:
        membership = (
            Membership.objects.select_related("shop__category").filter(user=user, shop_id=shop_id).first()
        )
    if membership is None:
        raise Http404("店铺不存在")
    return membership


# --- SMS account (短信账户) -------------------------------------------------


def account_for_shop(*, shop: Shop) -> SmsAccount:
    """The shop's SMS account in one query; never writes.

    A shop that never had an account gets an unsaved, inactive account with a zero
    balance (``pk is None``), so callers need no special case.
    """
    account = SmsAccount.objects.filter(shop_id=shop.pk).first()
    if account is None:
        account = SmsAccount(shop=shop, status=SmsAccount.Status.INACTIVE, balance=0, reserved=0)
    else:
        account.shop = shop  # already loaded by the caller: no second query for it
    return account


def _local_day_bounds(start: date | None, end: date | None) -> Q:
    """Filter on ``created_at`` for whole local (Asia/Shanghai) days, index-friendly."""
    query = Q()
    if start is not None:
        query &= Q(created_at__gte=timezone.make_aware(datetime.combine(start, time.min)))
    if end is not None:
        query &= Q(created_at__lt=timezone.make_aware(datetime.combine(end + timedelta(days=1), time.min)))
    return query


def recharge_orders(
    *, account: SmsAccount, start: date | None = None, end: date | None = None
) -> QuerySet[RechargeOrder]:
    """充值记录: the account's orders, newest first."""
    if account.pk is None:
        return RechargeOrder.objects.none()
    return RechargeOrder.objects.filter(_local_day_bounds(start, end), account=account).order_by(
        "-created_at", "-id"
    )


def ledger_issuances(
    *, account: SmsAccount, start: date | None = None, end: date | None = None
) -> QuerySet[LedgerEntry]:
    """发放记录: every credit (recharges, platform grants, positive adjustments), newest first."""
    if account.pk is None:
        return LedgerEntry.objects.none()
    credits = Q(kind__in=LedgerEntry.CREDIT_KINDS) | Q(kind=LedgerEntry.Kind.ADJUST, amount__gt=0)
    return LedgerEntry.objects.filter(credits, _local_day_bounds(start, end), account=account).order_by(
        "-created_at", "-id"
    )


def ledger_consumption(
    *, account: SmsAccount, start: date | None = None, end: date | None = None
) -> QuerySet[LedgerEntry]:
    """消费记录: reservations, charges, releases and negative adjustments, newest first."""
    if account.pk is None:
        return LedgerEntry.objects.none()
    uses = Q(kind__in=LedgerEntry.CONSUMPTION_KINDS) | Q(kind=LedgerEntry.Kind.ADJUST, amount__lt=0)
    return LedgerEntry.objects.filter(uses, _local_day_bounds(start, end), account=account).order_by(
        "-created_at", "-id"
    )


def ledger_recent(*, account: SmsAccount, limit: int = 10) -> list[LedgerEntry]:
    if account.pk is None:
        return []
    return list(LedgerEntry.objects.filter(account=account).order_by("-id")[:limit])


USAGE_CHART_DAYS = 30  # the account page's chart of balance use over time


def account_daily_usage(*, account: SmsAccount, days: int = USAGE_CHART_DAYS) -> dict[str, list]:
    """Per local day of the last ``days``: parts charged, parts credited, balance at day's end.

    For the account page's chart (labels ``MM-DD``); a day without entries carries the
    balance of the day before. An account without a ledger gives empty series.
    """
    series: dict[str, list] = {"labels": [], "charged": [], "credited": [], "balance": []}
    if account.pk is None:
        return series
    today = timezone.localdate()
    first = today - timedelta(days=days - 1)
    since = timezone.make_aware(datetime.combine(first, time.min))
    entries = LedgerEntry.objects.filter(account=account)
    before = (
        entries.filter(created_at__lt=since).order_by("-id").values_list("balance_after", flat=True).first()
    )
    charged: dict[date, int] = {}
    credited: dict[date, int] = {}
    closing: dict[date, int] = {}
    for kind, parts, amount, balance_after, created_at in (
        entries.filter(created_at__gte=since)
        .order_by("id")
        .values_list("kind", "parts", "amount", "balance_after", "created_at")
    ):
        day = timezone.localdate(created_at)
        if kind == LedgerEntry.Kind.CHARGE:
            charged[day] = charged.get(day, 0) + parts
        elif kind in LedgerEntry.CREDIT_KINDS or (kind == LedgerEntry.Kind.ADJUST and amount > 0):
            credited[day] = credited.get(day, 0) + amount
        closing[day] = balance_after
    balance = before or 0
    for offset in range(days):
        day = first + timedelta(days=offset)
        balance = closing.get(day, balance)
        series["labels"].append(day.strftime("%m-%d"))
        series["charged"].append(charged.get(day, 0))
        series["credited"].append(credited.get(day, 0))
        series["balance"].append(balance)
    return series


@dataclass(frozen=True)
class Discrepancy:
    """One way an account's numbers disagree with its ledger or reservations."""

    account_id: int
    shop_id: int
    check: str
    message: str

    def __str__(self) -> str:
        return f"account {self.account_id} (shop {self.shop_id}) {self.check}: {self.message}"


def _sum_per_account(queryset: QuerySet, expression) -> Coalesce:
    per_account = (
        queryset.filter(account=OuterRef("pk")).order_by().values("account").annotate(total=Sum(expression))
    )
    return Coalesce(Subquery(per_account.values("total")), Value(0), output_field=BigIntegerField())


def ledger_reconcile() -> list[Discrepancy]:
    """Check every account against its ledger and reservations; return every discrepancy.

    Checks: balance >= 0 and reserved >= 0; balance == sum of ledger amounts; reserved ==
    sum of ledger reserved deltas == sum of open reservations; the newest entry's
    "after" figures equal the account; each entry's ``balance_after``/``reserved_after``
    equals the previous entry's plus its own change (ids follow the account row lock, so
    id order is the order the changes were applied in).
    """
    found: list[Discrepancy] = []
    newest = LedgerEntry.objects.filter(account=OuterRef("pk")).order_by("-id")
    accounts = SmsAccount.objects.annotate(
        ledger_balance=_sum_per_account(LedgerEntry.objects, F("amount")),
        ledger_reserved=_sum_per_account(LedgerEntry.objects, F("reserved_delta")),
        open_reserved=_sum_per_account(Reservation.objects, F("parts") - F("charged") - F("released")),
        newest_balance=Subquery(newest.values("balance_after")[:1]),
        newest_reserved=Subquery(newest.values("reserved_after")[:1]),
    ).order_by("pk")
    for a in accounts.iterator(chunk_size=2000):
        def add(check: str, message: str, a=a) -> None:
            found.append(Discrepancy(a.pk, a.shop_id, check, message))

        if a.balance < 0:
            add("NEGATIVE-BALANCE", f"balance {a.balance} < 0")
        if a.reserved < 0:
            add("NEGATIVE-RESERVED", f"reserved {a.reserved} < 0")
        if a.balance != a.ledger_balance:
            add("BALANCE-LEDGER", f"balance {a.balance} != sum of ledger {a.ledger_balance}")
        if a.reserved != a.ledger_reserved:
            add("RESERVED-LEDGER", f"reserved {a.reserved} != sum of ledger reserved {a.ledger_reserved}")
        if a.reserved != a.open_reserved:
            add("RESERVED-OPEN", f"reserved {a.reserved} != open reservations {a.open_reserved}")
        if a.newest_balance is not None and (a.newest_balance, a.newest_reserved) != (a.balance, a.reserved):
            add(
                "LAST-ENTRY",
                f"newest entry says balance {a.newest_balance} reserved {a.newest_reserved},"
                f" account has {a.balance} / {a.reserved}",
            )
    previous = Window(Lag("balance_after"), partition_by=[F("account_id")], order_by=F("id").asc())
    previous_reserved = Window(Lag("reserved_after"), partition_by=[F("account_id")], order_by=F("id").asc())
    chain = LedgerEntry.objects.annotate(prev_balance=previous, prev_reserved=previous_reserved).filter(
        ~Q(balance_after=Coalesce(F("prev_balance"), Value(0)) + F("amount"))
        | ~Q(reserved_after=Coalesce(F("prev_reserved"), Value(0)) + F("reserved_delta"))
    )
    for entry in chain.select_related("account").order_by("account_id", "id").iterator(chunk_size=2000):
        found.append(
            Discrepancy(
                entry.account_id,
                entry.account.shop_id,
                "LEDGER-CHAIN",
                f"entry {entry.pk} ({entry.kind} {entry.amount:+d}/{entry.reserved_delta:+d}) says"
                f" {entry.balance_after}/{entry.reserved_after}, previous entry was"
                f" {entry.prev_balance or 0}/{entry.prev_reserved or 0}",
            )
        )
    return found


# --- members (成员管理) ------------------------------------------------------

# The members page shows this many of the latest member changes.
RECENT_MEMBER_EVENTS = 20


def shop_members(*, shop: Shop) -> list[Membership]:
    """The shop's members with their users (one query): owners first, then by joining date."""
    order = {Membership.Role.OWNER: 0, Membership.Role.OPERATOR: 1, Membership.Role.ANALYST: 2}
    members = list(Membership.objects.filter(shop=shop).select_related("user").order_by("created_at", "id"))
    return sorted(members, key=lambda m: order.get(m.role, 9))


def member_events_recent(*, shop: Shop, limit: int = RECENT_MEMBER_EVENTS) -> list[MembershipEvent]:
    """The shop's latest member changes, newest first, with who made them (one query)."""
    return list(MembershipEvent.objects.filter(shop=shop).select_related("actor").order_by("-id")[:limit])


def shop_member(*, shop: Shop, member_id: int) -> Membership:
    """One membership of the shop; 404 for another shop's (or a removed) one."""
    found = Membership.objects.filter(shop=shop, pk=member_id).select_related("user").first()
    if found is None:
        raise Http404
    return found
