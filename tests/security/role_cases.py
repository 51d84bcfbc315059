"""What each shop role may do: the registry the role matrix (test_role_matrix.py) checks.

``ROUTE_ROLES``: every merchant URL (by its namespaced name) with the capability a GET and a
POST need. ``SERVICE_CASES``: every service entry point that takes the acting member (``user``,
``by`` or ``actor``), with the capability it needs and a call that succeeds for a role holding
it. ``EXEMPT``: the public service functions taking such an argument that are not a merchant's
entry point (the platform's operators and reviewers, the system, inner helpers), with why.

The matrix fails for a merchant URL missing from ``ROUTE_ROLES`` and for a public service
function taking ``user``/``by``/``actor`` that is neither a case nor exempt, so a new page or
service cannot slip through without its rule.
"""

from __future__ import annotations

import importlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

import smsmarketing.services.accounts as accounts
import smsmarketing.services.spend_limits as spend_limits
from campaigns.models import (
    Campaign,
    CampaignRun,
    CampaignVariant,
    CustomerImport,
    VerifiedPhone,
    WebhookDelivery,
    WebhookEndpoint,
)
from campaigns.models.api import ApiKey
from campaigns.services import (
    api_keys,
    audience,
    campaign_setup,
    campaigns,
    importing,
    links,
    optouts,
    scheduling,
    spend_pause,
    variants,
    webhooks,
)
from reviews.services import signatures, templates
from smsmarketing.models import RechargePackage
from smsmarketing.permissions import Capability
from smsmarketing.services import members, notifications
from tests.campaigns.campaign_fixtures import MARKETING_TEXT
from tests.security.conftest import TEMPLATE_TEXT

# The module, not the function of the same name that smsmarketing.services re-exports.
recharge = importlib.import_module("smsmarketing.services.recharge")

READ, OPERATE, BILLING, MEMBERS, INTEGRATIONS = (
    Capability.READ,
    Capability.OPERATE,
    Capability.BILLING,
    Capability.MEMBERS,
    Capability.INTEGRATIONS,
)

# --- portal pages: url name -> (capability of a GET, capability of a POST) ----------------------

ROUTE_ROLES: dict[str, tuple[Capability, Capability]] = {
    "portal:dashboard": (READ, READ),
    "portal:account": (READ, READ),
    "portal:account_activate": (BILLING, BILLING),
    "portal:account_threshold": (BILLING, BILLING),
    "portal:account_spend_limits": (BILLING, BILLING),
    "portal:account_recharge": (BILLING, BILLING),
    "portal:account_recharge_confirm": (BILLING, BILLING),
    "portal:account_recharges": (READ, READ),
    "portal:account_issuances": (READ, READ),
    "portal:account_consumption": (READ, READ),
    "reviews:signature": (READ, OPERATE),
    "reviews:signature_check": (OPERATE, OPERATE),
    "reviews:signature_withdraw": (OPERATE, OPERATE),
    "reviews:punctuation": (OPERATE, OPERATE),
    "reviews:templates": (READ, READ),
    "reviews:template_new": (OPERATE, OPERATE),
    "reviews:template_check": (OPERATE, OPERATE),
    "reviews:template_edit": (OPERATE, OPERATE),
    "reviews:template_withdraw": (OPERATE, OPERATE),
    "campaigns:links": (READ, OPERATE),
    "campaigns:customers": (READ, READ),
    "campaigns:customers_import": (OPERATE, OPERATE),
    "campaigns:customers_import_job": (READ, READ),
    "campaigns:customers_import_progress": (READ, READ),
    "campaigns:customers_import_confirm": (OPERATE, OPERATE),
    "campaigns:customers_import_cancel": (OPERATE, OPERATE),
    "campaigns:segments": (READ, OPERATE),
    "campaigns:segment_count": (OPERATE, OPERATE),
    "campaigns:segment_members": (READ, READ),
    "campaigns:segment_edit": (OPERATE, OPERATE),
    "campaigns:segment_delete": (OPERATE, OPERATE),
    "campaigns:coupons": (READ, OPERATE),
    "campaigns:list": (READ, READ),
    "campaigns:new": (OPERATE, OPERATE),
    "campaigns:variant_check": (OPERATE, OPERATE),
    "campaigns:detail": (READ, READ),
    "campaigns:edit": (OPERATE, OPERATE),
    "campaigns:copy": (OPERATE, OPERATE),
    "campaigns:dry_run": (OPERATE, OPERATE),
    "campaigns:progress": (READ, READ),
    "campaigns:schedule": (OPERATE, OPERATE),
    "campaigns:cancel": (OPERATE, OPERATE),
    "campaigns:stop": (OPERATE, OPERATE),
    "campaigns:resume": (BILLING, BILLING),
    "campaigns:send_test": (OPERATE, OPERATE),
    "campaigns:test_phone_request": (OPERATE, OPERATE),
    "campaigns:test_phone_confirm": (OPERATE, OPERATE),
    "campaigns:export": (READ, READ),
    "campaigns:export_clicks": (READ, READ),
    "campaigns:export_orders": (READ, READ),
    "campaigns:ab_pick": (OPERATE, OPERATE),
    "campaigns:optouts": (READ, READ),
    "campaigns:optouts_export": (READ, READ),
    "campaigns:archives": (READ, READ),
    "campaigns:archive_download": (READ, READ),
    "campaigns:optouts_resubscribe": (OPERATE, OPERATE),
    "campaigns:webhooks": (READ, INTEGRATIONS),
    "campaigns:webhook_detail": (READ, READ),
    "campaigns:webhook_delete": (INTEGRATIONS, INTEGRATIONS),
    "campaigns:webhook_resend": (INTEGRATIONS, INTEGRATIONS),
    "campaigns:api_keys": (READ, INTEGRATIONS),
    "campaigns:api_key_revoke": (INTEGRATIONS, INTEGRATIONS),
    # 成员管理: every member sees the team, the owner changes it.
    "portal:members": (READ, READ),
    "portal:member_invite": (MEMBERS, MEMBERS),
    "portal:member_role": (MEMBERS, MEMBERS),
    "portal:member_remove": (MEMBERS, MEMBERS),
    # A member's own inbox and notification settings.
    "portal:notifications": (READ, READ),
    "portal:notification_read": (READ, READ),
    "portal:notifications_read_all": (READ, READ),
    "portal:notification_settings": (READ, READ),
}

