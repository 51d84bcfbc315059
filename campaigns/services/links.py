"""Short links (``/t/<code>``): per-message codes, landing pages and the clicks.

Every message whose text carries a link (``${coupon_link}`` or ``${shop_link}``) gets its own
random code (``Message.link_code``), drawn by the planner; the link is
``SMS_SHORT_LINK_BASE`` + code. Following it (``link_follow``) answers the landing page: the
coupon's ``landing_url``, else the shop's, each accepted only on a ``LandingDomain`` (checked
when the merchant saves it and again at redirect time, since the platform may withdraw a domain
later). Every request of a live code is recorded as a ``Click``; HEAD requests and user agents
of bots and link previewers (``ua-parser``'s spiders plus the ``LinkPreviewerAgent`` rows) are
recorded with ``human`` false and count for nothing.

Cost of a redirect (docs/PERFORMANCE.md): one statement, an indexed read (the message by its
unique code, joined to its campaign's coupon and its shop for the two landing URLs) with the
click's INSERT in the same statement, committed without waiting for the WAL flush
(``commit_without_flush``: a click lost in a database crash is a lost statistic, not money).
The domains and previewer patterns are read once a minute per process (``POLICY_SECONDS``), so
an admin edit applies within a minute.
"""

from __future__ import annotations

import secrets
import string
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from ua_parser import parse_device

from campaigns.models.audience import Coupon
from campaigns.models.links import Click, LandingDomain, LinkPreviewerAgent
from campaigns.models.sending import Campaign, Message, current_month
from campaigns.services.webhooks import link_clicked_params, link_clicked_sql, webhook_deliveries_written
from smsmarketing.db import commit_without_flush
from smsmarketing.errors import SmsError
from smsmarketing.models import Shop
from smsmarketing.permissions import Capability, require_capability
from smsmarketing.services import shop_ensure_sms_allowed

# A month character and 9 random ones: 62**9 ≈ 1.4e16 codes per month (53.6 bits): with a
# million live codes a guess hits one with a probability of about 1e-10. ``Message.link_code``
# holds up to 16 characters.
LINK_CODE_LENGTH = 10
LINK_CODE_ALPHABET = string.ascii_letters + string.digits
# The first character names the code's month (``link_code_month_character``), the rest is random.
LINK_CODE_RANDOM_SPACE = len(LINK_CODE_ALPHABET) ** (LINK_CODE_LENGTH - 1)
# The template variables that render a short link.
LINK_VARIABLES = ("${coupon_link}", "${shop_link}")
# How long the per-process copy of the landing domains and previewer patterns is used.
POLICY_SECONDS = 60
# ua-parser's device family of crawlers, previewers and other robots.
SPIDER_FAMILY = "Spider"
CLICK_HASH_SALT = "campaigns.links.click"


class LandingUrlRefused(SmsError):
    rule = "LANDING-URL"


@dataclass(frozen=True)
class LinkPolicy:
    """The landing domains ((domain, with sub-domains), …) and the previewer patterns (lower case)."""

    domains: tuple[tuple[str, bool], ...]
    previewers: tuple[str, ...]
    loaded_at: float = 0.0


@dataclass(frozen=True)
class LinkFollow:
    """What following a live code gave: the landing page ("" when none is allowed) and the click."""

    target: str
    click_id: int
    human: bool


# --- codes --------------------------------------------------------------------


def link_code_month_character(month: date) -> str:
    """The first character of the codes of a month's messages: 62 months before it repeats."""
    return LINK_CODE_ALPHABET[(month.year * 12 + month.month - 1) % len(LINK_CODE_ALPHABET)]


