"""The API's errors: every non-2xx answer is ``{"code": "...", "message": "中文"}``.

``code`` is the rule id of the refusal where one applies (``SmsError.rule``), else one of the
stable ids below. Endpoints raise ``ApiError`` (or let a service's ``SmsError`` through: the
app's handler maps it to its status, ``status_for``).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model, QuerySet
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _

from smsmarketing.errors import CategoryRestricted, NotShopMember, SmsError
from smsmarketing.permissions import RoleRequired

BAD_REQUEST = "BAD-REQUEST"
VALIDATION = "VALIDATION"
UNAUTHENTICATED = "UNAUTHENTICATED"
SCOPE_MISSING = "SCOPE-MISSING"
NOT_FOUND = "NOT-FOUND"
CONFLICT = "CONFLICT"
IDEMPOTENCY_MISMATCH = "IDEMPOTENCY-MISMATCH"
RATE_LIMITED = "RATE-LIMITED"
INTERNAL = "INTERNAL-ERROR"

# Services' refusals that are state conflicts (409), not bad input (422). Matched by rule id
# (a service's errors module is not imported here: the rule id is the interface).
CONFLICT_RULES = frozenset(
    {
        "CAMPAIGN-STATE",
        "AB-TEST-DECIDED",
        "CAMPAIGN-FIGURES-STALE",
        "IMPORT-STALE",
        "QUOTE-STALE",
        "IDEMPOTENCY-CONFLICT",
        "REVIEW-ALREADY-DECIDED",
        "REVIEW-STALE",
    }
)


class ApiError(Exception):
    """An answer other than 2xx, raised by an endpoint or by the API's own checks."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = str(message)
        self.headers = headers or {}


def error_response(
    status: int, code: str, message: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JsonResponse:
    response = JsonResponse(
        {"code": code, "message": str(message), **extra},
        status=status,
        json_dumps_params={"ensure_ascii": False},
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def api_error_response(error: ApiError) -> JsonResponse:
    return error_response(error.status, error.code, error.message, headers=error.headers)


def status_for(error: SmsError) -> int:
    """The HTTP status of a service's refusal."""
    if isinstance(error, CategoryRestricted):
        return 403
    if isinstance(error, (RoleRequired, NotShopMember)):
        # The key's creator may not do this in the key's shop (demoted to 只读, say): the
        # message names the role needed. (Another shop's objects never get this far: 404.)
        return 403
    if error.rule in CONFLICT_RULES:
        return 409
    return 422


def sms_error_response(error: SmsError) -> JsonResponse:
    extra: dict[str, Any] = {}
    findings = getattr(error, "findings", None)
    if findings:
        extra["findings"] = [_finding_out(finding) for finding in findings]
    return error_response(status_for(error), error.rule, error.message, **extra)


def _finding_out(finding: Any) -> dict[str, Any]:
    """A content-policy finding (reviews.findings.Finding) as JSON: rule, span, message, hint."""
    out = {"rule": getattr(finding, "rule", ""), "message": str(getattr(finding, "message", ""))}
    for name in ("start", "end", "hint"):
        value = getattr(finding, name, None)
        if value is not None:
            out[name] = value if isinstance(value, int) else str(value)
    return out


def not_found() -> ApiError:
    return ApiError(404, NOT_FOUND, _("对象不存在，或不属于当前密钥的店铺。"))


def shop_object_or_404(queryset: QuerySet, request: HttpRequest, **lookup: Any) -> Model:
    """The object of the key's shop matching ``lookup``; 404 for another shop's or an unknown one
    (the same answer for both, so a key never learns that another shop's object exists)."""
    found = queryset.filter(shop_id=request.auth.shop_id, **lookup).first()
    if found is None:
        raise not_found()
    return found
