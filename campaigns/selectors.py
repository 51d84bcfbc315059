"""Reads of the campaigns app: audiences, recipients of a run, campaign statistics."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import NamedTuple

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.fields.array import ArrayOverlap
from django.core.cache import cache
from django.db.models import Exists, F, Func, OuterRef, Prefetch, Q, QuerySet, TextField
from django.utils import timezone
from django_q.models import Schedule

from campaigns.counters import campaign_hours, counter_rows
from campaigns.models.audience import Customer, Purchase, Segment
from campaigns.models.frequency import OptOut, OptOutEvent
from campaigns.models.sending import Campaign, CampaignRun, Message, MessageArchive, VerifiedPhone
from campaigns.models.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from reviews.models.review import ReviewState
from reviews.models.templates import MessageTemplate, TemplateOrigin
from reviews.selectors import live_signature, pending_signature
from smsmarketing.models import Shop, SmsAccount
from smsmarketing.selectors import account_for_shop

# --- audiences ----------------------------------------------------------------


class LowerArray(Func):
    """An array of text with every element lower-cased (PostgreSQL's lower() on each)."""

    template = "ARRAY(SELECT lower(element) FROM unnest(%(expressions)s) AS element)"
    output_field = ArrayField(TextField())



def segment_filter(*, segment: Segment | None, now: datetime | None = None) -> Q:
    """The segment's conditions over ``Customer`` (an empty segment matches everyone)."""
    now = now or timezone.now()
    q = Q()
    if segment is None:
        return q
    if segment.tags_any:
        # Tags match whatever their case (vip, VIP, Vip): merchants type them by hand.
        q &= Q(ArrayOverlap(LowerArray("tags"), sorted({tag.lower() for tag in segment.tags_any})))
    if segment.purchased_within_days is not None:
        q &= Q(last_purchase_at__gte=now - timedelta(days=segment.purchased_within_days))
    if segment.not_purchased_within_days is not None:
        q &= Q(last_purchase_at__lt=now - timedelta(days=segment.not_purchased_within_days)) | Q(
            last_purchase_at__isnull=True
        )
    if segment.min_purchases is not None:
        q &= Q(purchase_count__gte=segment.min_purchases)
    if segment.max_purchases is not None:
        q &= Q(purchase_count__lte=segment.max_purchases)
    if segment.min_total_spent is not None:
        q &= Q(total_spent__gte=segment.min_total_spent)
    if segment.max_total_spent is not None:
        q &= Q(total_spent__lte=segment.max_total_spent)
    if segment.products_any:
        q &= Q(Exists(Purchase.objects.filter(customer=OuterRef("pk"), product__in=segment.products_any)))
    return q


def segment_customers(*, segment: Segment, now: datetime | None = None) -> QuerySet[Customer]:
    return Customer.objects.filter(shop_id=segment.shop_id).filter(segment_filter(segment=segment, now=now))


def segment_count(*, segment: Segment, now: datetime | None = None) -> int:
    """The live number of customers in the segment."""
    return segment_customers(segment=segment, now=now).count()


def shop_segments(*, shop: Shop) -> QuerySet[Segment]:
    """The shop's saved segments, newest first (deleted ones kept for old campaigns excluded)."""
    return Segment.objects.filter(shop=shop, archived_at__isnull=True).order_by("-id")


def pending_templates(*, shop: Shop, use: str) -> QuerySet[MessageTemplate]:
    """The shop's custom templates of ``use`` still under review: listed (disabled) in the
    campaign form so the merchant sees why they cannot be chosen yet."""
    return MessageTemplate.objects.filter(
        shop_id=shop.pk, origin=TemplateOrigin.CUSTOM, state=ReviewState.PENDING, use=use
    ).order_by("-submitted_at", "-id")


def segment_members(*, segment: Segment, now: datetime | None = None) -> QuerySet[Customer]:
    """The segment's customers for its members page, in import order (a stable pagination)."""
    return segment_customers(segment=segment, now=now).only(
        "id", "phone", "name", "tags", "purchase_count", "total_spent", "last_purchase_at"
    ).order_by("id")


def repurchase_filter(*, products: list[str], days: int, day) -> Q:
    """Customers whose last purchase of ``products`` was on local date ``day - days``."""
    tz = timezone.get_default_timezone()
    start = datetime.combine(day - timedelta(days=days), time.min, tzinfo=tz)
    end = start + timedelta(days=1)
    bought = Purchase.objects.filter(customer=OuterRef("pk"), product__in=products)
    return Q(Exists(bought.filter(purchased_at__gte=start, purchased_at__lt=end))) & ~Q(
        Exists(bought.filter(purchased_at__gte=end))
    )


def campaign_audience(*, campaign: Campaign, day=None, now: datetime | None = None) -> QuerySet[Customer]:
    now = now or timezone.now()
    audience = Customer.objects.filter(shop_id=campaign.shop_id).filter(
        segment_filter(segment=campaign.segment, now=now)
    )
    if campaign.kind == Campaign.Kind.REPURCHASE:
        day = day or timezone.localdate(now)
        audience = audience.filter(
            repurchase_filter(products=campaign.products, days=campaign.days_since_purchase or 0, day=day)
        )
    return audience


class Recipient(NamedTuple):
    """One recipient of a run. A named tuple (immutable), not a frozen dataclass: the planner
    makes one per recipient, and a tuple is built several times faster."""

    key: int  # keyset position: the customer id (0 for a test SMS)
    customer_id: int | None
    phone: str
    name: str


def run_recipients_after(
    *, run: CampaignRun, cursor: int, limit: int | None, now: datetime | None = None, upto: int | None = None
) -> list[Recipient]:
    """The next ``limit`` recipients of a run after keyset ``cursor`` (customer id order),
    up to key ``upto`` included when given (a claimed planning batch: ``limit`` None)."""
    if run.kind == CampaignRun.Kind.TEST:
        return [] if cursor else [Recipient(key=1, customer_id=None, phone=run.test_phone, name="")]
    rows = _run_audience_after(run=run, cursor=cursor, now=now)
    if upto is not None:
        rows = rows.filter(pk__lte=upto)
    rows = rows.values_list("pk", "phone", "name")
    if limit is not None:
        rows = rows[:limit]
    return [Recipient(key=pk, customer_id=pk, phone=phone, name=name) for pk, phone, name in rows]


def run_recipients_last_key(
    *, run: CampaignRun, cursor: int, limit: int, now: datetime | None = None
) -> int | None:
    """The key of the last of the next ``limit`` recipients after ``cursor`` (None: none left).

    What a planner claims: the batch (cursor, last key]; it reads the recipients when it
    plans them (``run_recipients_after(..., upto=...)``)."""
    if run.kind == CampaignRun.Kind.TEST:
        return None if cursor else 1
    keys = list(_run_audience_after(run=run, cursor=cursor, now=now).values_list("pk", flat=True)[:limit])
    return keys[-1] if keys else None


def _run_audience_after(*, run: CampaignRun, cursor: int, now: datetime | None) -> QuerySet[Customer]:
    """A run's audience after keyset ``cursor``, in key (customer id) order."""
    audience = campaign_audience(campaign=run.campaign, day=run.run_date, now=now)
    return audience.filter(pk__gt=cursor).order_by("pk")


# --- statistics -----------------------------------------------------------------


@dataclass
class CampaignStats:
    planned: int = 0  # recipients with a message row that was to be sent
    suppressed: Counter = field(default_factory=Counter)
    holdout: int = 0  # held out (对照组): never sent, reserved, charged or counted
    waiting: int = 0  # planned, not yet handed to the gateway
    sent: int = 0  # handed to the gateway
    delivered: int = 0
    failed: int = 0
    expired: int = 0
    dropped: int = 0
    parts_reserved: int = 0
    parts_charged: int = 0
    parts_refunded: int = 0
    optouts_after: int = 0
    coupons_issued: int = 0
    by_status: dict = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.planned + self.holdout + sum(self.suppressed.values())

    @property
    def progress_percent(self) -> int:
        if not self.planned:
            return 100
        done = self.delivered + self.failed + self.expired + self.dropped
        return int(100 * done / self.planned)

    @property
    def suppressed_total(self) -> int:
        return sum(self.suppressed.values())

    @property
    def suppressed_by_reason(self) -> list[tuple[str, int]]:
        """For templates: (reason id, count), most frequent first (a Counter's .items would
        resolve as the key "items" in a template)."""
        return self.suppressed.most_common()


def campaign_statistics(*, campaign: Campaign, include_tests: bool = False) -> CampaignStats:
    """Per-status counts, suppressions per reason, parts charged and refunded, opt-outs after."""
    if include_tests:
        return _count_statistics(campaign=campaign, audience_only=False)
    return _statistics(campaign=campaign, kept=_kept_reads(campaign, timeline=False))[0]


class CampaignReport(NamedTuple):
    stats: CampaignStats
    timeline: dict
    settled: bool  # over and every message final: neither ever changes again (opt-outs aside)


def campaign_report(*, campaign: Campaign) -> CampaignReport:
    """The statistics and the hourly chart of the campaign's page. For a campaign over and
    settled, its kept counts, chart and opt-out count come in ONE cache round trip."""
    kept = _kept_reads(campaign, timeline=True)
    stats, settled = _statistics(campaign=campaign, kept=kept)
    return CampaignReport(stats, _kept_timeline(campaign=campaign, kept=kept, settled=settled), settled)


def campaign_timeline(*, campaign: Campaign) -> dict:
    """Sent and delivered/failed per hour, for the chart (labels in local time); kept in the
    cache once the campaign's statistics are (over and settled: nothing moves any more)."""
    key, stats_key = _progress_key(campaign, "timeline"), _progress_key(campaign, "stats")
    kept = cache.get_many([key, stats_key]) if key is not None else {}  # one round trip
    return _kept_timeline(campaign=campaign, kept=kept, settled=stats_key in kept)


def _kept_timeline(*, campaign: Campaign, kept: dict, settled: bool) -> dict:
    """The chart from ``kept`` (the cache's answer) when the campaign is settled and it was
    kept; else counted now, and kept if settled."""
    key = _progress_key(campaign, "timeline")
    if settled and key in kept:
        return kept[key]
    timeline = _campaign_timeline(campaign=campaign)
    if settled:
        cache.set(key, timeline, timeout=None)
    return timeline


def _kept_reads(campaign: Campaign, *, timeline: bool) -> dict:
    """What the cache keeps for a campaign that is over, read in one round trip: its settled
    counts (and chart), and with a shared cache its opt-out count and the shop's opt-out version."""
    stats_key = _progress_key(campaign, "stats")
    if stats_key is None:
        return {}
    keys = [stats_key]
    if timeline:
        keys.append(_progress_key(campaign, "timeline"))
    if settings.CACHE_SHARED:
        keys += [OPTOUTS_VERSION_KEY.format(shop=campaign.shop_id), _progress_key(campaign, OPTOUTS_KEPT)]
    return cache.get_many(keys)


def _statistics(*, campaign: Campaign, kept: dict) -> tuple[CampaignStats, bool]:
    """The audience's statistics, and whether they are settled (kept: they never change again)."""
    key = _progress_key(campaign, "stats")
    if key is not None and (stats := kept.get(key)) is not None:
        # Over and settled: only the opt-outs since the start can still change.
        return replace(stats, optouts_after=_optouts_after_kept(campaign=campaign, kept=kept)), True
    # Runs checked before the messages are counted (the race under PROGRESS_CACHE_KEY).
    keepable = key is not None and not _runs_in_progress([campaign.pk])
    stats = _count_statistics(campaign=campaign)
    finals = stats.delivered + stats.failed + stats.expired + stats.dropped
    settled = keepable and stats.planned == finals and not stats.parts_reserved
    if settled:
        cache.set(key, replace(stats, optouts_after=0), timeout=None)
    return stats, settled


def _count_statistics(*, campaign: Campaign, audience_only: bool = True) -> CampaignStats:
    """The statistics from the results counters (campaigns.counters): a few index lookups, not a
    count of the message rows, whatever the campaign's size and whether or not a cache is warm."""
    stats = CampaignStats()
    S = Message.Status
    links = 0
    for row in counter_rows(campaign_ids=[campaign.pk], audience_only=audience_only):
        status, n, parts = row.status, row.messages, row.parts
        links += row.links
        stats.by_status[status] = stats.by_status.get(status, 0) + n
        if status == S.SUPPRESSED:
            stats.suppressed[row.reason] += n
            continue
        if status == S.HOLDOUT:
            stats.holdout += n
            continue
        stats.planned += n
        if row.settlement == Message.Settlement.CHARGED:
            stats.parts_charged += parts
        elif row.settlement == Message.Settlement.RELEASED:
            stats.parts_refunded += parts
        elif row.settlement == Message.Settlement.PENDING:
            stats.parts_reserved += parts
    stats.suppressed = +stats.suppressed  # reasons counted to 0 (every message moved on) left out
    stats.waiting = stats.by_status.get(S.PLANNED, 0)
    stats.delivered = stats.by_status.get(S.DELIVERED, 0)
    stats.failed = stats.by_status.get(S.FAILED, 0)
    stats.expired = stats.by_status.get(S.EXPIRED, 0)
    stats.dropped = stats.by_status.get(S.DROPPED, 0)
    stats.sent = stats.planned - stats.waiting - stats.dropped
    stats.coupons_issued = links if campaign.coupon_id else 0
    stats.optouts_after = _optouts_after(campaign=campaign, audience_only=audience_only)
    return stats


# The opt-outs since a settled campaign started, kept in a shared cache (settings.CACHE_SHARED)
# with the shop's opt-out version read before counting: ``optouts_changed`` gives the shop a new
# version when an opt-out is recorded or removed (after its commit), and a kept count is read
# only while the version it was counted under is still the shop's, so it is never read after a
# change. Race: a count taken while an opt-out commits carries the version read before it,
# which the change replaces. A version lost from the cache is replaced by a new one, never by
# an old one, so old counts are never read again either. Version and count are read in the
# same round trip as the kept statistics (``_kept_reads``).
OPTOUTS_VERSION_KEY = "optouts-version:v1:{shop}"
OPTOUTS_KEPT = "optouts-kept"  # (version, count) under _progress_key(campaign, OPTOUTS_KEPT)
OPTOUTS_KEPT_SECONDS = 3600


def optouts_changed(*, shop_id: int) -> None:
    """The shop's opt-outs changed: counts kept for it are no longer read."""
    if settings.CACHE_SHARED:
        cache.set(OPTOUTS_VERSION_KEY.format(shop=shop_id), uuid.uuid4().hex, timeout=None)


def _optouts_after_kept(*, campaign: Campaign, kept: dict) -> int:
    if not settings.CACHE_SHARED:
        return _optouts_after(campaign=campaign)
    version_key = OPTOUTS_VERSION_KEY.format(shop=campaign.shop_id)
    key = _progress_key(campaign, OPTOUTS_KEPT)
    version = kept.get(version_key)
    if version is not None and (pair := kept.get(key)) is not None and pair[0] == version:
        return pair[1]
    if version is None:
        version = uuid.uuid4().hex
        if not cache.add(version_key, version, timeout=None):
            version = cache.get(version_key) or version
    count = _optouts_after(campaign=campaign)
    cache.set(key, (version, count), timeout=OPTOUTS_KEPT_SECONDS)
    return count


def _optouts_after(*, campaign: Campaign, audience_only: bool = True) -> int:
    """The shop's opt-outs since the campaign started of phones it sent to: each opt-out probes
    the unique (run, phone) index of the campaign's runs (the cost grows with the opt-outs since
    the start, never with the campaign's messages)."""
    if not campaign.started_at:
        return 0
    runs = CampaignRun.objects.filter(campaign_id=campaign.pk)
    if audience_only:
        runs = runs.filter(kind=CampaignRun.Kind.AUDIENCE)
    sent = Message.objects.filter(
        run_id__in=runs.values("id"), phone=OuterRef("phone"), sent_at__isnull=False
    )
    return (
        OptOut.objects.filter(shop_id=campaign.shop_id, created_at__gte=campaign.started_at)
        .filter(Exists(sent))
        .count()
    )


# A campaign that is over (completed, cancelled, stopped), has no run still planning or
# dispatching, and whose every message is final never changes its counts again: a final state is
# terminal, no run starts after it, and a final message state is never overwritten (delivery.py).
# Those counts are kept in the cache without expiry, so the campaign list aggregates only live
# campaigns (the list of a shop with 1M messages in old campaigns: docs/PERFORMANCE.md). The key
# carries the creation time, so a reused id (a flushed test database) never reads another
# campaign's counts.
# Race: a repurchase reminder stopped while its daily run plans ("a run in progress finishes",
# campaign_stop) gets new messages after the stop; its runs are checked BEFORE its messages are
# counted, so a count taken while a run was active is never kept.
PROGRESS_CACHE_KEY = "campaign-{what}:v1:{pk}:{created}"
_OVER = (Campaign.Status.COMPLETED, Campaign.Status.CANCELLED, Campaign.Status.STOPPED)
_RUN_ACTIVE = (CampaignRun.Status.PENDING, CampaignRun.Status.PLANNING, CampaignRun.Status.DISPATCHING)


def _runs_in_progress(campaign_ids: list[int]) -> set[int]:
    """The campaigns among ``campaign_ids`` with an audience run not yet finished or cancelled."""
    if not campaign_ids:
        return set()
    return set(
        CampaignRun.objects.filter(
            campaign_id__in=campaign_ids, kind=CampaignRun.Kind.AUDIENCE, status__in=_RUN_ACTIVE
        ).values_list("campaign_id", flat=True)
    )


def _progress_key(campaign: Campaign, what: str = "progress") -> str | None:
    if campaign.status not in _OVER or campaign.created_at is None:
        return None
    return PROGRESS_CACHE_KEY.format(what=what, pk=campaign.pk, created=campaign.created_at.timestamp())


def campaigns_progress(*, campaigns: list[Campaign]) -> dict[int, CampaignStats]:
    """Per-status counts of many campaigns with ONE grouped query (the campaign list; was one
    ``campaign_statistics`` per row: N+1), counts of campaigns that are over and settled from
    the cache. Only the counts the list shows are filled."""
    keys = {c.pk: key for c in campaigns if (key := _progress_key(c))}
    cached = cache.get_many(list(keys.values())) if keys else {}
    stats = {pk: cached[key] for pk, key in keys.items() if key in cached}
    missing = {c.pk: CampaignStats() for c in campaigns if c.pk not in stats}
    if not missing:
        return stats
    # Before counting (see the race above): only these may be kept once their messages are final.
    keepable = set(keys) & set(missing)
    keepable -= _runs_in_progress(list(keepable))
    S = Message.Status
    for row in counter_rows(campaign_ids=list(missing)):
        one, status, n = missing[row.campaign_id], row.status, row.messages
        one.by_status[status] = one.by_status.get(status, 0) + n
        if status == S.HOLDOUT:
            one.holdout += n
        elif status != S.SUPPRESSED:
            one.planned += n
    for one in missing.values():
        one.waiting = one.by_status.get(S.PLANNED, 0)
        one.delivered = one.by_status.get(S.DELIVERED, 0)
        one.failed = one.by_status.get(S.FAILED, 0)
        one.expired = one.by_status.get(S.EXPIRED, 0)
        one.dropped = one.by_status.get(S.DROPPED, 0)
        one.sent = one.planned - one.waiting - one.dropped
    settled = {
        keys[pk]: one
        for pk, one in missing.items()
        if pk in keepable and one.planned == one.delivered + one.failed + one.expired + one.dropped
    }
    if settled:
        cache.set_many(settled, timeout=None)
    return {**stats, **missing}


def _campaign_timeline(*, campaign: Campaign) -> dict:
    """From the hourly counters (campaigns.counters): one statement, no message row read."""
    series = campaign_hours(campaign_id=campaign.pk)
    hours = sorted(set().union(*[set(c) for c in series.values()]))
    return {
        "labels": [timezone.localtime(h).strftime("%m-%d %H:00") for h in hours],
        "sent": [series["sent"][h] for h in hours],
        "delivered": [series["delivered"][h] for h in hours],
        "failed": [series["failed"][h] for h in hours],
    }


# --- the campaign's page ---------------------------------------------------------------


def shop_verified_phones(*, shop: Shop) -> list[str]:
    """The shop's verified phones (where a test SMS may go), in the order they were added."""
    phones = VerifiedPhone.objects.filter(shop=shop, verified_at__isnull=False).order_by("id")
    return list(phones.values_list("phone", flat=True))


TEST_MESSAGES_SHOWN = 5


def campaign_test_messages(*, campaign: Campaign) -> list[Message]:
    """The messages of the campaign's last test runs (one each), newest first.

    The runs are picked first and the messages sorted here: ``ORDER BY id DESC LIMIT`` over the
    messages lets PostgreSQL walk the whole message table backwards by id (over a second at
    1M messages for an old campaign)."""
    runs = CampaignRun.objects.filter(campaign=campaign, kind=CampaignRun.Kind.TEST).order_by("-id")
    messages = Message.objects.filter(run__in=runs.values("id")[:TEST_MESSAGES_SHOWN])
    return sorted(messages, key=lambda m: m.pk, reverse=True)


def campaign_messages_for_export(*, campaign: Campaign) -> QuerySet[Message]:
    """Every message of the campaign, test SMS included, each with its run's kind
    (``run_kind``: the export marks the test SMS, which the statistics leave out)."""
    return (
        Message.objects.filter(campaign=campaign)
        .order_by("id")
        .annotate(run_kind=F("run__kind"))
        .only(*MESSAGE_EXPORT_FIELDS)
    )


# The columns of a campaign's message export, and of the monthly archive files (which add the
# campaign's id first: a shop's month holds many campaigns).
MESSAGE_EXPORT_HEADER = [
    "短信ID", "类型", "手机号", "状态", "原因", "计费条数", "结算", "提交时间", "回执时间", "内容"
]
MESSAGE_EXPORT_FIELDS = (
    "id", "phone", "status", "reason", "parts", "settlement", "sent_at", "final_at", "run_id", "text"
)


def message_export_rows(messages: Iterable[Message], *, with_campaign: bool = False) -> Iterator[tuple]:
    """Each message (annotated with ``run_kind``) as an export row, labels in Chinese."""
    statuses = dict(Message.Status.choices)
    settlements = dict(Message.Settlement.choices)
    kinds = dict(CampaignRun.Kind.choices)
    for m in messages:
        row = (
            m.id,
            kinds.get(m.run_kind, m.run_kind),
            m.phone,
            statuses.get(m.status, m.status),
            m.reason,
            m.parts,
            settlements.get(m.settlement, ""),
            m.sent_at,
            m.final_at,
            m.text,
        )
        yield (m.campaign_id, *row) if with_campaign else row


class TestPhones(NamedTuple):
    verified: list[str]  # where a test SMS may go, in the order they were added
    pending: str | None  # the phone a code was last sent to and not yet confirmed (still valid)


def shop_test_phones(*, shop: Shop, pending_since: datetime) -> TestPhones:
    """The shop's verified phones and the one awaiting its code (sent after ``pending_since``),
    in one query: the test SMS section asks for the code of that phone without typing it again."""
    rows = (
        VerifiedPhone.objects.filter(shop=shop)
        .filter(Q(verified_at__isnull=False) | Q(code_sent_at__gte=pending_since))
        .order_by("id")
        .values_list("phone", "verified_at", "code_hash", "code_sent_at")
    )
    verified, pending, latest = [], None, None
    for phone, verified_at, code_hash, sent_at in rows:
        if verified_at is not None:
            verified.append(phone)
        if code_hash and sent_at and sent_at >= pending_since and (latest is None or sent_at > latest):
            pending, latest = phone, sent_at
    return TestPhones(verified, pending)


RUNS_SHOWN = 7  # the last daily runs a repurchase reminder's page lists


class RunSummary(NamedTuple):
    run: CampaignRun
    planned: int  # messages to be sent (not suppressed)
    delivered: int
    failed: int  # failed, expired or dropped
    suppressed: int
    waiting: int  # planned or on their way, no final report yet


def campaign_runs(*, campaign: Campaign, counts: bool, limit: int = RUNS_SHOWN) -> list[RunSummary]:
    """The campaign's last audience runs, newest first (one query), with their messages
    counted per run when ``counts`` (one grouped query over those runs)."""
    runs = list(
        CampaignRun.objects.filter(campaign=campaign, kind=CampaignRun.Kind.AUDIENCE).order_by("-id")[:limit]
    )
    per_run: dict[int, Counter] = {run.pk: Counter() for run in runs}
    if counts and runs:
        for row in counter_rows(campaign_ids=[campaign.pk], run_ids=list(per_run)):
            per_run[row.run_id][row.status] += row.messages
    S = Message.Status
    summaries = []
    for run in runs:
        c = per_run[run.pk]
        failed = c[S.FAILED] + c[S.EXPIRED] + c[S.DROPPED]
        planned = sum(c.values()) - c[S.SUPPRESSED]
        waiting = planned - c[S.DELIVERED] - failed
        summaries.append(RunSummary(run, planned, c[S.DELIVERED], failed, c[S.SUPPRESSED], waiting))
    return summaries


SENT_STATUSES = (
    Message.Status.ACCEPTED, Message.Status.DELIVERED, Message.Status.FAILED, Message.Status.EXPIRED
)


# How many of a campaign's runs (newest first) the page asks for a sent text before giving up.
SENT_TEXT_RUNS = 5


def campaign_sent_text(*, runs: list[CampaignRun]) -> str:
    """The full text one recipient of these runs received, as it was sent (its signature then).

    Performance: one probe per run, in its month's partition, walking the run's (run, phone)
    index in order until a sent row: a few index pages whatever the run's size. A filter on the
    campaign and the statuses instead made PostgreSQL AND two bitmaps of the run's 400,000 rows
    (25 ms per page at 20M messages, 2.3 times the page's p95 at 1M)."""
    for run in runs[:SENT_TEXT_RUNS]:
        text = (
            Message.objects.filter(run_id=run.pk, month=run.month, status__in=SENT_STATUSES)
            .exclude(text="")
            .order_by("phone")
            .values_list("text", flat=True)
            .first()
        )
        if text:
            return text
    return ""


_LIVE = (Campaign.Status.SCHEDULED, Campaign.Status.RUNNING)


def campaign_next_run(*, campaign: Campaign) -> datetime | None:
    """When django-q2 runs the campaign next (a repurchase reminder's next day), if it will."""
    if not campaign.q_schedule_id or campaign.status not in _LIVE:
        return None
    return Schedule.objects.filter(pk=campaign.q_schedule_id).values_list("next_run", flat=True).first()


def shop_campaigns(*, shop) -> QuerySet[Campaign]:
    """The shop's campaigns, newest first, with the fields the list shows (and the cache key uses)."""
    return (
        Campaign.objects.filter(shop=shop)
        .only("id", "shop_id", "kind", "name", "status", "scheduled_at", "created_at")
        .order_by("-id")
    )


# --- opt-outs -----------------------------------------------------------------------------


def retention_cutoff(*, today: date | None = None, months: int | None = None) -> date:
    """The first month of message history kept (docs/RETENTION.md): the current month and
    ``months`` (``SMS_MESSAGE_RETENTION_MONTHS``) before it; older months are archived."""
    month = (today or timezone.localdate()).replace(day=1)
    months = settings.SMS_MESSAGE_RETENTION_MONTHS if months is None else months
    index = month.year * 12 + month.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def campaign_archived_months(*, runs) -> list[date]:
    """The months of the campaign's runs whose messages are past the retention (archived by the
    nightly task, or tonight): no query, from the runs the page read."""
    cutoff = retention_cutoff()
    return sorted({run.month for run in runs if run.month < cutoff})


def shop_message_archives(*, shop_id: int) -> QuerySet[MessageArchive]:
    """The shop's monthly archive files, newest month first."""
    return MessageArchive.objects.filter(shop_id=shop_id).order_by("-month")


def shop_optouts(*, shop_id: int, phone_query: str = "") -> QuerySet:
    """The shop's opted-out phones, newest first; ``phone_query`` filters by digits contained."""
    optouts = OptOut.objects.filter(shop_id=shop_id).order_by("-created_at", "-id")
    digits = "".join(ch for ch in phone_query if ch.isdigit())
    if digits:
        optouts = optouts.filter(phone__contains=digits)
    return optouts


def shop_optout_events(*, shop_id: int, phone: str | None = None, limit: int = 20) -> list:
    """The latest opt-out and re-subscription events of the shop (of one phone if given)."""
    events = OptOutEvent.objects.filter(shop_id=shop_id).select_related("actor")
    events = events.order_by("-created_at", "-id")
    if phone:
        events = events.filter(phone=phone)
    return list(events[:limit])


# --- the dashboard's getting-started steps ----------------------------------------------


@dataclass(frozen=True)
class SetupStep:
    """One step from a new shop to its first campaign, for the portal's dashboard."""

    title: str
    done: bool
    status: str  # what the merchant reads beside the step
    url_name: str  # where to do it (a portal URL taking the shop id)
    action: str


def shop_setup_steps(*, shop: Shop, account: SmsAccount | None = None) -> list[SetupStep]:
    """Activate → recharge → signature → customers → first campaign, each done or not.

    The dashboard shows it on every visit, so customers and campaigns are tested for
    existence, not counted."""
    if account is None:
        account = account_for_shop(shop=shop)
    live = live_signature(shop=shop)
    pending = live is None and pending_signature(shop=shop) is not None
    customers = Customer.objects.filter(shop=shop).exists()
    campaigns = Campaign.objects.filter(shop=shop).exists()
    funded = account.pk is not None and (account.balance > 0 or account.reserved > 0)
    return [
        SetupStep("开通短信服务", account.is_active, "已开通" if account.is_active else "未开通",
                  "portal:account", "去开通"),
        SetupStep("购买短信套餐", funded, f"余量 {account.balance:,} 条" if funded else "余量为 0",
                  "portal:account_recharge", "去充值"),
        SetupStep("设置短信签名", live is not None,
                  f"【{live.text}】已生效" if live else ("审核中" if pending else "未设置"),
                  "reviews:signature", "去设置"),
        SetupStep("导入客户", customers, "已导入" if customers else "还没有客户",
                  "campaigns:customers", "去导入"),
        SetupStep("发送第一个营销任务", campaigns, "已创建" if campaigns else "还没有任务",
                  "campaigns:list", "去新建"),
    ]


def campaign_messages(
    *, campaign: Campaign, phone: str | None = None, status: str | None = None
) -> QuerySet[Message]:
    """A campaign's messages (test SMS included, as the export lists them), for the open API's
    keyset pages in id order (never an OFFSET). ``phone`` (normalised) goes through the runs'
    unique (run, phone) index; each message has ``run_kind`` and ``variant_name``."""
    messages = Message.objects.filter(campaign=campaign)
    if phone is not None:
        runs = CampaignRun.objects.filter(campaign=campaign).values("id")
        messages = messages.filter(run_id__in=runs, phone=phone)
    if status is not None:
        messages = messages.filter(status=status)
    return messages.annotate(run_kind=F("run__kind"), variant_name=F("variant__name")).only(
        "id", "campaign_id", "run_id", "phone", "status", "reason", "parts", "settlement", "link_code",
        "created_at", "sent_at", "final_at",
    )  # fmt: skip


# --- webhooks -------------------------------------------------------------------------------


def shop_webhook_endpoints(*, shop_id: int) -> QuerySet[WebhookEndpoint]:
    """The shop's endpoints, newest first."""
    return WebhookEndpoint.objects.filter(shop_id=shop_id).order_by("-created_at", "-pk")


def shop_webhooks_failing(*, shop_id: int) -> list[WebhookEndpoint]:
    """The shop's endpoints marked failing (the portal's notice)."""
    return list(WebhookEndpoint.objects.filter(shop_id=shop_id, status=WebhookEndpoint.Status.FAILING))


def webhook_endpoint_deliveries(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    """An endpoint's deliveries, newest first, with their event and attempts (index
    webhook_delivery_recent; the attempts in one query per page)."""
    attempts = Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("at", "pk"))
    return (
        WebhookDelivery.objects.filter(endpoint=endpoint)
        .select_related("event")
        .prefetch_related(attempts)
        .order_by("-created_at", "-pk")
    )
