"""``POST /api/v1/orders``: a batch of up to 1,000 orders (``orders_upsert``), idempotent by
``order_no``: the same number again updates the order."""

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from campaigns.api.auth import require_role, require_scope
from campaigns.api.idempotency import idempotent
from campaigns.api.schemas import COMMON_ERRORS, ErrorOut, ValidationErrorOut
from campaigns.services.orders import orders_upsert
from smsmarketing.permissions import Capability

router = Router(tags=["订单"])

BATCH_MAX = 1_000


class OrderIn(Schema):
    order_no: str = Field(..., description="订单号，最多 64 个字符；店铺内唯一，再次推送同一订单号为更新")
    phone: str = Field(..., description="买家手机号：中国大陆 11 位手机号，按导入的规则规范化")
    amount: str | float = Field(..., description='实付金额（元），如 "12.50"：不小于 0，最多两位小数')
    placed_at: str = Field(
        ..., description="下单时间，ISO-8601，如 2026-06-18T20:30:00+08:00；未写时区按北京时间；不能晚于现在"
    )
    coupon_code: str | None = Field(None, description="使用的优惠券码，最多 64 个字符")
    product: str | None = Field(None, description="商品名称，最多 128 个字符（复购提醒按商品筛选）")


class OrdersIn(Schema):
    items: list[OrderIn] = Field(..., max_length=BATCH_MAX, description="订单，每批最多 1,000 条")


class RejectedRow(Schema):
    index: int = Field(..., description="该行在 items 中的位置（从 0 开始）")
    code: str = Field(..., description="原因编号，如 BAD-PHONE、BAD-AMOUNT、BAD-TIME")
    message: str = Field(..., description="中文说明")


class BatchOut(Schema):
    created: int = Field(..., description="新建的订单数")
    updated: int = Field(..., description="更新的订单数（已存在的订单号，或同一批中重复出现的订单号）")
    rejected: list[RejectedRow] = Field(..., description="被拒绝的行；其余行照常写入")


@router.post(
    "/orders",
    response={200: BatchOut, 422: ValidationErrorOut, 409: ErrorOut, **COMMON_ERRORS},
    summary="批量推送订单",
    description=(
        "新建或更新本店铺的订单（需要 orders 权限），"
        "每批最多 1,000 条。订单按订单号幂等：同一订单号再次推送为更新。"
        "订单会计入客户的购买记录，并按最后触达归因到营销短信。"
        "格式不正确的行在 rejected 中逐条说明，不影响其他行。"
    ),
    operation_id="orders_upsert",
)
@idempotent
def orders_post(request: HttpRequest, body: OrdersIn):
    require_scope(request, "orders")
    require_role(request, Capability.OPERATE)
    rows = [{k: v for k, v in item.dict().items() if v is not None} for item in body.items]
    report = orders_upsert(shop=request.auth.shop, rows=rows)
    return Status(200, report.as_dict())
