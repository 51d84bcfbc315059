"""Verifying a test phone from the campaign's page: one labelled form, the phone typed once, the
section open after the code is sent, and in a demo set-up (simulated or console gateway, DEBUG
or SMS_DEMO) the code on the page; never with production settings or a real gateway."""

from __future__ import annotations

import re

import pytest
import time_machine
from django.urls import reverse

from campaigns.models import VerifiedPhone
from campaigns.services.campaigns import campaign_create
from campaigns.services.scheduling import verification_code_shown
from tests.campaigns.campaign_fixtures import MARKETING_TEXT, MORNING

pytestmark = pytest.mark.django_db

PHONE = "13912345678"
SIMULATED = {"BACKEND": "campaigns.gateways.simulated.SimulatedGateway", "OPTIONS": {}}
CONSOLE = {"BACKEND": "campaigns.gateways.console.ConsoleGateway", "OPTIONS": {"report": False}}
KANNEL = {"BACKEND": "campaigns.gateways.kannel.KannelBackend", "OPTIONS": {}}


@pytest.fixture
def campaign(ready_shop, alice):
    return campaign_create(shop=ready_shop, user=alice, kind="marketing", name="上新", text=MARKETING_TEXT)


def detail(client, campaign, query: str = "") -> str:
    url = reverse("campaigns:detail", args=[campaign.shop_id, campaign.pk]) + query
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def request_code(client, campaign):
    url = reverse("campaigns:test_phone_request", args=[campaign.shop_id, campaign.pk])
    response = client.post(url, {"phone": PHONE})
    assert response.status_code == 302 and response["Location"].endswith("#test-sms")
    return response


@pytest.mark.parametrize(
    ("debug", "demo", "gateway", "shown"),
    [
        (False, True, SIMULATED, True),
        (True, False, CONSOLE, True),
        (False, False, SIMULATED, False),  # production settings: never
        (True, True, KANNEL, False),  # a real gateway: never
    ],
)
def test_it_shows_the_code_only_in_a_demo_without_a_real_gateway(settings, debug, demo, gateway, shown):
    settings.DEBUG, settings.SMS_DEMO, settings.SMS_GATEWAY = debug, demo, gateway
    assert verification_code_shown() is shown


def test_a_demo_merchant_verifies_her_phone_typing_it_once(client, alice, campaign, settings, capsys):
    settings.SMS_DEMO, settings.SMS_GATEWAY = True, CONSOLE
    client.force_login(alice)
    with time_machine.travel(MORNING, tick=False):
        first = detail(client, campaign)
        assert '<details id="verify-phone" open>' in first  # no verified phone yet: the form is open
        assert '<label for="id_phone">手机号</label>' in first
        request_code(client, campaign)
        html = detail(client, campaign)
        assert '<details id="verify-phone" open>' in html  # still open after the code was sent
        assert f"验证码已发送至 <strong>{PHONE}</strong>" in html
        code = re.search(r"演示环境验证码：<strong>(\d{6})</strong>", html).group(1)
        assert code in capsys.readouterr().out  # the console gateway's log has it too
        assert f'<input type="hidden" name="phone" value="{PHONE}"' in html  # not typed again
        assert '<label for="id_code">验证码</label>' in html
        done = client.post(
            reverse("campaigns:test_phone_confirm", args=[campaign.shop_id, campaign.pk]),
            {"phone": PHONE, "code": code},
            follow=True,
        )
        after = detail(client, campaign)
    assert "手机号已验证" in done.content.decode()
    assert VerifiedPhone.objects.get(shop=campaign.shop, phone=PHONE).verified_at is not None
    assert f'<option value="{PHONE}">{PHONE}</option>' in after and "演示环境验证码" not in after


def test_production_settings_never_show_the_code(client, alice, campaign, settings):
    settings.DEBUG, settings.SMS_DEMO, settings.SMS_GATEWAY = False, False, SIMULATED
    client.force_login(alice)
    with time_machine.travel(MORNING, tick=False):
        request_code(client, campaign)
        html = detail(client, campaign)
    assert f"验证码已发送至 <strong>{PHONE}</strong>" in html
    assert "演示环境验证码" not in html and 'id="demo-code"' not in html
    assert "campaigns-demo-verify-code" not in client.session


def test_a_refused_request_keeps_the_phone_form_open(client, alice, campaign):
    client.force_login(alice)
    with time_machine.travel(MORNING, tick=False):
        url = reverse("campaigns:test_phone_request", args=[campaign.shop_id, campaign.pk])
        response = client.post(url, {"phone": "123"}, follow=True)
    html = response.content.decode()
    assert "请输入有效的中国大陆手机号" in html and '<details id="verify-phone" open>' in html
