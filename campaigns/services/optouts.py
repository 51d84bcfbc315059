"""Opt-outs (退订): recording a customer's unsubscribe reply and re-subscribing with consent.

An opt-out stops one shop's marketing and unsubscribable notifications to one
phone (``OPTED-OUT`` in ``frequency_decide``); other shops are not affected.
"""

from __future__ import annotations

import unicodedata

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models.frequency import OptOut, OptOutEvent, OptOutKeyword, OptOutSource, normalise_keyword
from campaigns.models.webhooks import WebhookEventType
from campaigns.phones import INVALID_PHONE, normalize_phone
from campaigns.selectors import optouts_changed
from campaigns.services.webhooks import webhook_event_emit
from smsmarketing.errors import SmsError
from smsmarketing.models import Shop
from smsmarketing.permissions import Capability, require_capability
from smsmarketing.services import shop_ensure_sms_allowed

CONSENT_REQUIRED = "CONSENT-REQUIRED"
NOT_OPTED_OUT = "NOT-OPTED-OUT"
# A recorded consent says at least who agreed, when and how; a few characters cannot.
CONSENT_NOTE_MIN_LENGTH = 6


def _strip_punctuation(text: str) -> str:
    """Drop punctuation around a reply ("退订。", "R!"), keeping what is inside."""
    start, end = 0, len(text)
    while start < end and unicodedata.category(text[start]).startswith(("P", "Z")):
        start += 1
    while end > start and unicodedata.category(text[end - 1]).startswith(("P", "Z")):
        end -= 1
    return text[start:end]


def optout_is_keyword(text: str) -> bool:
    """True if an inbound reply is an unsubscribe keyword of the admin-edited list.

    Compared after NFKC (full-width ＴＤ is TD), trimming and upper-casing; the
    whole reply must be the keyword (surrounding punctuation ignored), so a
    sentence that merely contains "R" is not an opt-out.
    """
    if not isinstance(text, str):
        return False
    reply = _strip_punctuation(normalise_keyword(text))
    if not reply:
        return False
    active = OptOutKeyword.objects.filter(active=True).values_list("keyword", flat=True)
    keywords = {normalise_keyword(keyword) for keyword in active}
    return reply in keywords


def _valid_phone(phone: str) -> str:
    normalised = normalize_phone(phone)
    if normalised is None:
        raise SmsError(_("手机号“{phone}”不是有效的中国大陆手机号。").format(phone=phone), rule=INVALID_PHONE)
    return normalised


def optout_record(*, shop_id: int, phone: str, keyword: str, source: str) -> bool:
    """Opt ``phone`` out of the shop's marketing; True if new, False if it was already out.

    Idempotent: a reply delivered twice (or two workers handling it at once) is
    one opt-out and one audit event.
    """
    normalised = _valid_phone(phone)
    source = OptOutSource(source).value
    with transaction.atomic():
        # Race: the same reply handled twice at once. The unique (shop, phone) constraint
        # refuses the second insert, and get_or_create then reads the first one's row.
        _optout, created = OptOut.objects.get_or_create(
            shop_id=shop_id, phone=normalised, defaults={"keyword": keyword[:64], "source": source}
        )
        if not created:
            return False
        transaction.on_commit(lambda: optouts_changed(shop_id=shop_id))
        OptOutEvent.objects.create(
            shop_id=shop_id,
            phone=normalised,
            kind=OptOutEvent.Kind.OPT_OUT,
            keyword=keyword[:64],
            source=source,
        )
        webhook_event_emit(
            shop_id=shop_id,
            type=WebhookEventType.OPTOUT_CREATED,
            data={
                "phone": normalised,
                "keyword": keyword[:64],
                "source": source,
                "created_at": timezone.localtime().isoformat(),
            },
        )
        return True


def optout_resubscribe(
    *, shop_id: int, phone: str, consent_note: str, actor: AbstractBaseUser | None
) -> None:
    """Re-subscribe an opted-out phone, only with the customer's consent recorded in ``consent_note``.

    Raises ``SmsError`` (nothing written) if the consent is missing or the phone
    is not opted out of this shop.
    """
    require_capability(shop=shop_id, user=actor, capability=Capability.OPERATE)
    shop = Shop.objects.select_related("category").get(pk=shop_id)
    shop_ensure_sms_allowed(shop=shop)
    normalised = _valid_phone(phone)
    note = (consent_note or "").strip()
    if len(note) < CONSENT_NOTE_MIN_LENGTH:
        raise SmsError(
            _("恢复订阅必须记录客户的同意（何时、以何种方式同意，至少 {n} 个字）。").format(
                n=CONSENT_NOTE_MIN_LENGTH
            ),
            rule=CONSENT_REQUIRED,
        )
    with transaction.atomic():
        # Race: two staff re-subscribing the same number at once; the row lock makes the
        # second one find nothing to delete and report it, instead of logging twice.
        optout = OptOut.objects.select_for_update().filter(shop_id=shop_id, phone=normalised).first()
        if optout is None:
            message = _("手机号 {phone} 未退订本店短信，无需恢复。").format(phone=normalised)
            raise SmsError(message, rule=NOT_OPTED_OUT)
        optout.delete()
        transaction.on_commit(lambda: optouts_changed(shop_id=shop_id))
        OptOutEvent.objects.create(
            shop_id=shop_id,
            phone=normalised,
            kind=OptOutEvent.Kind.RESUBSCRIBE,
            source=OptOutSource.MERCHANT,
            consent_note=note,
            actor=actor if actor is not None and actor.is_authenticated else None,
        )
