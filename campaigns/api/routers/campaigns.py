"""``/api/v1/campaigns``: list, create (with holdout, A/B test and send time), dry run with a
quote, schedule, cancel, report. Each endpoint is one of the portal's services."""

from datetime import datetime
from typing import Annotated, Literal

from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Path, Query, Router, Schema, Status
from pydantic import AfterValidator

from campaigns.api.auth import api_actor, require_role, require_scope
from campaigns.api.errors import ApiError, not_found, shop_object_or_404
from campaigns.api.idempotency import idempotent
from campaigns.api.pagination import PageParams, paginate
from campaigns.api.schemas import COMMON_ERRORS, ErrorOut, Page, ValidationErrorOut
from campaigns.models.audience import Coupon, Segment
from campaigns.models.sending import Campaign
from campaigns.results import campaign_results_report
from campaigns.services.campaign_setup import campaign_create_with_tests, campaign_quote
from campaigns.services.campaigns import campaign_cancel, campaign_schedule
from campaigns.services.scheduling import CampaignFiguresStale, campaign_schedule_confirmed, sendable_again
from campaigns.services.variants import MAX_VARIANTS, VariantInput
from reviews.models.templates import MessageTemplate, TemplateOrigin
from smsmarketing.permissions import Capability

router = Router(tags=["营销任务"])

QUOTE_CHANGED = "QUOTE-CHANGED"
MAX_ID = 2**63 - 1  # ids are bigint: a larger one is no object, never a database error


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL: refused as bad input (422), not a database error.
    if "\x00" in value:
        raise ValueError(_("不能包含空字符（\\u0000）"))
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


# --- schemas ----------------------------------------------------------------------------------


class VariantIn(Schema):
    text: Text = Field("", description="版本的短信内容（短信营销）；与 template_id 二选一")
    template_id: Id | None = Field(None, description="版本使用的已审核模板（定向优惠券）")


class AbTestIn(Schema):
    variants: list[VariantIn] = Field(
        ...,
        min_length=1,
        max_length=MAX_VARIANTS - 1,
        description="其他版本（B–E，1–4 个）；版本 A 是任务本身的内容",
    )
    test_percent: int = Field(20, ge=2, le=100, description="测试人群比例（%），平分给各版本")
    test_hours: int = Field(4, ge=1, le=168, description="测试时长（小时），结束后胜出版本发给其余客户")
    metric: Literal["clicks", "orders"] = Field(
        "clicks", description=("胜出指标：clicks 独立点击率，orders 归因下单率")
    )


class CampaignIn(Schema):
    kind: Literal["marketing", "coupon", "repurchase"] = Field(
        ..., description="任务类型：marketing 短信营销，coupon 定向优惠券，repurchase 复购提醒"
    )
    name: Text = Field(..., min_length=1, max_length=64, description="任务名称")
    text: Text = Field("", max_length=1000, description="短信内容（不含签名和退订语）；与 template_id 二选一")
    template_id: Id | None = Field(None, description="已审核通过的本店模板或官方模板（定向优惠券必填）")
    segment_id: Id | None = Field(None, description="目标人群；为空时发给全部客户")
    coupon_id: Id | None = Field(None, description="优惠券（定向优惠券必填）")
    products: list[Annotated[Text, Field(max_length=128)]] = Field(
        default_factory=list, max_length=100, description="复购提醒的商品"
    )
    days_since_purchase: int | None = Field(None, ge=1, le=3650, description="复购提醒：距上次购买的天数")
    holdout_percent: int = Field(
        0, ge=0, le=50, description=("对照组比例（0–50%）：这部分客户不发送，用于衡量增量效果")
    )
    ab_test: AbTestIn | None = Field(None, description="A/B 测试（仅短信营销和定向优惠券）")
    schedule: bool = Field(False, description="创建后立即排期（send_at 为空表示立即发送）")
    send_at: datetime | None = Field(
        None, description=("发送时间（ISO-8601，带时区）；填写即表示创建后按此时间排期")
    )


