"""Writes of the SMS account (短信账户): activation, reserve/charge/release, grants.

Invariants every function keeps, in one transaction with the change itself:

* ``balance`` and ``reserved`` change only through ``_apply``: ONE conditional
  ``UPDATE ... WHERE balance + amount >= 0 AND reserved + delta >= 0 RETURNING``,
  so no read-modify-write and never a negative value, however many workers run.
* Every change writes one ``LedgerEntry`` with the signed ``amount`` (balance) and
  ``reserved_delta``, so ``balance == sum(amount)`` and ``reserved == sum(reserved_delta)``.
* Lock order: settlements lock the account, then the reservation; reservations insert
  their own new row, then update the account; a paid order's row is updated, then its
  account. When several accounts are touched (``account_settle_many``,
  ``account_grant_many``) they are locked first, in ascending id. So no deadlocks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from smsmarketing.errors import (
    AccountNotActive,
    IdempotencyConflict,
    InsufficientBalance,
    InvalidUnits,
    ReasonRequired,
    TermsNotAccepted,
    UnknownReservation,
    UnknownShop,
)
from smsmarketing.models import LedgerEntry, Reservation, Settlement, Shop, SmsAccount
from smsmarketing.permissions import Capability, require_capability
from smsmarketing.services.notices import balance_low_notify, recharge_credited_notify
from smsmarketing.services.shops import shop_ensure_sms_allowed
from smsmarketing.services.spend_limits import spend_release, spend_reserve

# The version of the service terms (《短信服务协议》) a merchant accepts on activation.
TERMS_VERSION = "2026-11"
# One grant or adjustment larger than this is almost surely a typo (an extra zero or two).
MAX_GRANT_UNITS = 10_000_000
# Highest low-balance threshold a merchant may set.
MAX_LOW_BALANCE_THRESHOLD = 100_000_000
MAX_REFERENCE_LENGTH = 128
MAX_KEY_LENGTH = 160
MAX_REASON_LENGTH = 200
MAX_LABEL_LENGTH = 200
SYSTEM_ACTOR = "系统"


# --- helpers -----------------------------------------------------------------


def _check_units(value: object, *, what: str, limit: int | None = None) -> int:
    # bool is an int in Python; True must not mean "1 part".
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidUnits(_("{what}必须是大于 0 的整数，收到：{value}。").format(what=what, value=value))
    if limit is not None and value > limit:
        raise InvalidUnits(
            _("{what}不能超过 {limit:,} 条，收到：{value:,}。").format(what=what, limit=limit, value=value)
        )
    return value


def _check_token(value: object, *, what: str, max_length: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise ValueError(f"{what} must be a non-empty string of at most {max_length} characters")
    return value


def _check_reason(reason: object) -> str:
    text = reason.strip() if isinstance(reason, str) else ""
    if not text:
        raise ReasonRequired(_("请填写发放原因，便于审计。"))
    if len(text) > MAX_REASON_LENGTH:
        raise ReasonRequired(_("原因不能超过 {n} 个字。").format(n=MAX_REASON_LENGTH))
    return text


def _actor_label(actor: AbstractBaseUser | None, fallback: str = SYSTEM_ACTOR) -> str:
    if actor is not None and getattr(actor, "is_authenticated", False):
        return actor.get_username()
    return fallback


def _ensure_billing(*, shop: Shop, user: AbstractBaseUser) -> None:
    """The shop's owner (BILLING: activation, recharge, the threshold), or a platform superuser
    acting for the shop; else ``RoleRequired`` / ``NotShopMember``, before anything is written."""
    if getattr(user, "is_superuser", False):
        return
    require_capability(shop=shop, user=user, capability=Capability.BILLING)


class Applied(NamedTuple):
    """An account row after ``_apply``: ``(balance, reserved)`` first, as the ledger reads it."""

    balance: int
    reserved: int
    low_balance_threshold: int
    shop_id: int


def _apply(
    *, account_id: int, amount: int, reserved_delta: int, require_active: bool = False
) -> Applied | None:
    """Add ``amount`` to balance and ``reserved_delta`` to reserved in ONE conditional UPDATE.

    Returns the row after the change (``Applied``: balance, reserved, and the threshold and shop
    the low-balance notice needs, read by the same statement), or None when the change would make
    either negative (or the account is not active and ``require_active``): nothing changed.
    Race defended: many workers reserving from one account at once. The row lock taken
    by the UPDATE serialises them and each re-evaluates the WHERE on the newest row, so
    two reservations can never both take the last parts.
    """
    table = SmsAccount._meta.db_table
    active = " AND status = %s" if require_active else ""
    params: list[object] = [amount, reserved_delta, timezone.now(), account_id, amount, reserved_delta]
    if require_active:
        params.append(SmsAccount.Status.ACTIVE)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET balance = balance + %s, reserved = reserved + %s, updated_at = %s"
            f" WHERE id = %s AND balance + %s >= 0 AND reserved + %s >= 0{active}"
            " RETURNING balance, reserved, low_balance_threshold, shop_id",
            params,
        )
        row = cursor.fetchone()
    return Applied(*row) if row else None


def _notify_if_low(*, after: Applied, debit: int, entry: LedgerEntry) -> None:
    """Raise the low-balance notice when this debit made the balance cross below the threshold:
    only on the crossing (before >= threshold > after), not on every later reserve; a threshold
    of 0 never fires. No query unless it crossed."""
    threshold = after.low_balance_threshold
    if after.balance < threshold <= after.balance + debit:
        balance_low_notify(
            shop_id=after.shop_id, entry_id=entry.pk, balance=after.balance, threshold=threshold,
            label=entry.label,
        )


def _write_ledger(
    *,
    account_id: int,
    kind: str,
    parts: int,
    amount: int,
    reserved_delta: int,
    after: Applied,
    reference: str = "",
    label: str = "",
    note: str = "",
    actor: AbstractBaseUser | None = None,
    actor_label: str = SYSTEM_ACTOR,
) -> LedgerEntry:
    return LedgerEntry.objects.create(
        account_id=account_id,
        kind=kind,
        parts=parts,
        amount=amount,
        reserved_delta=reserved_delta,
        balance_after=after[0],
        reserved_after=after[1],
        reference=reference[:160],
        label=label[:MAX_LABEL_LENGTH],
        note=note[:MAX_REASON_LENGTH],
        actor=actor if actor is not None and actor.pk else None,
        actor_label=actor_label,
    )


def _lock_accounts(accounts) -> None:
    """Lock the given accounts' rows in ascending id (the one order every caller uses)."""
    list(accounts.select_for_update().order_by("pk").values_list("pk", flat=True))


