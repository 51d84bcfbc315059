"""Refusals of the review machinery (rule ids are stable, messages Chinese)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy as _

from smsmarketing.errors import SmsError


class ReviewError(SmsError):
    rule = "REVIEW-ERROR"


class AlreadyDecided(ReviewError):
    """Another reviewer (or the merchant's withdrawal) got to the item first."""

    rule = "REVIEW-ALREADY-DECIDED"
    default_message = _("该申请已被其他审核员处理（或已被商家撤回），请刷新后查看最新状态。")

    def __init__(self, message: str | None = None) -> None:
        super().__init__(str(message or self.default_message))


class ReviewPermissionDenied(ReviewError, PermissionDenied):
    """The user lacks the review permission of this kind (the admin turns it into 403)."""

    rule = "REVIEW-PERMISSION"
    default_message = _("您没有审核权限。")

    def __init__(self, message: str | None = None) -> None:
        super().__init__(str(message or self.default_message))


class ReasonRequired(ReviewError):
    rule = "REVIEW-REASON-REQUIRED"


class StaleConfirmation(ReviewError):
    """The item a merchant confirmed an action on is no longer the one the action would touch."""

    rule = "REVIEW-STALE"