# --- service entry points -------------------------------------------------------------------


@dataclass
class ServiceCase:
    """``call(world, ctx, user)`` runs the entry point as ``user``; ``setup(world)`` (as the
    owner, before the rows are compared) returns the ``ctx`` it needs. ``ok_rules``: refusals
    other than the role's that a permitted role may meet (the call's own state rules)."""

    function: Callable[..., Any]
    capability: Capability
    call: Callable[[Any, Any, Any], Any]
    setup: Callable[[Any], Any] = lambda world: None
    ok_rules: frozenset[str] = field(default_factory=frozenset)

    @property
    def name(self) -> str:
        return f"{self.function.__module__}.{self.function.__name__}"


def _package() -> RechargePackage:
    return RechargePackage.objects.filter(active=True).order_by("units").first()


def _draft(world) -> Campaign:
    return campaigns.campaign_create(
        shop=world.alice_shop, user=_owner(world), kind="marketing", name="权限草稿", text=MARKETING_TEXT
    )


def _scheduled(world) -> Campaign:
    draft = _draft(world)
    return campaigns.campaign_schedule(
        campaign=draft, user=_owner(world), at=timezone.now() + timedelta(hours=2)
    )


def _spend_paused(world) -> Campaign:
    """A running campaign whose run a spending limit paused (docs/SPEND_LIMITS.md)."""
    draft = _draft(world)
    Campaign.objects.filter(pk=draft.pk).update(status=Campaign.Status.RUNNING, started_at=timezone.now())
    CampaignRun.objects.create(
        campaign=draft,
        status=CampaignRun.Status.PAUSED,
        spend_paused="day",
        spend_resume_at=timezone.now() + timedelta(days=1),
    )
    return draft


def _owner(world):
    """Alice, the world's first owner (the member who sets the scene)."""
    return world.alice_shop.memberships.filter(role="owner").order_by("pk").first().user


def _verified(world, *, code: str = "") -> str:
    phone = "13900139000"
    VerifiedPhone.objects.update_or_create(
        shop=world.alice_shop,
        phone=phone,
        defaults={
            "verified_at": None if code else timezone.now(),
            "code_hash": campaigns._code_hash(phone=phone, code=code) if code else "",
            "code_sent_at": timezone.now(),
            "attempts": 0,
        },
    )
    return phone


def _segment(world):
    return audience.segment_save(shop=world.alice_shop, user=_owner(world), name="待删人群", tags_any=["X"])


def _checked_import(world) -> CustomerImport:
    """A checked upload waiting for its confirmation (as the portal leaves it)."""
    job = CustomerImport.objects.create(shop=world.alice_shop, filename="权限.csv")
    importing.customer_import_check(job_id=job.pk, stream=io.BytesIO(CSV))
    job.refresh_from_db()
    return job