def _account_get_or_create(*, shop_id: int) -> SmsAccount:
    # Race: two first-time calls for one shop; the one-to-one unique constraint keeps a
    # single row and get_or_create re-reads it after losing the insert.
    account, _created = SmsAccount.objects.get_or_create(shop_id=shop_id)
    return account


def _shop_or_error(shop_id: object) -> Shop:
    if isinstance(shop_id, bool) or not isinstance(shop_id, int):
        raise UnknownShop(_("店铺编号无效：{shop_id}。").format(shop_id=shop_id))
    shop = Shop.objects.select_related("category").filter(pk=shop_id).first()
    if shop is None:
        raise UnknownShop(_("店铺 {shop_id} 不存在。").format(shop_id=shop_id))
    return shop


def _insufficient(*, account_id: int, parts: int) -> InsufficientBalance:
    balance = SmsAccount.objects.filter(pk=account_id).values_list("balance", flat=True).first() or 0
    return InsufficientBalance(
        _("短信余量不足：本次需要 {parts:,} 条，当前可用余量 {balance:,} 条。请先充值。").format(
            parts=parts, balance=balance
        )
    )


# --- activation and settings ------------------------------------------------


def account_activate(*, shop: Shop, user: AbstractBaseUser, accept_terms: bool) -> SmsAccount:
    """Activate (开通) the shop's SMS account; activating an active account changes nothing.

    Refused for a restricted-category shop (``CategoryRestricted``), a user who is not a
    member of the shop (``NotShopMember``) and without accepting the terms.
    """
    _ensure_billing(shop=shop, user=user)
    shop_ensure_sms_allowed(shop=shop)
    if accept_terms is not True:
        raise TermsNotAccepted(_("请阅读并勾选同意《短信服务协议》后再开通短信服务。"))
    with transaction.atomic():
        account = _account_get_or_create(shop_id=shop.pk)
        now = timezone.now()
        # Race: two tabs activating at once; only the first stamps who and when.
        SmsAccount.objects.filter(pk=account.pk, status=SmsAccount.Status.INACTIVE).update(
            status=SmsAccount.Status.ACTIVE,
            activated_at=now,
            activated_by=user,
            terms_version=TERMS_VERSION,
            updated_at=now,
        )
        account.refresh_from_db()
    return account


