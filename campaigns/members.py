"""What removing a shop member means for the campaigns app: the member's API keys are revoked.

A key acts as the member who created it (``campaigns.api.auth.api_actor``). Authentication
already refuses a key whose creator is no longer a member, but a re-invited member would bring
their old keys back to life; so the removal revokes them for good, in its own transaction
(``smsmarketing.services.members.member_remove`` sends ``member_removed``). Connected in
``CampaignsConfig.ready``.
"""

from __future__ import annotations

import logging

from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _

from campaigns.models.api import ApiKey

logger = logging.getLogger(__name__)


def _active_keys(*, shop_id: int, member_user):
    return ApiKey.objects.filter(shop_id=shop_id, created_by=member_user, revoked_at__isnull=True)


def _describe(keys: list[ApiKey], *, done: bool) -> list[str]:
    if not keys:
        return []
    # Names as typed and the keys' prefixes: marked so translators (and the page checks) leave them.
    names = format_html_join(
        "、", '“<span translate="no">{}</span>”（<code translate="no">{}</code>）',
        ((key.name, key.display_prefix) for key in keys),
    )  # fmt: skip
    if done:
        done_text = _("已吊销该成员创建的 {count} 个 API 密钥：{names}。")
        return [format_html(done_text, count=len(keys), names=names)]
    return [
        format_html(
            _("该成员创建的 {count} 个 API 密钥将被立即吊销，使用它们的系统会收到 401：{names}。"),
            count=len(keys),
            names=names,
        )
    ]


def removal_effects(sender, *, shop_id: int, member_user, **kwargs) -> list[str]:
    return _describe(list(_active_keys(shop_id=shop_id, member_user=member_user)), done=False)


def revoke_keys_of_removed_member(sender, *, shop_id: int, member_user, actor, **kwargs) -> list[str]:
    keys = list(_active_keys(shop_id=shop_id, member_user=member_user).select_for_update())
    if not keys:
        return []
    # Conditional: a key revoked a moment ago keeps its first time and revoker.
    ApiKey.objects.filter(pk__in=[key.pk for key in keys], revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=actor
    )
    logger.info("shop %s: %d api keys of removed member %s revoked", shop_id, len(keys), member_user.pk)
    return _describe(keys, done=True)
