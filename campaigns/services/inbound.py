"""Replies from handsets (MO, 上行短信) that reach us through the gateway.

A reply that is an unsubscribe keyword (R, T, TD, 退订 …, the admin-edited
list) opts the phone out of the shop whose message it answers:
1. if the receiver carries an extension after our service number (10690001 + 42),
   the extension is the shop's sender code (its id), and that shop is meant;
2. otherwise the shop of the last message sent to that phone.
Every reply is logged as an ``InboundMessage`` with what was done with it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction

from campaigns.gateways.kannel import default_options
from campaigns.models.gateway import InboundMessage
from campaigns.models.sending import Message
from campaigns.phones import normalize_phone
from campaigns.services.optouts import optout_is_keyword, optout_record
from smsmarketing.models import Shop

logger = logging.getLogger(__name__)


def service_number() -> str:
    """The number our messages are sent from (shops' sender codes are extensions of it)."""
    options = getattr(settings, "SMS_GATEWAY", {}).get("OPTIONS", {})
    return str(options.get("service_number") or default_options()["service_number"])


def shop_sender_code(shop_id: int) -> str:
    """The extension that identifies a shop after the service number."""
    return str(shop_id)


def _shop_id_from_receiver(receiver: str) -> int | None:
    digits = receiver.lstrip("+")
    base = service_number()
    if not digits.startswith(base):
        return None
    extension = digits[len(base) :]
    if not extension.isdigit():
        return None
    shop_id = int(extension)
    return shop_id if Shop.objects.filter(pk=shop_id).exists() else None


def _normalize_sender(sender: str) -> str | None:
    # Kannel writes an international-TON sender as "+<digits>"; a national number
    # written that way ("+13800138000") is not a +1 number.
    phone = normalize_phone(sender)
    if phone is None and sender.startswith("+"):
        phone = normalize_phone(sender[1:])
    return phone


@dataclass(frozen=True)
class _Match:
    shop_id: int | None
    message_id: int | None


def _match(phone: str, receiver: str) -> _Match:
    sent = Message.objects.filter(phone=phone, sent_at__isnull=False).order_by("-sent_at", "-id")
    shop_id = _shop_id_from_receiver(receiver)
    if shop_id is not None:
        message = sent.filter(shop_id=shop_id).values_list("id", flat=True).first()
        return _Match(shop_id, message)
    last = sent.values_list("id", "shop_id").first()
    return _Match(last[1], last[0]) if last else _Match(None, None)


def inbound_receive(
    *,
    sender: str,
    receiver: str,
    text: str,
    kannel_id: str = "",
    sent_at: datetime | None = None,
    raw: dict | None = None,
) -> InboundMessage:
    """Log one reply and act on it; idempotent per ``kannel_id`` (Kannel retries get-urls)."""
    if kannel_id:
        existing = InboundMessage.objects.filter(kannel_id=kannel_id).first()
        if existing is not None:
            return existing
    record = InboundMessage(
        kannel_id=kannel_id[:64],
        sender=sender[:32],
        receiver=receiver[:32],
        text=text,
        raw=raw or {},
        sent_at=sent_at,
    )
    phone = _normalize_sender(sender)
    try:
        with transaction.atomic():
            _decide(record, phone)
            record.save()
    except IntegrityError:
        # Race: Kannel retried while the first request was still running; the unique
        # kannel_id made the second insert fail (and roll back its opt-out, a no-op anyway).
        return InboundMessage.objects.get(kannel_id=kannel_id)
    logger.info("inbound: %s from %s to %s: %s", record.outcome, sender, receiver, text[:40])
    return record


def _decide(record: InboundMessage, phone: str | None) -> None:
    if phone is None:
        record.outcome = InboundMessage.Outcome.INVALID_PHONE
        return
    record.phone = phone
    match = _match(phone, record.receiver)
    record.shop_id, record.in_reply_to = match.shop_id, match.message_id
    if not optout_is_keyword(record.text):
        record.outcome = InboundMessage.Outcome.NOT_A_KEYWORD
        return
    if match.shop_id is None:
        record.outcome = InboundMessage.Outcome.NO_SHOP
        return
    created = optout_record(
        shop_id=match.shop_id, phone=phone, keyword=record.text.strip(), source="sms_reply"
    )
    record.outcome = InboundMessage.Outcome.OPTED_OUT if created else InboundMessage.Outcome.ALREADY_OPTED_OUT
