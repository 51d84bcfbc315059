"""A shop's open-API keys: created and revoked by the shop's owner, looked up by their hash.

A key is ``sk_live_`` + an 8-character prefix + a 40-character secret (both base-62 from
``secrets``): about 238 bits of entropy, so a SHA-256 of the whole key is a safe lookup
value (no salt or slow hash is needed for a random secret of that length). The whole key is
returned once by ``api_key_create`` and never stored.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import string
from collections.abc import Iterable
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models.api import ApiKey, ApiScope
from smsmarketing.errors import SmsError
from smsmarketing.models import Membership, Shop
from smsmarketing.permissions import Capability, require_capability
from smsmarketing.services import shop_ensure_sms_allowed

logger = logging.getLogger(__name__)

KEY_PREFIX = "sk_live_"
PREFIX_LENGTH = 8
SECRET_LENGTH = 40
KEY_LENGTH = len(KEY_PREFIX) + PREFIX_LENGTH + SECRET_LENGTH
MAX_NAME_LENGTH = 64
# A key's ``last_used_at`` is written at most this often (one UPDATE per key per minute, not
# one per request).
LAST_USED_RESOLUTION = timedelta(minutes=1)
# Keys a shop may hold at once (active ones): a runaway script creating keys stops here.
MAX_ACTIVE_KEYS = 20

_ALPHABET = string.ascii_letters + string.digits


class ApiKeyInvalid(SmsError):
    rule = "API-KEY-INVALID"


def key_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def shop_owner(*, shop: Shop) -> AbstractBaseUser | None:
    """The shop's first owner (the actor of keys created by an operator's command)."""
    membership = (
        Membership.objects.filter(shop=shop, role=Membership.Role.OWNER)
        .select_related("user")
        .order_by("pk")
        .first()
    )
    return membership.user if membership else None


def _clean_scopes(scopes: Iterable[str]) -> list[str]:
    known = [scope.value for scope in ApiScope]
    chosen = list(dict.fromkeys(scopes))
    unknown = [scope for scope in chosen if scope not in known]
    if unknown:
        raise ApiKeyInvalid(
            _("未知的权限范围：{unknown}（可选：{known}）。").format(
                unknown="、".join(unknown), known="、".join(known)
            )
        )
    if not chosen:
        raise ApiKeyInvalid(_("请至少选择一项权限范围。"))
    # Stored in the choices' order, so equal sets compare equal.
    return [scope for scope in known if scope in chosen]


def api_key_create(
    *, shop: Shop, user: AbstractBaseUser, name: str, scopes: Iterable[str]
) -> tuple[ApiKey, str]:
    """Create a key of ``shop`` as ``user`` (an owner); return it and the whole key (shown once)."""
    require_capability(shop=shop, user=user, capability=Capability.INTEGRATIONS)
    shop_ensure_sms_allowed(shop=shop)
    name = (name or "").strip()
    if not name:
        raise ApiKeyInvalid(_("请填写密钥名称（如“ERP 同步”），便于日后识别。"))
    if len(name) > MAX_NAME_LENGTH:
        raise ApiKeyInvalid(_("密钥名称最多 {n} 个字符。").format(n=MAX_NAME_LENGTH))
    chosen = _clean_scopes(scopes)
    with transaction.atomic():
        # Race: two owners creating keys at once could both pass the count; the shop row lock
        # serialises creations of one shop.
        Shop.objects.select_for_update().filter(pk=shop.pk).first()
        if ApiKey.objects.filter(shop=shop, revoked_at__isnull=True).count() >= MAX_ACTIVE_KEYS:
            raise ApiKeyInvalid(
                _("每个店铺最多同时有 {n} 个有效密钥，请先吊销不用的密钥。").format(n=MAX_ACTIVE_KEYS)
            )
        for _attempt in range(5):
            prefix = _random(PREFIX_LENGTH)
            token = f"{KEY_PREFIX}{prefix}{_random(SECRET_LENGTH)}"
            try:
                with transaction.atomic():
                    key = ApiKey.objects.create(
                        shop=shop,
                        name=name,
                        prefix=prefix,
                        key_hash=key_hash(token),
                        scopes=chosen,
                        created_by=user,
                    )
                logger.info(
                    "api key %s (%s) of shop %s created by %s", key.display_prefix, name, shop.pk, user.pk
                )
                return key, token
            except IntegrityError:
                continue  # a prefix collision (1 in 62^8 per pair): draw again
    raise RuntimeError("could not draw a unique API key prefix")


def api_key_revoke(*, key: ApiKey, user: AbstractBaseUser) -> ApiKey:
    """Revoke ``key`` as ``user`` (an owner of its shop, or a platform operator allowed to change
    keys: a leaked key); its next request is refused."""
    # A platform operator allowed to change keys may revoke any shop's key (a leaked one);
    # anyone else needs the INTEGRATIONS capability in the key's shop (its owner).
    if not (user.is_active and user.is_staff and user.has_perm("campaigns.change_apikey")):
        require_capability(shop=key.shop_id, user=user, capability=Capability.INTEGRATIONS)
    # Conditional: revoking twice keeps the first time and revoker.
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=user
    )
    key.refresh_from_db()
    logger.info("api key %s of shop %s revoked by %s", key.display_prefix, key.shop_id, user.pk)
    return key


def api_key_authenticate(*, token: str) -> ApiKey | None:
    """The active key whose whole value is ``token`` (with its shop and category), or None: also
    None when the key's creator is no longer a member of its shop, or no longer active."""
    if len(token) != KEY_LENGTH or not token.startswith(KEY_PREFIX):
        return None
    key = (
        ApiKey.objects.select_related("shop__category", "created_by")
        # A key acts as its creator: once they leave the shop or are deactivated, it stops
        # working like a revoked one (one join on the unique membership, same query).
        .filter(
            key_hash=key_hash(token),
            revoked_at__isnull=True,
            created_by__is_active=True,
            created_by__memberships__shop_id=F("shop_id"),
        )
        .first()
    )
    if key is None:
        return None
    api_key_touch(key=key)
    return key


def api_key_touch(*, key: ApiKey) -> None:
    """Record that ``key`` was used now, at most once per ``LAST_USED_RESOLUTION``."""
    now = timezone.now()
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_RESOLUTION:
        return
    # Conditional UPDATE: of many concurrent requests in the same minute, one writes.
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ApiKey.objects.filter(stale, pk=key.pk).update(last_used_at=now)
    key.last_used_at = now