def account_set_low_balance_threshold(*, shop: Shop, user: AbstractBaseUser, threshold: int) -> SmsAccount:
    """Set the balance below which the dashboard warns (0 turns the warning off)."""
    _ensure_billing(shop=shop, user=user)
    shop_ensure_sms_allowed(shop=shop)
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0:
        raise InvalidUnits(_("提醒阈值必须是不小于 0 的整数。"))
    if threshold > MAX_LOW_BALANCE_THRESHOLD:
        raise InvalidUnits(_("提醒阈值不能超过 {n:,} 条。").format(n=MAX_LOW_BALANCE_THRESHOLD))
    account = SmsAccount.objects.filter(shop_id=shop.pk).first()
    if account is None or not account.is_active:
        raise AccountNotActive(_("请先开通短信服务。"))
    SmsAccount.objects.filter(pk=account.pk).update(
        low_balance_threshold=threshold, updated_at=timezone.now()
    )
    account.low_balance_threshold = threshold
    return account


# --- the send pipeline's interface ------------------------------------------


def account_reserve(*, shop_id: int, parts: int, reference: str, label: str = "") -> Reservation:
    """Hold ``parts`` of the shop's available balance for a send, under ``reference``.

    ``label`` names what the parts are for as the merchant reads it (营销任务「双11会员券」);
    the reservation's ledger entries (冻结, 扣费, 退回) carry it to 消费记录.

    Idempotent: a second call with the same reference returns the first reservation and
    changes nothing (whatever ``parts`` it asks). Raises ``AccountNotActive`` when the
    account is missing or not activated, ``CategoryRestricted`` for a restricted shop,
    ``InsufficientBalance`` when the available balance is below ``parts`` (nothing held).
    """
    _check_units(parts, what=_("冻结条数"))
    _check_token(reference, what="reference", max_length=MAX_REFERENCE_LENGTH)
    account = SmsAccount.objects.select_related("shop__category").filter(shop_id=shop_id).first()
    if account is None or not account.is_active:
        raise AccountNotActive(_("短信服务尚未开通，请先在“短信账户”页开通。"))
    shop_ensure_sms_allowed(shop=account.shop)
    table = Reservation._meta.db_table
    with transaction.atomic():
        # Race: a retried task reserving the same batch while the first run is still in
        # flight. The unique reference makes this INSERT wait for the other transaction;
        # if it committed we get no row and return its reservation, if it rolled back we
        # insert. The balance is only touched after our row exists.
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table}"
                " (account_id, reference, label, parts, charged, released, created_at, updated_at)"
                " VALUES (%s, %s, %s, %s, 0, 0, %s, %s)"
                " ON CONFLICT (reference) DO NOTHING RETURNING id",
                # The application's clock (not now()): a refund gives the spending limit back to
                # the period of created_at (smsmarketing.services.spend_limits).
                [account.pk, reference, label[:MAX_LABEL_LENGTH], parts, timezone.now(), timezone.now()],
            )
            row = cursor.fetchone()
        if row is None:
            existing = Reservation.objects.get(reference=reference)
            if existing.account_id != account.pk:
                raise IdempotencyConflict(_("冻结单号 {ref} 已被其他店铺使用。").format(ref=reference))
            return existing
        after = _apply(account_id=account.pk, amount=-parts, reserved_delta=parts, require_active=True)
        if after is None:
            # Raising rolls back the INSERT above: nothing is held, nothing is written.
            raise _insufficient(account_id=account.pk, parts=parts)
        # The spending limits (SpendLimitReached, rule SPEND-LIMIT): after the account row is
        # locked by the UPDATE above (lock order: account, day counter, month counter).
        spend_reserve(account_id=account.pk, parts=parts)
        entry = _write_ledger(
            account_id=account.pk,
            kind=LedgerEntry.Kind.RESERVE,
            parts=parts,
            amount=-parts,
            reserved_delta=parts,
            after=after,
            reference=reference,
            label=label,
        )
        _notify_if_low(after=after, debit=parts, entry=entry)
    return Reservation.objects.get(pk=row[0])