def _signature_free(world) -> None:
    signatures.signature_withdraw(shop=world.alice_shop, by=_owner(world))


OTHER_TEXT = "夏季新品上架，全场满299元减40元，欢迎进店选购。"
CSV = "手机号,姓名\n13900139001,权限\n".encode()

SERVICE_CASES: list[ServiceCase] = [
    # 店主 only: the account and its money.
    ServiceCase(
        accounts.account_activate,
        BILLING,
        lambda w, c, u: accounts.account_activate(shop=w.alice_shop, user=u, accept_terms=True),
    ),
    ServiceCase(
        accounts.account_set_low_balance_threshold,
        BILLING,
        lambda w, c, u: accounts.account_set_low_balance_threshold(shop=w.alice_shop, user=u, threshold=50),
    ),
    ServiceCase(
        spend_limits.account_set_spend_limits,
        BILLING,
        lambda w, c, u: spend_limits.account_set_spend_limits(
            shop=w.alice_shop, user=u, daily=1_000, monthly=None
        ),
    ),
    ServiceCase(
        spend_pause.campaign_resume,
        BILLING,
        lambda w, c, u: spend_pause.campaign_resume(campaign=c, user=u),
        setup=_spend_paused,
    ),
    ServiceCase(
        recharge.recharge_order_create,
        BILLING,
        lambda w, c, u: recharge.recharge_order_create(shop=w.alice_shop, user=u, package_id=_package().pk),
    ),
    ServiceCase(
        recharge.recharge,
        BILLING,
        lambda w, c, u: recharge.recharge(shop=w.alice_shop, user=u, package_id=_package().pk),
    ),
    # 运营 and 店主: the signature and templates.
    ServiceCase(
        signatures.signature_submit,
        OPERATE,
        lambda w, c, u: signatures.signature_submit(shop=w.alice_shop, text="爱丽丝女装", by=u),
        setup=_signature_free,
    ),
    ServiceCase(
        signatures.signature_withdraw,
        OPERATE,
        lambda w, c, u: signatures.signature_withdraw(shop=w.alice_shop, by=u),
    ),
    ServiceCase(
        templates.template_submit,
        OPERATE,
        lambda w, c, u: templates.template_submit(
            shop=w.alice_shop,
            by=u,
            name="权限模板",
            use="coupon",
            message_class="marketing",
            text=TEMPLATE_TEXT,
        ),
    ),
    ServiceCase(
        templates.template_withdraw,
        OPERATE,
        lambda w, c, u: templates.template_withdraw(shop=w.alice_shop, template=w.template, by=u),
    ),
    # 运营 and 店主: customers, segments, coupons, links, opt-outs.
    ServiceCase(
        audience.segment_save,
        OPERATE,
        lambda w, c, u: audience.segment_save(shop=w.alice_shop, user=u, name="权限人群", tags_any=["VIP"]),
    ),
    ServiceCase(
        audience.segment_delete,
        OPERATE,
        lambda w, c, u: audience.segment_delete(shop=w.alice_shop, user=u, segment=c),
        setup=_segment,
    ),
    ServiceCase(
        audience.coupon_create,
        OPERATE,
        lambda w, c, u: audience.coupon_create(
            shop=w.alice_shop,
            user=u,
            name="权限券",
            amount=Decimal("5"),
            threshold=Decimal("50"),
            valid_from=timezone.now(),
            valid_until=timezone.now() + timedelta(days=30),
            total_count=10,
        ),
    ),
    ServiceCase(
        importing.customer_import_start,
        OPERATE,
        lambda w, c, u: importing.customer_import_start(
            shop=w.alice_shop, user=u, upload=SimpleUploadedFile("权限.csv", CSV, content_type="text/csv")
        ),
    ),
    ServiceCase(
        importing.customers_import,
        OPERATE,
        lambda w, c, u: importing.customers_import(shop=w.alice_shop, stream=io.BytesIO(CSV), user=u),
    ),
    ServiceCase(
        importing.customer_import_confirm,
        OPERATE,
        lambda w, c, u: importing.customer_import_confirm(job=c, figures=c.figures, enqueue=False, user=u),
        setup=lambda w: _checked_import(w),
    ),
    ServiceCase(
        importing.customer_import_cancel,
        OPERATE,
        lambda w, c, u: importing.customer_import_cancel(job=c, user=u),
        setup=lambda w: _checked_import(w),
    ),
    ServiceCase(
        links.shop_landing_set,
        OPERATE,
        lambda w, c, u: links.shop_landing_set(shop=w.alice_shop, user=u, landing_url=""),
    ),
    ServiceCase(
        optouts.optout_resubscribe,
        OPERATE,
        lambda w, c, u: optouts.optout_resubscribe(
            shop_id=w.alice_shop.pk, phone="13800130007", consent_note="客户来电同意恢复订阅，已记录", actor=u
        ),
    ),
    # 运营 and 店主: campaigns.
    ServiceCase(
        campaigns.campaign_create,
        OPERATE,
        lambda w, c, u: campaigns.campaign_create(
            shop=w.alice_shop, user=u, kind="marketing", name="权限任务", text=MARKETING_TEXT
        ),
    ),
    ServiceCase(
        campaign_setup.campaign_create_with_tests,
        OPERATE,
        lambda w, c, u: campaign_setup.campaign_create_with_tests(
            shop=w.alice_shop, user=u, kind="marketing", name="权限任务", text=MARKETING_TEXT
        ),
    ),
    ServiceCase(
        campaigns.campaign_update,
        OPERATE,
        lambda w, c, u: campaigns.campaign_update(campaign=c, user=u, name="改名", text=MARKETING_TEXT),
        setup=_draft,
    ),
    ServiceCase(
        campaigns.campaign_schedule,
        OPERATE,
        lambda w, c, u: campaigns.campaign_schedule(
            campaign=c, user=u, at=timezone.now() + timedelta(hours=1)
        ),
        setup=_draft,
    ),
    ServiceCase(
        scheduling.campaign_schedule_confirmed,
        OPERATE,
        lambda w, c, u: scheduling.campaign_schedule_confirmed(
            campaign=c[0],
            user=u,
            at=c[1],
            figures=campaign_setup.campaign_quote(campaign=c[0], at=c[1]).token,
        ),
        setup=lambda w: (_draft(w), timezone.now() + timedelta(hours=1)),
    ),
    ServiceCase(
        campaigns.campaign_cancel,
        OPERATE,
        lambda w, c, u: campaigns.campaign_cancel(campaign=c, user=u),
        setup=_scheduled,
    ),
    ServiceCase(
        campaigns.campaign_stop,
        OPERATE,
        lambda w, c, u: campaigns.campaign_stop(campaign=c, user=u),
        setup=_scheduled,
    ),
    ServiceCase(
        campaigns.campaign_send_test,
        OPERATE,
        lambda w, c, u: campaigns.campaign_send_test(campaign=c[0], user=u, phone=c[1]),
        setup=lambda w: (_draft(w), _verified(w)),
    ),
    ServiceCase(
        campaigns.verified_phone_request,
        OPERATE,
        lambda w, c, u: campaigns.verified_phone_request(shop=w.alice_shop, user=u, phone="13900139002"),
    ),
    ServiceCase(
        campaigns.verified_phone_confirm,
        OPERATE,
        lambda w, c, u: campaigns.verified_phone_confirm(shop=w.alice_shop, user=u, phone=c, code="123456"),
        setup=lambda w: _verified(w, code="123456"),
    ),
    ServiceCase(
        variants.campaign_holdout_set,
        OPERATE,
        lambda w, c, u: variants.campaign_holdout_set(campaign=c, user=u, percent=5),
        setup=_draft,
    ),
    ServiceCase(
        variants.campaign_variants_set,
        OPERATE,
        lambda w, c, u: variants.campaign_variants_set(
            campaign=c,
            user=u,
            variants=[variants.VariantInput(text=MARKETING_TEXT), variants.VariantInput(text=OTHER_TEXT)],
        ),
        setup=_draft,
    ),
    ServiceCase(
        variants.ab_winner_pick,
        OPERATE,
        lambda w, c, u: variants.ab_winner_pick(campaign=w.campaign, user=u, variant=c),
        setup=lambda w: CampaignVariant.objects.get_or_create(
            campaign=w.campaign, name="A", defaults={"text": MARKETING_TEXT}
        )[0],
        # The world's campaign is a finished one without an A/B test: the pick itself is refused
        # for its state; the role is checked before that.
        ok_rules=frozenset({"CAMPAIGN-INVALID", "CAMPAIGN-STATE", "AB-TEST-DECIDED"}),
    ),
    # 店主 only: the open API's keys and the webhooks.
    ServiceCase(
        api_keys.api_key_create,
        INTEGRATIONS,
        lambda w, c, u: api_keys.api_key_create(
            shop=w.alice_shop, user=u, name="权限密钥", scopes=["orders"]
        ),
    ),
    ServiceCase(
        api_keys.api_key_revoke,
        INTEGRATIONS,
        lambda w, c, u: api_keys.api_key_revoke(key=ApiKey.objects.get(pk=w.api_key_id()), user=u),
    ),
    ServiceCase(
        webhooks.webhook_endpoint_create,
        INTEGRATIONS,
        lambda w, c, u: webhooks.webhook_endpoint_create(
            shop=w.alice_shop, user=u, url="http://127.0.0.1:9/other", events=["optout.created"]
        ),
    ),
    ServiceCase(
        webhooks.webhook_endpoint_delete,
        INTEGRATIONS,
        lambda w, c, u: webhooks.webhook_endpoint_delete(
            endpoint=WebhookEndpoint.objects.get(pk=w.webhook_ids()[0]), user=u
        ),
    ),
    ServiceCase(
        webhooks.webhook_delivery_resend,
        INTEGRATIONS,
        lambda w, c, u: webhooks.webhook_delivery_resend(
            delivery=WebhookDelivery.objects.get(pk=w.webhook_ids()[1]), user=u
        ),
    ),
]