def link_code_new(*, month: date | None = None) -> str:
    """A fresh code: its month's character (``month``: the message's partition month, default
    this month), then random characters (``secrets``: unpredictable, every code equally likely).
    The messages table is partitioned by month and its unique index is per month; codes of
    different months differ in their first character, so no two live codes are equal as long as
    the history kept is under 62 months (``SMS_MESSAGE_RETENTION_MONTHS`` is checked against it).
    Performance: one ``randbelow`` written in base 62 (about 2 µs, against 10 µs for a
    ``secrets.choice`` per character; the planner draws one per message)."""
    number = secrets.randbelow(LINK_CODE_RANDOM_SPACE)
    characters = [link_code_month_character(month or current_month())]
    for _position in range(LINK_CODE_LENGTH - 1):
        number, digit = divmod(number, len(LINK_CODE_ALPHABET))
        characters.append(LINK_CODE_ALPHABET[digit])
    return "".join(characters)


def text_has_link(text: str) -> bool:
    """Whether a message text renders a short link (and so each message needs its own code)."""
    return any(variable in text for variable in LINK_VARIABLES)


# --- the platform's policy ----------------------------------------------------

_policy_lock = threading.Lock()
_policy: LinkPolicy | None = None


def link_policy_load() -> LinkPolicy:
    """The landing domains and previewer patterns as stored now (two queries)."""
    return LinkPolicy(
        domains=tuple(
            (domain.lower().strip("."), subdomains)
            for domain, subdomains in LandingDomain.objects.values_list("domain", "subdomains")
        ),
        previewers=tuple(
            pattern.lower()
            for pattern in LinkPreviewerAgent.objects.values_list("pattern", flat=True)
            if pattern
        ),
        loaded_at=time.monotonic(),
    )


def link_policy(*, fresh: bool = False) -> LinkPolicy:
    """The policy, read from the database at most once per ``POLICY_SECONDS`` in this process
    (``fresh``: read now, for the merchant's forms, which must see an admin edit at once)."""
    global _policy
    if fresh:
        return link_policy_load()
    policy = _policy
    if policy is None or time.monotonic() - policy.loaded_at >= POLICY_SECONDS:
        with _policy_lock:
            policy = link_policy_load()
            _policy = policy
    return policy


def link_policy_forget() -> None:
    """Drop this process's copy (tests, and the admin after an edit in this process)."""
    global _policy
    _policy = None


def landing_url_allowed(url: str, *, policy: LinkPolicy) -> bool:
    """An https URL without credentials whose host is (or is under) an allowed landing domain."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    if parts.scheme != "https" or not host or parts.username is not None or parts.password is not None:
        return False
    return any(
        host == domain or (subdomains and host.endswith("." + domain))
        for domain, subdomains in policy.domains
    )


def landing_url_check(*, url: str) -> str:
    """The cleaned landing URL ("" for none), or ``LandingUrlRefused`` with the reason in Chinese."""
    url = (url or "").strip()
    if not url:
        return ""
    policy = link_policy(fresh=True)
    if landing_url_allowed(url, policy=policy):
        return url
    if not url.lower().startswith("https://"):
        raise LandingUrlRefused(_("落地页链接须以 https:// 开头。"))
    allowed = "、".join(domain for domain, _subdomains in policy.domains) or _("（平台尚未开放任何域名）")
    raise LandingUrlRefused(
        _("落地页只能是平台允许的域名下的页面：{domains}。请检查链接的域名。").format(domains=allowed)
    )


def agent_is_human(user_agent: str, *, policy: LinkPolicy) -> bool:
    """False for an empty agent, a ``LinkPreviewerAgent`` pattern and ua-parser's spiders."""
    if not user_agent.strip():
        return False
    lowered = user_agent.lower()
    if any(pattern in lowered for pattern in policy.previewers):
        return False
    device = parse_device(user_agent)
    return device is None or device.family != SPIDER_FAMILY


# --- writes -------------------------------------------------------------------


def shop_landing_set(*, shop: Shop, user, landing_url: str) -> Shop:
    """Set where the shop's short links lead (its default landing page; "" for none)."""
    require_capability(shop=shop, user=user, capability=Capability.OPERATE)
    shop_ensure_sms_allowed(shop=shop)
    shop.landing_url = landing_url_check(url=landing_url)
    shop.save(update_fields=["landing_url"])
    return shop