def _settle(*, kind: str, reference: str, parts: int, key: str) -> Settlement:
    _check_units(parts, what=_("结算条数"))
    _check_token(key, what="key", max_length=MAX_KEY_LENGTH)
    account_id = Reservation.objects.filter(reference=reference).values_list("account_id", flat=True).first()
    if account_id is None:
        raise UnknownReservation(_("冻结记录 {ref} 不存在。").format(ref=reference))
    with transaction.atomic():
        # Lock order: the account first, then the reservation. A caller settling several
        # reservations of one account in one transaction then holds the account before
        # any reservation, so two such callers queue on the account instead of each
        # holding a reservation the other waits for (deadlock). Callers touching several
        # accounts use account_settle_many, which locks the accounts in ascending id.
        _lock_accounts(SmsAccount.objects.filter(pk=account_id))
        # Race: two batches of delivery reports settling one reservation at once would
        # both read the same open amount; the row lock makes the second wait and re-read.
        reservation = Reservation.objects.select_for_update().get(reference=reference)
        # Race: the same batch applied twice (a retried task). The key is recorded once;
        # a repeat finds it (the reservation lock orders the two) and changes nothing.
        existing = Settlement.objects.filter(key=key).first()
        if existing is not None:
            if existing.reservation_id != reservation.pk:
                raise IdempotencyConflict(_("结算键 {key} 已用于其他冻结记录。").format(key=key))
            return existing
        # Never settle more than is still open, however the caller aggregated its batches.
        applied = min(parts, reservation.open_parts)
        try:
            with transaction.atomic():
                settlement = Settlement.objects.create(
                    reservation=reservation, key=key, kind=kind, requested=parts, applied=applied
                )
        except IntegrityError as exc:  # the same key used on another reservation at once
            raise IdempotencyConflict(_("结算键 {key} 已被使用。").format(key=key)) from exc
        if applied == 0:
            return settlement
        is_charge = kind == Settlement.Kind.CHARGE
        if is_charge:
            reservation.charged += applied
        else:
            reservation.released += applied
        reservation.save(update_fields=["charged", "released", "updated_at"])
        amount = 0 if is_charge else applied
        after = _apply(account_id=reservation.account_id, amount=amount, reserved_delta=-applied)
        if after is None:  # reserved < open parts: the ledger is already broken; refuse loudly
            raise RuntimeError(
                f"account {reservation.account_id}: reserved below open reservation {reference}"
            )
        if not is_charge:
            # A refund gives the spending limit back too, to the reservation's own day and month.
            spend_release(
                account_id=reservation.account_id, parts=applied, reserved_at=reservation.created_at
            )
        _write_ledger(
            account_id=reservation.account_id,
            kind=LedgerEntry.Kind.CHARGE if is_charge else LedgerEntry.Kind.RELEASE,
            parts=applied,
            amount=amount,
            reserved_delta=-applied,
            after=after,
            reference=reference,
            label=reservation.label,
            note=key,
        )
    return settlement


def account_charge(*, reference: str, parts: int, key: str) -> Settlement:
    """Settle ``parts`` of reservation ``reference`` as charged (delivered messages).

    Idempotent by ``key`` (a key settles once, whatever kind: a repeat returns the first
    ``Settlement``). Charges at most what is still open; ``Settlement.applied`` says how
    many parts were charged. The balance is unchanged: the parts leave ``reserved``.
    """
    return _settle(kind=Settlement.Kind.CHARGE, reference=reference, parts=parts, key=key)


def account_release(*, reference: str, parts: int, key: str) -> Settlement:
    """Return ``parts`` of reservation ``reference`` to the balance (failed, expired, cancelled).

    Idempotent by ``key``; releases at most what is still open (see ``account_charge``).
    """
    return _settle(kind=Settlement.Kind.RELEASE, reference=reference, parts=parts, key=key)


@dataclass(frozen=True)
class SettleItem:
    """One settlement for ``account_settle_many``: kind is "charge" or "release"."""

    kind: str
    reference: str
    parts: int
    key: str


def account_settle_many(*, items: Sequence[SettleItem]) -> list[Settlement]:
    """Apply many charges/releases in one transaction, possibly across shops (all or nothing).

    Race: two workers settling overlapping sets of reservations of several accounts.
    All accounts involved are locked first, in ascending id, then the reservations in
    reference order, so the workers queue instead of deadlocking. Each item is
    idempotent by its key as in ``account_charge``; results are in the order given.
    """
    for item in items:
        if item.kind not in Settlement.Kind.values:
            raise ValueError(f"unknown settlement kind {item.kind!r}")
    references = sorted({item.reference for item in items})
    with transaction.atomic():
        account_ids = set(
            Reservation.objects.filter(reference__in=references).values_list("account_id", flat=True)
        )
        _lock_accounts(SmsAccount.objects.filter(pk__in=account_ids))
        order = sorted(range(len(items)), key=lambda i: (items[i].reference, items[i].key))
        results: dict[int, Settlement] = {}
        for i in order:
            item = items[i]
            results[i] = _settle(kind=item.kind, reference=item.reference, parts=item.parts, key=item.key)
        return [results[i] for i in range(len(items))]


