"""GET /api/v1/account: the key's shop and its SMS account (balance, reserved, low-balance threshold)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Field, Router, Schema

from campaigns.api.schemas import COMMON_ERRORS
from smsmarketing.selectors import account_for_shop

router = Router(tags=["账户"])


class KeyOut(Schema):
    prefix: str = Field(..., description="当前密钥的前缀（sk_live_ 后 8 位），用于在日志中识别密钥")
    name: str = Field(..., description="密钥名称")
    scopes: list[str] = Field(
        ..., description="权限范围：customers、orders、campaigns、reports、webhooks 的子集"
    )


class AccountOut(Schema):
    shop_id: int = Field(..., description="店铺编号")
    shop_name: str = Field(..., description="店铺名称")
    status: str = Field(..., description="短信账户状态：active 已开通，inactive 未开通")
    balance: int = Field(..., description="可用余量（条）")
    reserved: int = Field(..., description="冻结中（条）：已预留给发送中的短信，送达后扣除、失败后退回")
    low_balance_threshold: int = Field(..., description="余量提醒阈值（条），0 表示不提醒")
    low_balance: bool = Field(..., description="可用余量是否已低于提醒阈值")
    key: KeyOut = Field(..., description="发起请求的密钥")


@router.get(
    "/account",
    response={200: AccountOut, **COMMON_ERRORS},
    summary="查询短信账户",
    operation_id="account_detail",
)
def account_detail(request: HttpRequest) -> dict:
    """返回密钥所属店铺的短信账户：可用余量、冻结中的条数和余量提醒阈值。任何权限范围的密钥都可调用。"""
    key = request.auth
    account = account_for_shop(shop=key.shop)
    threshold = account.low_balance_threshold
    return {
        "shop_id": key.shop_id,
        "shop_name": key.shop.name,
        "status": account.status,
        "balance": account.balance,
        "reserved": account.reserved,
        "low_balance_threshold": threshold,
        "low_balance": bool(threshold) and account.balance < threshold,
        "key": {"prefix": key.prefix, "name": key.name, "scopes": key.scopes},
    }
