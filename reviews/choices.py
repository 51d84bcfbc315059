"""Message classes, content uses and checked kinds: choices shared by the models and the content
policy (a leaf module, so ``reviews.models`` and ``reviews.policy`` both import it without
importing each other).

``campaigns`` may define its own TextChoices with the same values (dependencies
point campaigns → reviews, so reviews never imports campaigns).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class MessageClass(models.TextChoices):
    """短信类型 (DOMAIN.md): decides the unsubscribe suffix and the frequency caps."""

    MARKETING = "marketing", _("营销短信")
    NOTIFY_UNSUB = "notify_unsub", _("可退订通知")
    NOTIFY = "notify", _("不可退订通知")


# Classes whose messages end with the unsubscribe suffix (拒收请回复R).
UNSUBSCRIBABLE_CLASSES = frozenset({MessageClass.MARKETING, MessageClass.NOTIFY_UNSUB})


class ContentUse(models.TextChoices):
    """Where a text is used; decides which variables it may contain."""

    COUPON = "coupon", _("定向优惠券")
    REPURCHASE = "repurchase", _("复购提醒")
    MARKETING = "marketing", _("短信营销")


class ContentKind(models.TextChoices):
    """What ``check_content`` checks (the ``--kind`` of the command)."""

    SIGNATURE = "signature", _("短信签名")
    TEMPLATE = "template", _("短信模板")
    TEXT = "text", _("短信营销正文")
