"""``GET /api/v1/messages?campaign=ID[&phone=…][&status=…]``: a campaign's messages, keyset
pages in id order. Phones are returned in full, as the portal's export gives them: they are
the shop's own customers' numbers."""

from datetime import datetime
from typing import Annotated, Literal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from campaigns.api.auth import require_scope
from campaigns.api.errors import VALIDATION, ApiError, shop_object_or_404
from campaigns.api.pagination import PageParams, paginate
from campaigns.api.schemas import COMMON_ERRORS, ErrorOut, Page, ValidationErrorOut
from campaigns.models.sending import Campaign, Message
from campaigns.phones import normalize_phone
from campaigns.selectors import campaign_messages
from campaigns.services.campaigns import short_link

router = Router(tags=["短信明细"])

MAX_ID = 2**63 - 1

MessageStatus = Literal[
    "planned", "suppressed", "sending", "accepted", "delivered", "failed", "expired", "dropped", "holdout"
]


class MessageFilter(Schema):
    campaign: Annotated[int, Field(ge=1, le=MAX_ID)] = Field(..., description="营销任务 ID（必填）")
    phone: str | None = Field(None, max_length=40, description="只看这个手机号（按导入的规则规范化）")
    status: MessageStatus | None = Field(None, description="只看这个状态")


class MessageOut(Schema):
    id: int = Field(..., description="短信 ID（分页按它升序）")
    campaign_id: int = Field(..., description="营销任务 ID")
    run_id: int = Field(..., description="发送批次 ID")
    test: bool = Field(..., description="是否为测试短信（统计中不计入）")
    phone: str = Field(..., description="手机号（完整，与后台导出相同）")
    status: str = Field(
        ...,
        description=(
            "planned 待发送，suppressed 未发送（已过滤），"
            "sending 提交中，accepted 已提交，delivered 发送成功，"
            "failed 发送失败，expired 无回执，dropped 发送前取消，holdout 对照组（不发送）"
        ),
    )
    reason: str = Field(
        ...,
        description=(
            "未发送或失败的原因编号，如 OPTED-OUT、FREQ-SHOP-2DAY、INSUFFICIENT-BALANCE、"
            "SPEND-LIMIT（超出消费上限）；无则为空"
        ),
    )
    parts: int = Field(..., description="计费条数")
    settlement: str = Field(..., description="结算：none 无，pending 预占中，charged 已扣费，released 已退还")
    variant: str | None = Field(None, description="A/B 测试版本（A–E）")
    short_url: str | None = Field(None, description="这条短信专属的短链接")
    created_at: datetime = Field(..., description="计划时间")
    sent_at: datetime | None = Field(None, description="提交网关的时间")
    final_at: datetime | None = Field(None, description="收到最终回执的时间")


def message_out(message: Message) -> dict:
    return {
        "id": message.pk,
        "campaign_id": message.campaign_id,
        "run_id": message.run_id,
        "test": message.run_kind == "test",
        "phone": message.phone,
        "status": message.status,
        "reason": message.reason,
        "parts": message.parts,
        "settlement": message.settlement,
        "variant": message.variant_name,
        "short_url": short_link(message.link_code) if message.link_code else None,
        "created_at": message.created_at,
        "sent_at": message.sent_at,
        "final_at": message.final_at,
    }


@router.get(
    "/messages",
    response={200: Page[MessageOut], 404: ErrorOut, 422: ValidationErrorOut, **COMMON_ERRORS},
    summary="短信明细",
    description=(
        "一个营销任务的每条短信（含测试短信），按 ID 升序、游标分页：状态、原因编号、计费条数、短链接和时间"
        "（需要 reports 权限）。手机号完整返回，与后台导出相同。"
    ),
    operation_id="messages_list",
)
def messages_list(request: HttpRequest, filters: Query[MessageFilter], params: Query[PageParams]):
    require_scope(request, "reports")
    campaign = shop_object_or_404(Campaign.objects.all(), request, pk=filters.campaign)
    phone = None
    if filters.phone is not None:
        phone = normalize_phone(filters.phone)
        if phone is None:
            message = _("手机号格式不正确（需为中国大陆 11 位手机号）。")
            raise ApiError(422, VALIDATION, message)
    messages = campaign_messages(campaign=campaign, phone=phone, status=filters.status)
    page = paginate(messages, cursor=params.cursor, limit=params.limit, newest_first=False)
    return Status(200, {"items": [message_out(m) for m in page["items"]], "next": page["next"]})