def client_hash(client: str) -> str:
    """A keyed SHA-256 of the client address: equal addresses compare equal, and without
    SECRET_KEY no address can be recovered by hashing the 2**32 IPv4 addresses."""
    if not client:
        return ""
    return salted_hmac(CLICK_HASH_SALT, client, algorithm="sha256").hexdigest()


def link_follow(
    *, code: str, method: str, user_agent: str, client: str, at: datetime | None = None
) -> LinkFollow | None:
    """Follow a short link: record the click and return where to send the visitor.

    None for an unknown code or one past its life (``SMS_SHORT_LINK_DAYS`` after the message
    was planned); nothing is recorded then. A live code always records a click, even when no
    allowed landing page is configured (``target`` is "" then): a person did tap it. HEAD
    requests and bots or previewers are recorded with ``human`` false.
    """
    at = at or timezone.now()
    if not code or len(code) > LINK_CODE_MAX_LENGTH:
        return None
    policy = link_policy()
    method = method.upper()[:8]
    human = method == "GET" and agent_is_human(user_agent, policy=policy)
    params = {
        "code": code,
        "since": at - timedelta(days=settings.SMS_SHORT_LINK_DAYS),
        "at": at,
        "method": method,
        "agent": user_agent[:512],
        "hash": client_hash(client),
        "human": human,
        **link_clicked_params(now=timezone.now()),
    }
    # A lost click in a database crash is a lost statistic: no wait for the WAL flush.
    with commit_without_flush(), connection.cursor() as cursor:
        cursor.execute(FOLLOW_SQL, params)
        found = cursor.fetchone()
    if found is None:
        return None
    coupon_url, shop_url, click_id, webhook_deliveries = found
    webhook_deliveries_written(webhook_deliveries)
    # The platform may have withdrawn a domain since the merchant saved the URL: check again.
    allowed = [url for url in (coupon_url, shop_url) if url and landing_url_allowed(url, policy=policy)]
    target = allowed[0] if allowed else ""
    return LinkFollow(target=target, click_id=click_id, human=human)


LINK_CODE_MAX_LENGTH = Message._meta.get_field("link_code").max_length
# Performance (docs/PERFORMANCE.md, "Short links"): the redirect's one statement. The message by
# its code (index message_link_code_unique: one probe per month partition) with its coupon's
# and its shop's landing URLs, and the click inserted from that row in the same statement (no row, no click).
# A human click of a shop with a webhook endpoint for link.clicked also writes its event and
# deliveries there (campaigns.services.webhooks, the outbox); other shops pay one indexed EXISTS.
# The ORM's read then ``Click.objects.create`` cost 1.9 ms of CPU per redirect against 0.7 ms
# for this statement, measured in one process on one database.
FOLLOW_SQL = f"""
    WITH message AS (
        SELECT m.id, m.campaign_id, m.shop_id, m.phone, m.month,
               coupon.landing_url AS coupon_url, shop.landing_url AS shop_url
        FROM {Message._meta.db_table} m
        LEFT JOIN {Campaign._meta.db_table} campaign ON campaign.id = m.campaign_id
        LEFT JOIN {Coupon._meta.db_table} coupon ON coupon.id = campaign.coupon_id
        LEFT JOIN {Shop._meta.db_table} shop ON shop.id = m.shop_id
        WHERE m.link_code = %(code)s AND m.created_at >= %(since)s
    ), click AS (
        INSERT INTO {Click._meta.db_table}
            (message_id, campaign_id, shop_id, phone, at, method, user_agent, client_hash, human, month)
        SELECT id, campaign_id, shop_id, phone, %(at)s, %(method)s, %(agent)s, %(hash)s, %(human)s, month
        FROM message
        RETURNING id
    ),{link_clicked_sql(message_cte="message", click_cte="click")}
    SELECT message.coupon_url, message.shop_url, click.id, (SELECT count(*) FROM hook) FROM message, click
"""