# --- platform credits ---------------------------------------------------------


def account_grant(
    *, shop_id: int, units: int, reason: str, actor: AbstractBaseUser | None, actor_label: str = ""
) -> LedgerEntry:
    """Credit ``units`` to a shop's account as a platform grant (平台发放), with a reason.

    The account is created (not activated) if the shop never had one. Refused for an
    unknown shop, a restricted shop, units that are not a positive integer or a blank
    reason; nothing is written then.
    """
    units = _check_units(units, what=_("发放条数"), limit=MAX_GRANT_UNITS)
    reason = _check_reason(reason)
    shop = _shop_or_error(shop_id)
    shop_ensure_sms_allowed(shop=shop)
    with transaction.atomic():
        account = _account_get_or_create(shop_id=shop.pk)
        after = _apply(account_id=account.pk, amount=units, reserved_delta=0)
        assert after is not None  # adding to a non-negative balance cannot fail the WHERE
        return _write_ledger(
            account_id=account.pk,
            kind=LedgerEntry.Kind.GRANT,
            parts=units,
            amount=units,
            reserved_delta=0,
            after=after,
            note=reason,
            actor=actor,
            actor_label=actor_label or _actor_label(actor),
        )


def account_grant_many(
    *, shop_ids: Iterable[int], units: int, reason: str, actor: AbstractBaseUser | None
) -> list[LedgerEntry]:
    """Grant the same units to several shops in one transaction (all or nothing).

    Race: two operators granting to overlapping sets at once. The accounts are locked
    in ascending id before any change, so the two transactions queue instead of deadlocking.
    """
    units = _check_units(units, what=_("发放条数"), limit=MAX_GRANT_UNITS)
    reason = _check_reason(reason)
    ids = sorted(set(shop_ids))
    with transaction.atomic():
        _lock_accounts(SmsAccount.objects.filter(shop_id__in=ids))
        return [account_grant(shop_id=i, units=units, reason=reason, actor=actor) for i in ids]


def account_adjust(*, shop_id: int, amount: int, reason: str, actor: AbstractBaseUser | None) -> LedgerEntry:
    """A manual correction (人工调整) of the available balance, positive or negative.

    A debit larger than the available balance is refused with ``InsufficientBalance``.
    """
    if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0:
        raise InvalidUnits(_("调整条数必须是非 0 整数，收到：{value}。").format(value=amount))
    _check_units(abs(amount), what=_("调整条数"), limit=MAX_GRANT_UNITS)
    reason = _check_reason(reason)
    shop = _shop_or_error(shop_id)
    with transaction.atomic():
        account = _account_get_or_create(shop_id=shop.pk)
        after = _apply(account_id=account.pk, amount=amount, reserved_delta=0)
        if after is None:
            raise _insufficient(account_id=account.pk, parts=-amount)
        entry = _write_ledger(
            account_id=account.pk,
            kind=LedgerEntry.Kind.ADJUST,
            parts=abs(amount),
            amount=amount,
            reserved_delta=0,
            after=after,
            note=reason,
            actor=actor,
            actor_label=_actor_label(actor),
        )
        if amount < 0:
            _notify_if_low(after=after, debit=-amount, entry=entry)
        return entry


def account_credit_recharge(*, account_id: int, units: int, order_no: str, actor) -> LedgerEntry:
    """Credit a paid recharge order. Called only by ``recharge_order_complete`` (exactly once),
    inside its transaction; the shop's members are told (``recharge_credited``)."""
    after = _apply(account_id=account_id, amount=units, reserved_delta=0)
    assert after is not None
    recharge_credited_notify(shop_id=after.shop_id, order_no=order_no, units=units, balance=after.balance)
    return _write_ledger(
        account_id=account_id,
        kind=LedgerEntry.Kind.RECHARGE,
        parts=units,
        amount=units,
        reserved_delta=0,
        after=after,
        reference=order_no,
        actor=actor,
        actor_label=_actor_label(actor),
    )
