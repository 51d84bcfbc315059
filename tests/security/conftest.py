"""A shop full of data of every kind (alice's) and a second merchant (bob) who must never reach it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pytest
import time_machine
from django.apps import apps
from django_q.scheduler import scheduler

from campaigns.models import (
    Campaign,
    CampaignVariant,
    Coupon,
    CustomerImport,
    MessageArchive,
    Segment,
    WebhookEndpoint,
)
from campaigns.models.api import ApiKey
from campaigns.services.api_keys import api_key_create
from campaigns.services.audience import segment_save
from campaigns.services.campaigns import campaign_create, campaign_schedule
from campaigns.services.optouts import optout_record
from campaigns.services.webhooks import webhook_endpoint_create
from reviews.models import MessageTemplate, Signature
from reviews.services.signatures import signature_submit
from reviews.services.templates import template_submit
from smsmarketing.models import Membership, Notification, RechargeOrder, RechargePackage
from smsmarketing.services.notifications import notify
from smsmarketing.services.recharge import recharge
from tests.campaigns.campaign_fixtures import MARKETING_TEXT, MORNING, pipeline_settings, ready_shop  # noqa: F401
from tests.factories import make_coupon

TEMPLATE_TEXT = (
    "${shop_name}会员日：送您${coupon_amount}优惠券，${coupon_threshold}，"
    "${coupon_expiry}前有效，领取：${coupon_link}"
)

NOTIFICATION_KEY = "security:alice-notification"

# Strings only alice's pages may show: her shop, signature, objects' names, a customer's phone.
SECRETS = [
    "爱丽丝服饰",
    "爱丽丝会员日",
    "爱丽丝VIP人群",
    "爱丽丝会员券",
    "夏季上新机密",
    "13800130005",
    "13800130007",
    "爱丽丝ERP",
]

# Every table a merchant's action could write to: compared before and after each refused request.
WATCHED_MODELS = [
    "smsmarketing.SmsAccount",
    "smsmarketing.LedgerEntry",
    "smsmarketing.RechargeOrder",
    "smsmarketing.Reservation",
    "smsmarketing.Membership",
    "smsmarketing.MembershipEvent",
    "smsmarketing.Notification",
    "smsmarketing.NotificationPreference",
    "smsmarketing.MailDelivery",
    "smsmarketing.Shop",
    "reviews.Signature",
    "reviews.MessageTemplate",
    "reviews.ReviewDecision",
    "campaigns.Customer",
    "campaigns.CustomerImport",
    "campaigns.Purchase",
    "campaigns.Segment",
    "campaigns.Coupon",
    "campaigns.Campaign",
    "campaigns.CampaignRun",
    "campaigns.Message",
    "campaigns.OptOut",
    "campaigns.OptOutEvent",
    "campaigns.VerifiedPhone",
    "campaigns.WebhookEndpoint",
    "campaigns.WebhookDelivery",
    "campaigns.ApiKey",
]


def snapshot() -> dict[str, list[dict]]:
    state = {}
    for label in WATCHED_MODELS:
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        state[label] = list(model.objects.order_by("pk").values())
    return state


@dataclass
class World:
    alice_shop: object
    bob_shop: object
    campaign: Campaign
    template: MessageTemplate
    segment: Segment
    coupon: Coupon
    signature: Signature
    order: RechargeOrder

    def api_key_id(self) -> int:
        return ApiKey.objects.filter(shop=self.alice_shop).values_list("pk", flat=True)[0]

    def webhook_ids(self) -> tuple[int, int]:
        """A webhook endpoint of alice's shop and one delivery of it (the Webhook pages)."""
        endpoint = WebhookEndpoint.objects.get(shop=self.alice_shop)
        return endpoint.pk, endpoint.deliveries.values_list("pk", flat=True)[0]

    def ids(self) -> dict[str, int]:
        """A value for every URL keyword of merchant pages (alice's objects)."""
        return {
            "shop_id": self.alice_shop.pk,
            "campaign_id": self.campaign.pk,
            "template_id": self.template.pk,
            "segment_id": self.segment.pk,
            # A variant row of alice's campaign, for the A/B pick page's URL (its answers are the
            # page's tests' business; here only that another shop never reaches it).
            "variant_id": CampaignVariant.objects.get_or_create(
                campaign=self.campaign, name="A", defaults={"text": MARKETING_TEXT}
            )[0].pk,
            # ready_shop imported alice's customers: her import job.
            "import_id": CustomerImport.objects.filter(shop=self.alice_shop).values_list("pk", flat=True)[0],
            # Alice's webhook endpoint and a delivery of it (the Webhook pages, resend).
            "webhook_id": self.webhook_ids()[0],
            "delivery_id": self.webhook_ids()[1],
            # An API key of alice's shop (the open API's key pages: revoke).
            "key_id": self.api_key_id(),
            # Alice's own membership (the members pages: change role, remove). Alice is the shop's
            # only owner, so even her own POSTs to it are refused (LAST-OWNER) and change nothing.
            "member_id": Membership.objects.get(shop=self.alice_shop, user__username="alice").pk,
            # An archive file row of alice's shop (its download redirects to the list with an
            # error when the file is not on disk, as here).
            "archive_id": MessageArchive.objects.get_or_create(
                shop=self.alice_shop,
                month=date(2025, 1, 1),
                defaults={"path": f"{self.alice_shop.pk}/messages-2025-01.csv.gz", "sha256": "0" * 64},
            )[0].pk,
            # Alice's notification (the inbox's "mark read"), written by the world below.
            "notification_id": Notification.objects.get(
                event_key=NOTIFICATION_KEY, recipient__username="alice"
            ).pk,
        }