class VariantOut(Schema):
    name: str = Field(..., description="版本名 A–E")
    text: str = Field(..., description="版本的短信内容（使用模板时为空）")
    template_id: int | None = Field(None, description="版本使用的模板")
    winner: bool = Field(..., description="是否为胜出版本")


class CampaignOut(Schema):
    id: int = Field(..., description="营销任务 ID")
    kind: str = Field(..., description="任务类型：marketing 短信营销，coupon 定向优惠券，repurchase 复购提醒")
    name: str = Field(..., description="任务名称")
    status: str = Field(
        ...,
        description=(
            "draft 草稿，scheduled 已排期，running 发送中，completed 已完成，cancelled 已取消，stopped 已停止"
        ),
    )
    text: str = Field(..., description="短信内容（使用模板时为空）")
    template_id: int | None = Field(None, description="使用的模板")
    segment_id: int | None = Field(None, description="目标人群；为空表示全部客户")
    coupon_id: int | None = Field(None, description="优惠券")
    products: list[str] = Field(..., description="复购提醒的商品")
    days_since_purchase: int | None = Field(None, description="复购提醒：距上次购买的天数")
    holdout_percent: int = Field(..., description="对照组比例（%）")
    ab_test_percent: int = Field(..., description="A/B 测试人群比例（%）")
    ab_test_hours: int = Field(..., description="A/B 测试时长（小时）")
    ab_metric: str = Field(..., description="胜出指标：clicks 独立点击率，orders 归因下单率")
    variants: list[VariantOut] = Field(..., description="A/B 测试的版本；没有 A/B 测试时为空")
    scheduled_at: datetime | None = Field(None, description="计划发送时间")
    created_at: datetime = Field(..., description="创建时间")
    started_at: datetime | None = Field(None, description="开始发送的时间")
    finished_at: datetime | None = Field(None, description="结束的时间")


class WhenIn(Schema):
    send_at: datetime | None = Field(None, description="发送时间（ISO-8601，带时区）；为空表示立即")


class ScheduleIn(WhenIn):
    quote: Text | None = Field(
        None,
        max_length=4000,
        description=(
            "试算返回的 quote：传入时若试算结果已变化则拒绝排期（409 QUOTE-CHANGED），与后台的确认页相同"
        ),
    )


class SuppressedOut(Schema):
    reason: str = Field(..., description="原因编号，如 OPTED-OUT、FREQ-SHOP-2DAY")
    count: int = Field(..., description="人数")


class SendableAgainOut(Schema):
    reason: str = Field(..., description="频次规则编号")
    at: datetime = Field(..., description="这些客户最早可再次发送的时间")
    count: int = Field(..., description="人数")


class AbPlanOut(Schema):
    test_sendable: int = Field(..., description="测试人群中可发送的人数")
    test_parts: int = Field(..., description="测试人群需要的条数")
    rest_sendable: int = Field(..., description="其余客户中可发送的人数（测试结束后发送胜出版本）")
    rest_parts_most: int = Field(..., description="其余客户最多需要的条数（胜出版本未知，按最长的版本计）")


class DryRunOut(Schema):
    recipients: int = Field(..., description="目标客户数")
    sendable: int = Field(..., description="可发送人数")
    suppressed: list[SuppressedOut] = Field(..., description="按原因统计的过滤人数")
    holdout: int = Field(..., description="对照组人数（不发送）")
    parts: int = Field(..., description="需要的条数")
    balance: int = Field(..., description="当前余量（条）")
    balance_after: int = Field(..., description="发送后的余量（条）")
    coupons_left: int | None = Field(None, description="剩余优惠券张数")
    send_at: datetime = Field(..., description="实际发送时间（已按营销时段 08:00–21:00 顺延）")
    ruleset: str = Field(..., description="所用频次规则集")
    sendable_again: list[SendableAgainOut] = Field(..., description="被频次规则过滤的客户最早何时可再次发送")
    ab_plan: AbPlanOut | None = Field(None, description="A/B 测试的两次发送；没有 A/B 测试时为空")
    quote: str | None = Field(
        None, description="草稿的试算凭证：排期时传回，结果有变化则拒绝排期；已排期的任务为空"
    )