def _analyst(world):
    """A member to change or remove (an analyst added by the owner)."""
    return members.member_invite(
        shop=world.alice_shop, user=_owner(world), username="权限成员", role="analyst", create=True,
        password="Zq7-role-matrix-9",
    )  # fmt: skip


SERVICE_CASES += [
    # 店主 only: the team.
    ServiceCase(
        members.member_invite,
        MEMBERS,
        lambda w, c, u: members.member_invite(
            shop=w.alice_shop,
            user=u,
            username="新成员",
            role="operator",
            create=True,
            password="Zq7-role-matrix-8",
        ),  # fmt: skip
    ),
    ServiceCase(
        members.member_role_change,
        MEMBERS,
        lambda w, c, u: members.member_role_change(shop=w.alice_shop, user=u, member=c, role="operator"),
        setup=_analyst,
    ),
    ServiceCase(
        members.member_remove,
        MEMBERS,
        lambda w, c, u: members.member_remove(shop=w.alice_shop, user=u, member=c),
        setup=_analyst,
    ),
    # Every member: their own inbox and settings (READ; an outsider is refused).
    ServiceCase(
        notifications.notification_mark_read,
        READ,
        lambda w, c, u: notifications.notification_mark_read(shop=w.alice_shop, user=u, notification_id=0),
    ),
    ServiceCase(
        notifications.notifications_mark_all_read,
        READ,
        lambda w, c, u: notifications.notifications_mark_all_read(shop=w.alice_shop, user=u),
    ),
    ServiceCase(
        notifications.notification_preferences_set,
        READ,
        lambda w, c, u: notifications.notification_preferences_set(shop=w.alice_shop, user=u, choices={}),
    ),
]

