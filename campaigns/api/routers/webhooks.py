"""/api/v1/webhooks: register, list and delete the shop's webhook endpoints (scope ``webhooks``).

Thin adapters over ``campaigns.services.webhooks``: the URL rules (https, public addresses),
the event catalogue and the per-shop limit are the service's, as in the portal.
"""

# No ``from __future__ import annotations``: ninja reads the operations' annotations through
# the idempotency wrapper, in this module's namespace, as real types.
from datetime import datetime

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema, Status

from campaigns.api.auth import api_actor, require_scope
from campaigns.api.errors import shop_object_or_404
from campaigns.api.idempotency import idempotent
from campaigns.api.pagination import PageParams, paginate
from campaigns.api.schemas import COMMON_ERRORS, ErrorOut, Page, ValidationErrorOut
from campaigns.models.webhooks import WebhookEndpoint, WebhookEventType
from campaigns.services.webhooks import URL_MAX_LENGTH, webhook_endpoint_create, webhook_endpoint_delete

router = Router(tags=["Webhooks"])
SCOPE = "webhooks"
EVENTS_DOC = "订阅的事件：" + "、".join(f"{value}（{label}）" for value, label in WebhookEventType.choices)


class WebhookIn(Schema):
    url: str = Field(
        ...,
        min_length=1,
        max_length=URL_MAX_LENGTH,
        description="接收地址：必须是 https://，且域名只解析到公网地址",
    )
    events: list[str] = Field(
        ..., min_length=1, max_length=len(WebhookEventType.values), description=EVENTS_DOC
    )
    description: str = Field("", max_length=100, description="备注（可选）")


class WebhookOut(Schema):
    id: int = Field(..., description="接收地址编号")
    url: str = Field(..., description="接收地址")
    description: str = Field(..., description="备注")
    events: list[str] = Field(..., description="订阅的事件")
    status: str = Field(..., description="状态：active 正常，failing 连续 24 小时推送失败，disabled 已停用")
    failing_since: datetime | None = Field(None, description="开始推送失败的时间")
    created_at: datetime = Field(..., description="创建时间")


class WebhookCreatedOut(WebhookOut):
    secret: str = Field(..., description="签名密钥（whsec_ 开头），只在创建时返回这一次，请妥善保存")


@router.post(
    "/webhooks",
    response={201: WebhookCreatedOut, 422: ValidationErrorOut, **COMMON_ERRORS},
    summary="创建 Webhook 接收地址",
)
@idempotent
def webhook_create(request: HttpRequest, payload: WebhookIn):
    """注册一个接收事件推送的地址。返回的 secret 只出现这一次，用于校验每个推送请求的 X-Signature。
    每个店铺最多 10 个接收地址；只有店主创建的密钥可以调用。"""
    require_scope(request, SCOPE)
    endpoint, secret = webhook_endpoint_create(
        shop=request.auth.shop,
        user=api_actor(request),
        url=payload.url,
        events=payload.events,
        description=payload.description,
    )
    return Status(201, {**_out(endpoint), "secret": secret})


@router.get(
    "/webhooks",
    response={200: Page[WebhookOut], 422: ValidationErrorOut, **COMMON_ERRORS},
    summary="列出 Webhook 接收地址",
)
def webhook_list(request: HttpRequest, params: Query[PageParams]):
    """列出店铺的接收地址（不含签名密钥），新的在前。"""
    require_scope(request, SCOPE)
    queryset = WebhookEndpoint.objects.filter(shop_id=request.auth.shop_id)
    page = paginate(queryset, cursor=params.cursor, limit=params.limit)
    return {"items": [_out(endpoint) for endpoint in page["items"]], "next": page["next"]}


@router.get(
    "/webhooks/{webhook_id}",
    response={200: WebhookOut, 404: ErrorOut, **COMMON_ERRORS},
    summary="查询 Webhook 接收地址",
)
def webhook_detail(request: HttpRequest, webhook_id: int):
    """一个接收地址（不含签名密钥）。其他店铺的编号返回 404。"""
    require_scope(request, SCOPE)
    return _out(shop_object_or_404(WebhookEndpoint.objects.all(), request, pk=webhook_id))


@router.delete(
    "/webhooks/{webhook_id}",
    response={204: None, 404: ErrorOut, 422: ErrorOut, **COMMON_ERRORS},
    summary="删除 Webhook 接收地址",
)
def webhook_delete(request: HttpRequest, webhook_id: int):
    """删除接收地址及其推送记录；不再向它推送。其他店铺的编号返回 404。"""
    require_scope(request, SCOPE)
    endpoint = shop_object_or_404(WebhookEndpoint.objects.select_related("shop"), request, pk=webhook_id)
    webhook_endpoint_delete(endpoint=endpoint, user=api_actor(request))
    return HttpResponse(status=204)


def _out(endpoint: WebhookEndpoint) -> dict:
    return {
        "id": endpoint.pk,
        "url": endpoint.url,
        "description": endpoint.description,
        "events": list(endpoint.events),
        "status": endpoint.status,
        "failing_since": endpoint.failing_since,
        "created_at": endpoint.created_at,
    }