class VariantReportOut(Schema):
    name: str = Field(..., description="版本名 A–E")
    recipients: int = Field(..., description="收到该版本的人数")
    delivered: int = Field(..., description="发送成功数")
    unique_clicks: int = Field(..., description="有真人点击的短信数")
    attributed_orders: int = Field(..., description="归因订单数")
    attributed_revenue: str | None = Field(None, description="归因收入（元）")
    winner: bool = Field(..., description="是否为胜出版本")


# The keys of ``manage.py campaign_report --json`` (docs/RESULTS.md): amounts in yuan as strings.
class ReportOut(Schema):
    recipients: int = Field(..., description="目标客户数（含对照组）")
    holdout: int = Field(..., description="对照组人数")
    sent: int = Field(..., description="已发送数")
    delivered: int = Field(..., description="发送成功数")
    failed: int = Field(..., description="发送失败数")
    clicks: int = Field(..., description="真人点击次数")
    unique_clicks: int = Field(..., description="有真人点击的短信数")
    attributed_orders: int = Field(..., description="归因订单数（最后触达）")
    attributed_revenue: str | None = Field(None, description="归因收入（元）")
    sent_group_orders: int = Field(..., description="发送组在比较窗口内的订单数")
    sent_group_revenue: str | None = Field(None, description="发送组在比较窗口内的收入（元）")
    holdout_orders: int = Field(..., description="对照组在比较窗口内的订单数")
    holdout_revenue: str | None = Field(None, description="对照组在比较窗口内的收入（元）")
    incremental_revenue: str | None = Field(None, description="增量收入（元）；无对照组时为空")
    parts_charged: int = Field(..., description="已扣费条数")
    cost_yuan: str | None = Field(None, description="花费（元）")
    roi: str | None = Field(None, description="投资回报率；无花费时为空")
    variants: list[VariantReportOut] = Field(..., description="A/B 测试各版本的效果")


class CampaignFilter(Schema):
    status: Literal["draft", "scheduled", "running", "completed", "cancelled", "stopped"] | None = Field(
        None, description="按状态筛选"
    )
    kind: Literal["marketing", "coupon", "repurchase"] | None = Field(None, description="按类型筛选")


# --- helpers ----------------------------------------------------------------------------------


def _aware(at: datetime | None) -> datetime | None:
    """A time without an offset is Beijing time (TIME_ZONE), as the orders' times are."""
    if at is not None and timezone.is_naive(at):
        return timezone.make_aware(at, timezone.get_default_timezone())
    return at


def _campaign(request: HttpRequest, campaign_id: int) -> Campaign:
    campaign = shop_object_or_404(Campaign.objects.select_related("shop__category"), request, pk=campaign_id)
    return campaign


def _reference(request: HttpRequest, model, object_id: int | None, **extra):
    """A referenced object of the key's shop, or 404 (another shop's is unknown here)."""
    if object_id is None:
        return None
    return shop_object_or_404(model.objects.filter(**extra), request, pk=object_id)


def _template(request: HttpRequest, template_id: int | None) -> MessageTemplate | None:
    """The shop's own template or an official one (whether it may be used is the service's check)."""
    if template_id is None:
        return None
    found = (
        MessageTemplate.objects.filter(pk=template_id)
        .filter(Q(origin=TemplateOrigin.OFFICIAL) | Q(shop_id=request.auth.shop_id))
        .first()
    )
    if found is None:
        raise not_found()
    return found


def campaign_out(campaign: Campaign) -> dict:
    return {
        "id": campaign.pk,
        "kind": campaign.kind,
        "name": campaign.name,
        "status": campaign.status,
        "text": campaign.text,
        "template_id": campaign.template_id,
        "segment_id": campaign.segment_id,
        "coupon_id": campaign.coupon_id,
        "products": campaign.products,
        "days_since_purchase": campaign.days_since_purchase,
        "holdout_percent": campaign.holdout_percent,
        "ab_test_percent": campaign.ab_test_percent,
        "ab_test_hours": campaign.ab_test_hours,
        "ab_metric": str(campaign.ab_metric),
        "variants": [
            {"name": v.name, "text": v.text, "template_id": v.template_id, "winner": v.won_at is not None}
            for v in campaign.variants.all()
        ],
        "scheduled_at": campaign.scheduled_at,
        "created_at": campaign.created_at,
        "started_at": campaign.started_at,
        "finished_at": campaign.finished_at,
    }


