"""The NinjaAPI of /api/v1/: authentication, error answers and every resource's router.

Every non-2xx answer is ``{"code", "message"}`` (campaigns.api.errors); a validation error adds
``errors: [{loc, message}]``. The docs page (/api/v1/docs) is ninja's Swagger UI served from
static files (``ninja`` in INSTALLED_APPS), so it runs under the site's CSP without a CDN.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Swagger
from ninja.errors import AuthenticationError, HttpError, ValidationError

from campaigns.api.auth import ApiKeyAuth
from campaigns.api.errors import (
    BAD_REQUEST,
    INTERNAL,
    UNAUTHENTICATED,
    VALIDATION,
    ApiError,
    api_error_response,
    error_response,
    not_found,
    sms_error_response,
)
from campaigns.api.routers.account import router as account_router
from campaigns.api.routers.campaigns import router as campaigns_router
from campaigns.api.routers.customers import router as customers_router
from campaigns.api.routers.messages import router as messages_router
from campaigns.api.routers.orders import router as orders_router
from campaigns.api.routers.webhooks import router as webhooks_router
from smsmarketing.errors import SmsError

logger = logging.getLogger(__name__)

DESCRIPTION = (
    "商家系统（ERP、CRM、服务商工具）通过本接口推送客户与订单、创建和发送营销任务、查询发送明细，"
    "并通过 Webhooks 接收送达、点击和退订通知。\n\n"
    "认证：在请求头中携带 `Authorization: Bearer <API 密钥>`，密钥由店主在商家后台“开放接口”页面创建。\n"
    '错误：所有非 2xx 的响应体都是 `{"code": "…", "message": "中文说明"}`。\n'
    "幂等：每个 POST 都接受 `Idempotency-Key` 请求头，24 小时内重发同样的请求只执行一次。\n"
    "限流：每个密钥每秒平均 20 次、突发 40 次，超出返回 429 并带 `Retry-After`。"
)

# The answers' descriptions in the schema (ninja writes the English reason phrase).
RESPONSE_TEXT = {
    200: "成功",
    201: "已创建",
    204: "已删除",
    400: "请求体无法解析（须为 JSON）",
    401: "缺少 API 密钥，或密钥无效、已吊销",
    403: "密钥没有所需的权限范围，或店铺属于敏感类目",
    404: "对象不存在或不属于本店铺",
    409: "状态冲突（如任务已开始发送）",
    422: "参数不合法，或业务规则不允许",
    429: "请求过于频繁，请按 Retry-After 秒后重试",
}


class SmsApi(NinjaAPI):
    """NinjaAPI whose schema describes every answer in Chinese."""

    def get_openapi_schema(self, *, path_prefix: str | None = None, path_params: dict | None = None):
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                for status, answer in operation.get("responses", {}).items():
                    text = RESPONSE_TEXT.get(int(status))
                    if text and isinstance(answer, dict):
                        answer["description"] = text
        return schema


api = SmsApi(
    title="短信营销开放接口",
    version="1.0",
    description=DESCRIPTION,
    auth=ApiKeyAuth(),
    urls_namespace="api",
    docs=Swagger(settings={"persistAuthorization": False, "defaultModelsExpandDepth": 0}),
    docs_url="/docs",
    openapi_url="/openapi.json",
)

api.add_router("", account_router)
api.add_router("", customers_router)
api.add_router("", orders_router)
api.add_router("", campaigns_router)
api.add_router("", messages_router)
api.add_router("", webhooks_router)


# --- error answers ------------------------------------------------------------------------

# pydantic's error types in Chinese; anything else says "取值不合法".
_VALIDATION_TEXT = {
    "missing": "缺少必填字段",
    "string_too_long": "最多 {max_length} 个字符",
    "string_too_short": "至少 {min_length} 个字符",
    "too_long": "最多 {max_length} 项",
    "too_short": "至少 {min_length} 项",
    "string_type": "须为字符串",
    "int_type": "须为整数",
    "int_parsing": "须为整数",
    "int_from_float": "须为整数",
    "float_type": "须为数字",
    "float_parsing": "须为数字",
    "decimal_type": "须为数字",
    "decimal_parsing": "须为数字",
    "decimal_max_places": "最多 {decimal_places} 位小数",
    "bool_type": "须为 true 或 false",
    "bool_parsing": "须为 true 或 false",
    "greater_than": "须大于 {gt}",
    "greater_than_equal": "须不小于 {ge}",
    "less_than": "须小于 {lt}",
    "less_than_equal": "须不大于 {le}",
    "datetime_type": "须为带时区的 ISO-8601 时间，如 2026-06-18T20:30:00+08:00",
    "datetime_parsing": "须为带时区的 ISO-8601 时间，如 2026-06-18T20:30:00+08:00",
    "datetime_from_date_parsing": "须为带时区的 ISO-8601 时间，如 2026-06-18T20:30:00+08:00",
    "timezone_aware": "须带时区，如 2026-06-18T20:30:00+08:00",
    "date_type": "须为日期，如 2026-06-18",
    "date_parsing": "须为日期，如 2026-06-18",
    "enum": "须为以下之一：{expected}",
    "literal_error": "须为以下之一：{expected}",
    "list_type": "须为数组",
    "dict_type": "须为对象",
    "model_type": "须为对象",
    "model_attributes_type": "须为对象",
    "extra_forbidden": "不支持的字段",
    "string_pattern_mismatch": "格式不正确",
    "json_invalid": "不是合法的 JSON",
}


def _error_text(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "value_error":
        # A validator's own (Chinese) message; pydantic prefixes it with "Value error, ".
        return str(error.get("msg", "")).removeprefix("Value error, ")
    template = _VALIDATION_TEXT.get(kind)
    if template is None:
        return _("取值不合法")
    try:
        return _(template).format(**(error.get("ctx") or {}))
    except (KeyError, IndexError, ValueError):
        return _(template)


def _on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [
        {
            "loc": [part if isinstance(part, int) else str(part) for part in error.get("loc", ())],
            "message": _error_text(error),
        }
        for error in exc.errors
    ]
    first = errors[0] if errors else {"loc": [], "message": _("取值不合法")}
    where = ".".join(str(part) for part in first["loc"])
    message = _("请求参数不合法（共 {n} 处），如 {where}：{message}").format(
        n=len(errors), where=where or "-", message=first["message"]
    )
    return error_response(422, VALIDATION, message, errors=errors)


def _on_authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    message = _("缺少 API 密钥，或密钥无效、已吊销。请在请求头中携带 Authorization: Bearer <API 密钥>。")
    return error_response(401, UNAUTHENTICATED, message, headers={"WWW-Authenticate": "Bearer"})


def _on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if exc.status_code == 400:
        return error_response(
            400, BAD_REQUEST, _("请求体无法解析：须为 JSON，并带 Content-Type: application/json。")
        )
    return error_response(
        exc.status_code, BAD_REQUEST if exc.status_code < 500 else INTERNAL, _("请求无法处理。")
    )


def _on_too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return error_response(400, BAD_REQUEST, _("请求体过大。"))


def _on_404(request: HttpRequest, exc: Http404) -> HttpResponse:
    return api_error_response(not_found())


def _on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("api: unexpected error on %s %s", request.method, request.path)
    return error_response(500, INTERNAL, _("服务器内部错误，请稍后重试；如持续出现请联系平台客服。"))


api.add_exception_handler(ApiError, lambda request, exc: api_error_response(exc))
api.add_exception_handler(SmsError, lambda request, exc: sms_error_response(exc))
api.add_exception_handler(ValidationError, _on_validation_error)
api.add_exception_handler(AuthenticationError, _on_authentication_error)
api.add_exception_handler(HttpError, _on_http_error)
api.add_exception_handler(RequestDataTooBig, _on_too_big)
api.add_exception_handler(Http404, _on_404)
api.add_exception_handler(Exception, _on_unexpected)