@pytest.fixture
def world(ready_shop, alice, bob, bob_shop, reviewer, django_capture_on_commit_callbacks):  # noqa: F811
    shop = ready_shop
    with time_machine.travel(MORNING, tick=False):
        segment = segment_save(shop=shop, user=alice, name="爱丽丝VIP人群", tags_any=["VIP"])
        coupon = make_coupon(shop, user=alice, name="爱丽丝会员券", valid_from=MORNING)
        template = template_submit(
            shop=shop,
            by=alice,
            name="爱丽丝会员日",
            use="coupon",
            message_class="marketing",
            text=TEMPLATE_TEXT,
        )
        signature = signature_submit(shop=shop, text="爱丽丝旗舰", by=alice)  # pending change
        campaign = campaign_create(
            shop=shop, user=alice, kind="marketing", name="夏季上新机密", text=MARKETING_TEXT
        )
        campaign_schedule(campaign=campaign, user=alice, at=MORNING + timedelta(minutes=30))
    with time_machine.travel(MORNING + timedelta(minutes=31), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            scheduler()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED
    # A webhook endpoint of alice's (nothing listens on the discard port): the opt-out below is
    # its event and delivery.
    webhook_endpoint_create(shop=shop, user=alice, url="http://127.0.0.1:9/hooks", events=["optout.created"])
    optout_record(shop_id=shop.pk, phone="13800130007", keyword="TD", source="sms_reply")
    # An API key of alice's (the 开放接口 pages' revoke confirmation is its page).
    api_key_create(shop=shop, user=alice, name="爱丽丝ERP", scopes=["orders"])
    package = RechargePackage.objects.filter(active=True).order_by("units").first()
    order = recharge(shop=shop, user=alice, package_id=package.pk, request_token="alice-order")
    # A notification in alice's inbox naming her campaign (the inbox pages).
    notify(shop_id=shop.pk, kind=Notification.Kind.CAMPAIGN_FINISHED, event_key=NOTIFICATION_KEY,
           title="营销任务「夏季上新机密」已完成", body="成功 3 条。")  # fmt: skip
    return World(shop, bob_shop, campaign, template, segment, coupon, signature, order)