# --- endpoints --------------------------------------------------------------------------------

CAMPAIGN_ERRORS = {404: ErrorOut, 409: ErrorOut, 422: ValidationErrorOut, **COMMON_ERRORS}


@router.get(
    "/campaigns",
    response={200: Page[CampaignOut], 422: ValidationErrorOut, **COMMON_ERRORS},
    summary="营销任务列表",
    description="本店铺的营销任务，最新的在前，游标分页（需要 campaigns 权限）。",
    operation_id="campaigns_list",
)
def campaigns_list(request: HttpRequest, filters: Query[CampaignFilter], params: Query[PageParams]):
    require_scope(request, "campaigns")
    campaigns = Campaign.objects.filter(shop_id=request.auth.shop_id).prefetch_related("variants")
    if filters.status:
        campaigns = campaigns.filter(status=filters.status)
    if filters.kind:
        campaigns = campaigns.filter(kind=filters.kind)
    page = paginate(campaigns, cursor=params.cursor, limit=params.limit)
    return Status(200, {"items": [campaign_out(c) for c in page["items"]], "next": page["next"]})


@router.post(
    "/campaigns",
    response={201: CampaignOut, **CAMPAIGN_ERRORS},
    summary="新建营销任务",
    description=(
        "新建营销任务（需要 campaigns 权限），内容检查、模板、优惠券、对照组和 A/B 测试的规则与后台相同；"
        "任何一项不通过则什么都不创建。"
        "schedule 为 true 或填写 send_at 时创建后立即排期（排期的规则同 /schedule）。"
        "引用其他店铺或不存在的人群、模板、优惠券返回 404。"
    ),
    operation_id="campaigns_create",
)
@idempotent
def campaigns_create(request: HttpRequest, body: CampaignIn):
    require_scope(request, "campaigns")
    shop = request.auth.shop
    ab = body.ab_test
    variants = (
        [VariantInput(text=v.text, template=_template(request, v.template_id)) for v in ab.variants]
        if ab
        else []
    )
    campaign = campaign_create_with_tests(
        shop=shop,
        user=api_actor(request),
        kind=body.kind,
        name=body.name,
        segment=_reference(request, Segment, body.segment_id, archived_at__isnull=True),
        text=body.text,
        template=_template(request, body.template_id),
        coupon=_reference(request, Coupon, body.coupon_id),
        products=body.products,
        days_since_purchase=body.days_since_purchase,
        holdout_percent=body.holdout_percent,
        variants=variants,
        test_percent=ab.test_percent if ab else None,
        test_hours=ab.test_hours if ab else None,
        metric=ab.metric if ab else None,
        schedule=body.schedule or body.send_at is not None,
        send_at=_aware(body.send_at),
    )
    return Status(201, campaign_out(campaign))


@router.get(
    "/campaigns/{campaign_id}",
    response={200: CampaignOut, 404: ErrorOut, 422: ValidationErrorOut, **COMMON_ERRORS},
    summary="营销任务详情",
    operation_id="campaigns_get",
)
def campaigns_get(request: HttpRequest, campaign_id: Path[Id]):
    require_scope(request, "campaigns")
    return Status(200, campaign_out(_campaign(request, campaign_id)))