# Public service functions taking user/by/actor that are not a shop member's entry point.
_PLATFORM = "the platform's operators (admin, commands) credit or correct a shop's account: no shop role"
_REVIEWERS = "the platform's content reviewers (Django permissions, smsmarketing.roles), not a shop member"
_INNER = "an inner step of a guarded entry point (the merchant's withdraw/submit) or of a reviewer's decision"
EXEMPT: dict[str, str] = {
    "smsmarketing.services.accounts.account_grant": _PLATFORM,
    "smsmarketing.services.accounts.account_grant_many": _PLATFORM,
    "smsmarketing.services.accounts.account_adjust": _PLATFORM,
    "smsmarketing.services.accounts.account_credit_recharge": "the payment's completion credits the order "
    "(recharge_order_complete, once per order); its actor is the payer recorded on the order",
    "campaigns.services.variants.ab_winner_mark": "its ``by`` is who decided (the metric or the merchant's "
    "pick, ab_winner_pick, which is guarded): called by the A/B decision task",
    "reviews.services.confusables.confusables_publish": _REVIEWERS,
    "reviews.services.confusables.confusable_add": _REVIEWERS,
    "reviews.services.patterns.pattern_publish": _REVIEWERS,
    "reviews.services.wordlists.wordlist_publish": _REVIEWERS,
    "reviews.services.templates.official_template_create": _REVIEWERS,
    "reviews.services.review.review_submission_fields": _INNER,
    "reviews.services.review.review_record": _INNER,
    "reviews.services.review.review_withdraw": _INNER,
    "reviews.services.review.review_supersede": _INNER,
}

# The packages whose modules are introspected for entry points.
SERVICE_PACKAGES = ["smsmarketing.services", "campaigns.services", "reviews.services"]
ACTOR_ARGUMENTS = ("user", "by", "actor")
