"""Short links: per-message codes, /t/<code> redirects to the landing page and records the click."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, CampaignRun, Click, Coupon, LandingDomain, LinkPreviewerAgent, Message
from campaigns.services.audience import coupon_create
from campaigns.services.campaigns import (
    PREVIEW_LINK_CODE,
    campaign_create,
    campaign_preview,
    campaign_schedule,
    short_link,
)
from campaigns.services.links import (
    LINK_CODE_LENGTH,
    LandingUrlRefused,
    link_code_new,
    link_follow,
    link_policy_forget,
    shop_landing_set,
)
from tests.campaigns.campaign_fixtures import MARKETING_TEXT, MORNING
from tests.factories import make_coupon

IPHONE_WECHAT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 MicroMessenger/8.0.40(0x1800282a) NetType/WIFI Language/zh_CN"
)
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 13; SM-S9180) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)
CODE_FORMAT = re.compile(rf"^[0-9A-Za-z]{{{LINK_CODE_LENGTH}}}$")
SHOP_PAGE = "https://mall.jd.com/index-1000.html"
COUPON_PAGE = "https://pro.jd.com/mall/active/coupon.html"


@pytest.fixture(autouse=True)
def fresh_policy():
    """Each test reads the landing domains and previewers it set up, not another test's copy."""
    link_policy_forget()
    yield
    link_policy_forget()


def sent_message(shop, user, *, coupon_url: str | None = None, phone: str = "13900000001") -> Message:
    """A message with its own code, sent a minute ago, of a campaign with a coupon when
    ``coupon_url`` is given ("" for a coupon without a landing page)."""
    coupon = None
    if coupon_url is not None:
        coupon = make_coupon(shop, user=user)
        coupon.landing_url = coupon_url
        coupon.save(update_fields=["landing_url"])
    campaign = Campaign.objects.create(
        shop=shop, kind="coupon" if coupon else "marketing", coupon=coupon, name="营销", status="completed",
        text=MARKETING_TEXT + "${shop_link}", created_by=user,
    )  # fmt: skip
    run = CampaignRun.objects.create(campaign=campaign, status="finished")
    return Message.objects.create(
        campaign=campaign, run=run, shop=shop, phone=phone, status="delivered", parts=1,
        link_code=link_code_new(), sent_at=timezone.now() - timedelta(minutes=1),
    )  # fmt: skip


def tap(code: str, *, method: str = "get", agent: str = IPHONE_WECHAT, address: str = "10.1.2.3"):
    client = Client(REMOTE_ADDR=address)
    return getattr(client, method)(f"/t/{code}", headers={"user-agent": agent})


# --- codes ------------------------------------------------------------------------------


def test_it_draws_random_ten_character_base62_codes():
    codes = [link_code_new() for _ in range(20000)]
    assert all(CODE_FORMAT.match(code) for code in codes)
    assert len(set(codes)) == len(codes)
    # Every character of the alphabet turns up (not a counter, not hex).
    assert set("".join(codes)) == set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    assert len(PREVIEW_LINK_CODE) == LINK_CODE_LENGTH  # a preview counts the parts of a real message


