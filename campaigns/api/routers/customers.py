"""``POST /api/v1/customers``: a batch of up to 1,000 customers (``customers_upsert``)."""

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from campaigns.api.auth import require_role, require_scope
from campaigns.api.idempotency import idempotent
from campaigns.api.schemas import COMMON_ERRORS, ErrorOut, ValidationErrorOut
from campaigns.services.customers import customers_upsert
from smsmarketing.permissions import Capability

router = Router(tags=["客户"])

BATCH_MAX = 1_000


class CustomerIn(Schema):
    phone: str = Field(
        ..., description=("手机号：中国大陆 11 位手机号，可带 +86、空格或短横线，按导入的规则规范化")
    )
    name: str | None = Field(None, description="姓名，最多 64 字；为空时保留已有姓名")
    tags: list[str] | None = Field(
        None, description=("标签，每个最多 32 字、最多 20 个；追加到已有标签，不会删除")
    )


class CustomersIn(Schema):
    items: list[CustomerIn] = Field(..., max_length=BATCH_MAX, description="客户，每批最多 1,000 条")


class RejectedRow(Schema):
    index: int = Field(..., description="该行在 items 中的位置（从 0 开始）")
    code: str = Field(..., description="原因编号，如 BAD-PHONE、TOO-LONG")
    message: str = Field(..., description="中文说明")


class BatchOut(Schema):
    created: int = Field(..., description="新建的数量")
    updated: int = Field(..., description="更新的数量（已存在的手机号，或同一批中重复出现的手机号）")
    rejected: list[RejectedRow] = Field(..., description="被拒绝的行；其余行照常写入")


@router.post(
    "/customers",
    response={200: BatchOut, 422: ValidationErrorOut, 409: ErrorOut, **COMMON_ERRORS},
    summary="批量新建或更新客户",
    description=(
        "按手机号新建或更新本店铺的客户（需要 customers 权限）。每批最多 1,000 条；"
        "格式不正确的行在 rejected 中逐条说明，不影响其他行。"
        "同一手机号再次推送为更新：姓名以最新非空值为准，标签追加。"
    ),
    operation_id="customers_upsert",
)
@idempotent
def customers_post(request: HttpRequest, body: CustomersIn):
    require_scope(request, "customers")
    require_role(request, Capability.OPERATE)
    report = customers_upsert(shop=request.auth.shop, rows=[item.dict() for item in body.items])
    return Status(200, report.as_dict())