@router.post(
    "/campaigns/{campaign_id}/dry-run",
    response={200: DryRunOut, **CAMPAIGN_ERRORS},
    summary="试算",
    description=(
        "发送会怎样：目标客户、按原因的过滤人数、对照组、"
        "需要的条数和发送后的余量、实际发送时间（需要 campaigns 权限）。"
        "不计数、不预占。草稿的试算返回 quote，"
        "排期时传回即可在结果变化时拒绝排期；已排期的任务按其发送时间试算。"
    ),
    operation_id="campaigns_dry_run",
)
@idempotent
def campaigns_dry_run(request: HttpRequest, campaign_id: Path[Id], body: WhenIn | None = None):
    require_scope(request, "campaigns")
    campaign = _campaign(request, campaign_id)
    require_role(request, Capability.OPERATE)
    quote = campaign_quote(campaign=campaign, at=_aware(body.send_at) if body else None)
    dry = quote.dry
    ab_plan = None
    if dry.ab_rest_parts:
        ab_plan = {
            "test_sendable": dry.ab_test_sendable,
            "test_parts": dry.ab_test_parts,
            "rest_sendable": dry.ab_rest_sendable,
            "rest_parts_most": dry.ab_rest_parts_most,
        }
    figures = {
        "recipients": dry.recipients,
        "sendable": dry.sendable,
        "suppressed": [{"reason": r, "count": n} for r, n in dry.suppressed_by_reason],
        "holdout": dry.holdout,
        "parts": dry.parts,
        "balance": dry.balance,
        "balance_after": dry.balance_after,
        "coupons_left": dry.coupons_left,
        "send_at": dry.at,
        "ruleset": dry.ruleset,
        "sendable_again": [{"reason": s.reason, "at": s.at, "count": s.count} for s in sendable_again(dry)],
        "ab_plan": ab_plan,
        "quote": quote.token,
    }
    return Status(200, figures)


@router.post(
    "/campaigns/{campaign_id}/schedule",
    response={200: CampaignOut, **CAMPAIGN_ERRORS},
    summary="排期",
    description=(
        "排期草稿：send_at 为空表示立即发送，"
        "营销时段（08:00–21:00）外的时间顺延到时段开始（需要 campaigns 权限）。"
        "需要审核通过的签名和已开通的短信账户。传入试算的 quote 时，"
        "若人数、条数、余量、内容或发送时间与试算不同，"
        "返回 409 QUOTE-CHANGED 且不排期，与后台的确认页相同。"
    ),
    operation_id="campaigns_schedule",
)
@idempotent
def campaigns_schedule(request: HttpRequest, campaign_id: Path[Id], body: ScheduleIn | None = None):
    require_scope(request, "campaigns")
    campaign = _campaign(request, campaign_id)
    at = _aware(body.send_at) if body else None
    if body is not None and body.quote:
        try:
            campaign, _check = campaign_schedule_confirmed(
                campaign=campaign, user=api_actor(request), at=at, figures=body.quote
            )
        except CampaignFiguresStale as exc:
            raise ApiError(409, QUOTE_CHANGED, exc.message) from exc
    else:
        campaign = campaign_schedule(campaign=campaign, user=api_actor(request), at=at)
    return Status(200, campaign_out(campaign))


@router.post(
    "/campaigns/{campaign_id}/cancel",
    response={200: CampaignOut, **CAMPAIGN_ERRORS},
    summary="取消",
    description="取消草稿或已排期的任务（需要 campaigns 权限）；已开始发送的任务不能取消（409）。",
    operation_id="campaigns_cancel",
)
@idempotent
def campaigns_cancel(request: HttpRequest, campaign_id: Path[Id]):
    require_scope(request, "campaigns")
    campaign = campaign_cancel(campaign=_campaign(request, campaign_id), user=api_actor(request))
    return Status(200, campaign_out(campaign))


@router.get(
    "/campaigns/{campaign_id}/report",
    response={200: ReportOut, 404: ErrorOut, 422: ValidationErrorOut, **COMMON_ERRORS},
    summary="效果报告",
    description=(
        "与 manage.py campaign_report --json 相同的字段："
        "发送漏斗、真人点击、归因订单和收入、对照组比较、花费与 ROI，"
        "金额为以元为单位的字符串（需要 reports 权限）。"
    ),
    operation_id="campaigns_report",
)
def campaigns_report(request: HttpRequest, campaign_id: Path[Id]):
    require_scope(request, "reports")
    return Status(200, campaign_results_report(campaign=_campaign(request, campaign_id)))