def test_it_gives_every_message_with_a_shop_link_its_own_code(
    ready_shop, alice, django_capture_on_commit_callbacks
):
    text = "夏季新品上架，全场满199元减20元，进店看看：${shop_link}"
    with time_machine.travel(MORNING, tick=False):
        campaign = campaign_create(shop=ready_shop, user=alice, kind="marketing", name="上新", text=text)
        preview, preview_parts = campaign_preview(campaign=campaign)
        plain = campaign_create(
            shop=ready_shop, user=alice, kind="marketing", name="无链接", text=MARKETING_TEXT
        )
        with django_capture_on_commit_callbacks(execute=True):
            campaign_schedule(campaign=campaign, user=alice)
    sent = list(Message.objects.filter(campaign=campaign).exclude(status="suppressed"))
    assert len(sent) == 20
    codes = {message.link_code for message in sent}
    assert len(codes) == 20 and all(CODE_FORMAT.match(code) for code in codes)
    for message in sent:
        assert message.body.endswith(short_link(message.link_code) + " ")  # the link ends there
        assert message.text.endswith(f"{settings.SMS_SHORT_LINK_BASE}{message.link_code} 拒收请回复R")
        assert "\u2063" not in message.text and message.parts == preview_parts
    assert preview.replace(PREVIEW_LINK_CODE, sent[0].link_code) == sent[0].text
    # A text without a link variable gets no code.
    with time_machine.travel(MORNING + timedelta(days=3), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            campaign_schedule(campaign=plain, user=alice)
    plain_sent = Message.objects.filter(campaign=plain).exclude(status="suppressed")
    assert plain_sent.count() == 20 and not plain_sent.exclude(link_code=None).exists()


def test_the_default_base_is_this_apps_own_host_and_t():
    assert settings.SMS_SHORT_LINK_BASE == f"{settings.SITE_URL}/t/"
    assert short_link("AbCdEf1234") == f"{settings.SITE_URL}/t/AbCdEf1234"
    assert reverse("campaigns:link_follow", args=["AbCdEf1234"]) == "/t/AbCdEf1234"


# --- the redirect ---------------------------------------------------------------------


def test_it_redirects_to_the_coupons_landing_page_and_records_the_click(alice_shop, alice):
    shop_landing_set(shop=alice_shop, user=alice, landing_url=SHOP_PAGE)
    message = sent_message(alice_shop, alice, coupon_url=COUPON_PAGE)
    response = tap(message.link_code)
    assert response.status_code == 302 and response["Location"] == COUPON_PAGE
    assert "no-store" in response["Cache-Control"]
    click = Click.objects.get()
    assert (click.message_id, click.campaign_id, click.shop_id, click.phone) == (
        message.pk, message.campaign_id, alice_shop.pk, "13900000001"
    )
    assert (click.method, click.user_agent, click.human) == ("GET", IPHONE_WECHAT, True)
    assert abs(click.at - timezone.now()) < timedelta(minutes=1)
    # A keyed hash of the address: 64 hex digits, not the plain SHA-256 anyone could recompute.
    assert re.fullmatch(r"[0-9a-f]{64}", click.client_hash)
    assert click.client_hash != hashlib.sha256(b"10.1.2.3").hexdigest()


def test_it_redirects_to_the_shops_landing_page_when_the_coupon_has_none(alice_shop, alice):
    shop_landing_set(shop=alice_shop, user=alice, landing_url=SHOP_PAGE)
    with_coupon = sent_message(alice_shop, alice, coupon_url="")
    without_coupon = sent_message(alice_shop, alice, phone="13900000002")
    for message in (with_coupon, without_coupon):
        response = tap(message.link_code)
        assert response.status_code == 302 and response["Location"] == SHOP_PAGE
    assert Click.objects.filter(human=True).count() == 2


def test_it_records_a_second_click_of_the_same_link(alice_shop, alice):
    shop_landing_set(shop=alice_shop, user=alice, landing_url=SHOP_PAGE)
    message = sent_message(alice_shop, alice)
    assert tap(message.link_code).status_code == 302
    assert tap(message.link_code, agent=ANDROID_CHROME, address="10.9.9.9").status_code == 302
    assert tap(message.link_code).status_code == 302
    clicks = list(Click.objects.filter(message=message).order_by("pk"))
    assert len(clicks) == 3 and all(click.human for click in clicks)
    # The same address hashes the same; another address differently.
    assert clicks[0].client_hash == clicks[2].client_hash != clicks[1].client_hash


def test_it_records_a_head_request_as_not_human(alice_shop, alice):
    shop_landing_set(shop=alice_shop, user=alice, landing_url=SHOP_PAGE)
    message = sent_message(alice_shop, alice)
    response = tap(message.link_code, method="head")
    assert response.status_code == 302 and response["Location"] == SHOP_PAGE
    click = Click.objects.get()
    assert (click.method, click.human) == ("HEAD", False)
    assert tap(message.link_code, method="post").status_code == 405
    assert Click.objects.count() == 1


@pytest.mark.parametrize(
    "agent",
    [
        "WhatsApp/2.23.20.0 A",
        "TelegramBot (like TwitterBot)",
        "facebookexternalhit/1.1 Facebot Twitterbot/1.0",  # iMessage's link preview
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",  # ua-parser
        "curl/8.5.0",
        "",
    ],
)
def test_it_records_previewers_and_bots_as_not_human(alice_shop, alice, agent):
    shop_landing_set(shop=alice_shop, user=alice, landing_url=SHOP_PAGE)
    message = sent_message(alice_shop, alice)
    # The previewer still gets the page (its preview shows the shop), and the click is kept.
    assert tap(message.link_code, agent=agent).status_code == 302
    assert list(Click.objects.values_list("user_agent", "human")) == [(agent, False)]


def test_it_takes_a_previewer_added_in_the_admin(alice_shop, alice):
    shop_landing_set(shop=alice_shop, user=alice, landing_url=SHOP_PAGE)
    message = sent_message(alice_shop, alice)
    carrier = "Mozilla/5.0 (Linux; Android 13) CarrierLinkCheck/3.1 Chrome/120.0 Mobile Safari/537.36"
    tap(message.link_code, agent=carrier)
    LinkPreviewerAgent.objects.create(pattern="carrierlinkcheck", note="运营商安全检查")
    link_policy_forget()  # what the admin does on save (other processes: within a minute)
    tap(message.link_code, agent=carrier)
    tap(message.link_code, agent=ANDROID_CHROME)
    assert list(Click.objects.order_by("pk").values_list("human", flat=True)) == [True, False, True]


def test_it_answers_an_unknown_or_expired_code_with_a_chinese_404_and_records_nothing(alice_shop, alice):
    shop_landing_set(shop=alice_shop, user=alice, landing_url=SHOP_PAGE)
    message = sent_message(alice_shop, alice)
    for code in ["AbCdEf1234", "x" * 40, message.link_code.swapcase()]:
        response = tap(code)
        assert response.status_code == 404
        assert "链接不存在或已过期" in response.content.decode()
    later = timezone.now() + timedelta(days=settings.SMS_SHORT_LINK_DAYS, minutes=1)
    with time_machine.travel(later, tick=False):
        response = tap(message.link_code)
    assert response.status_code == 404 and "链接不存在或已过期" in response.content.decode()
    assert not Click.objects.exists()
    # One day before the end it still answers.
    with time_machine.travel(later - timedelta(days=1), tick=False):
        assert tap(message.link_code).status_code == 302


def test_it_refuses_landing_urls_outside_the_allowed_domains(alice_shop, alice):
    assert LandingDomain.objects.filter(domain="jd.com", subdomains=True).exists()  # seeded
    LandingDomain.objects.create(domain="alice-shop.cn", subdomains=False)
    for url in ["https://jd.com/", "https://mall.jd.com/index-1.html?from=sms#top", "https://alice-shop.cn/a"]:
        assert shop_landing_set(shop=alice_shop, user=alice, landing_url=url).landing_url == url
    refused = {
        "http://mall.jd.com/": "https://",
        "https://evil-jd.com/": "平台允许的域名",
        "https://jd.com.evil.cn/": "平台允许的域名",
        "https://jd.com@evil.cn/": "平台允许的域名",
        "https://www.alice-shop.cn/": "平台允许的域名",  # no sub-domains for this one
        "javascript:alert(1)": "https://",
        "https://jd.com:99999/": "平台允许的域名",
    }
    for url, words in refused.items():
        with pytest.raises(LandingUrlRefused) as caught:
            shop_landing_set(shop=alice_shop, user=alice, landing_url=url)
        assert words in caught.value.message
    alice_shop.refresh_from_db()
    assert alice_shop.landing_url == "https://alice-shop.cn/a"
    with pytest.raises(LandingUrlRefused):
        coupon_create(
            shop=alice_shop, user=alice, name="券", amount=Decimal("1"), threshold=Decimal("0"),
            valid_from=timezone.now(), valid_until=timezone.now() + timedelta(days=1), total_count=1,
            landing_url="https://taobao.com/",
        )  # fmt: skip
    assert not Coupon.objects.exists()


def test_it_falls_back_to_the_shop_then_a_404_when_a_domain_is_withdrawn(alice_shop, alice):
    LandingDomain.objects.create(domain="coupons.example.cn", subdomains=False)
    shop_landing_set(shop=alice_shop, user=alice, landing_url=SHOP_PAGE)
    message = sent_message(alice_shop, alice, coupon_url="https://coupons.example.cn/c/1")
    assert tap(message.link_code)["Location"] == "https://coupons.example.cn/c/1"
    LandingDomain.objects.filter(domain="coupons.example.cn").delete()
    link_policy_forget()
    assert tap(message.link_code)["Location"] == SHOP_PAGE
    LandingDomain.objects.filter(domain="jd.com").delete()
    link_policy_forget()
    response = tap(message.link_code)
    assert response.status_code == 404 and "页面暂时无法打开" in response.content.decode()
    # The person did tap: all three clicks are kept.
    assert Click.objects.filter(message=message, human=True).count() == 3


def test_it_looks_the_code_up_and_inserts_the_click_in_one_indexed_statement(alice_shop, alice):
    shop_landing_set(shop=alice_shop, user=alice, landing_url=SHOP_PAGE)
    message = sent_message(alice_shop, alice, coupon_url=COUPON_PAGE)
    tap(message.link_code)  # the process reads the domains and previewers once a minute
    with CaptureQueriesContext(connection) as queries:
        response = tap(message.link_code)
    assert response.status_code == 302 and response["Location"] == COUPON_PAGE
    # Transaction control aside (in production "SET LOCAL synchronous_commit = off" in its own
    # transaction; inside the test's transaction a savepoint), one statement: read and insert.
    control = ("SAVEPOINT", "RELEASE SAVEPOINT", "SET LOCAL")
    statements = [query["sql"] for query in queries.captured_queries if not query["sql"].startswith(control)]
    assert len(statements) == 1
    statement = statements[0]
    assert "m.link_code = " in statement and 'INSERT INTO campaigns_click' in statement
    assert Click.objects.filter(message=message).count() == 2
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # the plan a large table gets
        cursor.execute("EXPLAIN " + statement)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # One index probe per month partition (and the default one), never a scan of messages.
    partitions = plan.count("Index Scan using campaigns_message_p") + plan.count(
        "Index Scan using campaigns_message_default"
    )
    assert "link_code" in plan and partitions >= 1 and "Seq Scan on campaigns_message" not in plan
    assert "Seq Scan" not in plan


def test_link_follow_is_what_the_view_calls(alice_shop, alice):
    shop_landing_set(shop=alice_shop, user=alice, landing_url=SHOP_PAGE)
    message = sent_message(alice_shop, alice)
    result = link_follow(code=message.link_code, method="GET", user_agent=ANDROID_CHROME, client="10.0.0.1")
    assert (result.target, result.human) == (SHOP_PAGE, True)
    preview = link_follow(code=message.link_code, method="GET", user_agent="WhatsApp/2.24", client="10.0.0.2")
    assert (preview.target, preview.human) == (SHOP_PAGE, False)
    assert link_follow(code="nope", method="GET", user_agent=ANDROID_CHROME, client="") is None
    hashes = Click.objects.in_bulk([result.click_id, preview.click_id])
    assert hashes[result.click_id].client_hash != hashes[preview.click_id].client_hash
