"""Who calls the API: ``Authorization: Bearer sk_live_…``, checked once per request.

The check, in order: the key exists and is not revoked (else 401), the key is within its rate
limit (else 429 with Retry-After), the key's shop is not in a restricted category (else 403 with
the portal's text). Endpoints then call ``require_scope`` for the scope they need (403).
"""

from __future__ import annotations

import logging
import math
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja.security import HttpBearer

from campaigns.api.errors import RATE_LIMITED, SCOPE_MISSING, ApiError
from campaigns.models.api import ApiKey, ApiScope
from campaigns.services.api_keys import KEY_PREFIX, PREFIX_LENGTH, api_key_authenticate
from smsmarketing.errors import CategoryRestricted
from smsmarketing.permissions import Capability, require_capability
from smsmarketing.security import rate_limit_hit
from smsmarketing.services.shops import restricted_message

logger = logging.getLogger(__name__)

# The request attribute holding the checked key (None: no key or a bad one), so the
# idempotency guard and ninja's auth check a request once and count it once.
_CHECKED = "api_key"


def api_key_of(request: HttpRequest) -> ApiKey | None:
    """The request's valid key, checked and counted once per request (raises ApiError 429/403)."""
    if hasattr(request, _CHECKED):
        return getattr(request, _CHECKED)
    scheme, _space, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    key = api_key_authenticate(token=token) if scheme.lower() == "bearer" else None
    setattr(request, _CHECKED, key)
    if key is None and token.startswith(KEY_PREFIX):
        # Only the prefix is logged: it names the key without revealing it.
        prefix = token[len(KEY_PREFIX) : len(KEY_PREFIX) + PREFIX_LENGTH]
        logger.warning(
            "api: refused key %s%s… (unknown or revoked) on %s %s",
            KEY_PREFIX,
            prefix,
            request.method,
            request.path,
        )
    if key is not None:
        rate_limit_check(key=key)
        if key.shop.sms_restricted:
            raise ApiError(403, CategoryRestricted.rule, restricted_message(shop=key.shop))
    return key


class ApiKeyAuth(HttpBearer):
    """ninja's bearer auth: ``request.auth`` is the ApiKey (its shop and category loaded)."""

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        return api_key_of(request)


def rate_limit_check(*, key: ApiKey, now: datetime | None = None) -> None:
    """Count one call of ``key``; raise 429 if it is over ``settings.API_RATE_LIMIT``."""
    limit, seconds = settings.API_RATE_LIMIT["requests"], settings.API_RATE_LIMIT["seconds"]
    now = now or timezone.now()
    epoch = now.timestamp()
    window = int(epoch - epoch % seconds)
    if settings.CACHE_SHARED:
        # Redis: add() then incr() are atomic there, shared by every process.
        counter = f"api-rate:{key.pk}:{window}"
        cache.add(counter, 0, timeout=seconds * 2)
        hits = cache.incr(counter)
    else:
        # PostgreSQL: one INSERT .. ON CONFLICT DO UPDATE .. RETURNING (smsmarketing.security);
        # not durable: a lost increment before a crash only lets a key make a few more calls.
        hits = rate_limit_hit(f"api:{key.pk}", now=now, window_seconds=seconds, durable=False)
    if hits <= limit:
        return
    retry_after = max(1, math.ceil(window + seconds - epoch))
    logger.warning(
        "api: key %s of shop %s is over its rate limit (%s calls in %s s)",
        key.display_prefix,
        key.shop_id,
        hits,
        seconds,
    )
    raise ApiError(
        429,
        RATE_LIMITED,
        _("请求过于频繁：每个密钥每 {seconds} 秒最多 {limit} 次请求，请 {retry} 秒后重试。").format(
            seconds=seconds, limit=limit, retry=retry_after
        ),
        headers={"Retry-After": str(retry_after)},
    )


def require_scope(request: HttpRequest, scope: str) -> None:
    """Raise 403 SCOPE-MISSING unless the request's key has ``scope``."""
    if scope in request.auth.scopes:
        return
    raise ApiError(
        403,
        SCOPE_MISSING,
        _("此 API 密钥没有“{label}”（{scope}）权限。请店主在“开放接口”页面创建带此权限的密钥。").format(
            label=ApiScope(scope).label, scope=scope
        ),
    )


def api_actor(request: HttpRequest) -> AbstractBaseUser:
    """The user the services receive as ``user``: the owner who created the key."""
    return request.auth.created_by


def require_role(request: HttpRequest, capability: Capability) -> None:
    """Refuse (403 ROLE-REQUIRED, naming the role needed) unless the key's creator's role in the
    key's shop allows ``capability`` now: for endpoints whose service takes no user."""
    require_capability(shop=request.auth.shop_id, user=api_actor(request), capability=capability)
