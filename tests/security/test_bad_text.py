"""Hostile signature and template texts: control characters, zero-width characters,
right-to-left marks, emoji and look-alikes of the platform's brand. Each is refused
with a clear Chinese message and nothing is written; invisible characters never let a
banned word slip past the checker."""

from __future__ import annotations

import pytest

from reviews.models import MessageTemplate, Signature
from reviews.policy.checker import check_content
from reviews.services.signatures import signature_submit
from reviews.services.templates import template_submit
from smsmarketing.errors import SmsError

pytestmark = pytest.mark.django_db

HOSTILE_SIGNATURES = {
    "zero-width space inside the brand": "京\u200b东旗舰",
    "zero-width joiner": "爱丽\u200d丝",
    "soft hyphen inside the brand": "京\u00ad东",
    "full-width JD": "ＪＤ旗舰",
    "half full-width JD": "JＤ优选",
    "lower-case jd": "jd优选",
    "traditional 京東": "京東商城",
    "Cyrillic J (Ј) in JD": "\u0408D优选",
    "Greek capital iota for I (ΙD)": "\u0399D优选",
    "right-to-left override": "爱丽丝\u202e服饰",
    "left-to-right mark": "爱丽丝\u200e服饰",
    "emoji": "爱丽丝🎉",
    "bell control character": "爱丽丝\x07",
    "escape control character": "爱丽丝\x1b[31m",
    "NUL": "爱丽丝\x00",
    "newline": "爱丽丝\n服饰",
    "only spaces": "   ",
    "empty": "",
}


@pytest.mark.parametrize("text", HOSTILE_SIGNATURES.values(), ids=HOSTILE_SIGNATURES.keys())
def test_it_refuses_a_hostile_signature_and_writes_nothing(alice, alice_shop, text):
    with pytest.raises(SmsError) as refused:
        signature_submit(shop=alice_shop, text=text, by=alice)
    assert refused.value.message and any("\u4e00" <= c <= "\u9fff" for c in refused.value.message)
    assert not Signature.objects.exists()


GOOD_BODY = "夏季新品上架，全场满199元减20元，欢迎进店选购。"
HIDDEN_BANNED = {
    "zero-width inside 加微信": ("加\u200b微\u200b信领券，" + GOOD_BODY, "TPL-OFFSITE"),
    "RLO inside 最低价": ("全网最\u202e低\u202c价，" + GOOD_BODY, "TPL-ADLAW"),
    "soft hyphen inside 好评返现": ("好\u00ad评返现，" + GOOD_BODY, "TPL-REVIEW-BAIT"),
    "full-width 京东官方": ("京东官方提醒：" + GOOD_BODY, "TPL-IMPERSONATE"),
    "traditional 京東客服": ("京東客服提醒：" + GOOD_BODY, "TPL-IMPERSONATE"),
    "full-width link": ("ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ，" + GOOD_BODY, "TPL-LINK"),
    "full-width phone": ("致电１３８００１３８０００，" + GOOD_BODY, "TPL-OFFSITE"),
}


@pytest.mark.parametrize("text,rule", HIDDEN_BANNED.values(), ids=HIDDEN_BANNED.keys())
def test_invisible_or_look_alike_characters_do_not_hide_a_banned_word(text, rule):
    result = check_content(kind="template", text=text, signature="爱丽丝服饰", message_class="marketing")
    assert rule in {f.rule for f in result.findings if f.severity == "block"}


HOSTILE_BODIES = {
    "bell control character": GOOD_BODY[:6] + "\x07" + GOOD_BODY[6:],
    "escape sequence": "\x1b[2J" + GOOD_BODY,
    "NUL": GOOD_BODY + "\x00",
    "right-to-left override": "\u202e" + GOOD_BODY,
}


@pytest.mark.parametrize("text", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_it_refuses_a_template_with_control_or_direction_characters_and_writes_nothing(
    alice, alice_shop, text
):
    with pytest.raises(SmsError) as refused:
        template_submit(
            shop=alice_shop, by=alice, name="坏模板", use="repurchase", message_class="marketing", text=text
        )
    assert "TPL-SYMBOL" in {f.rule for f in refused.value.findings}
    assert "含有特殊符号“U+" in refused.value.message  # the invisible character is named
    assert not MessageTemplate.objects.filter(shop=alice_shop).exists()


def test_it_refuses_an_emoji_by_name_and_writes_nothing(alice, alice_shop):
    """Emoji are special symbols (TPL-SYMBOL): many handsets and channels mangle them."""
    with pytest.raises(SmsError) as refused:
        template_submit(
            shop=alice_shop,
            by=alice,
            name="表情",
            use="repurchase",
            message_class="marketing",
            text="🎉" + GOOD_BODY,
        )
    assert "含有特殊符号“🎉”" in refused.value.message
    assert not MessageTemplate.objects.filter(shop=alice_shop).exists()


def test_the_portal_form_shows_the_refusal_and_keeps_nothing(client, alice, alice_shop):
    from django.urls import reverse

    client.force_login(alice)
    response = client.post(reverse("reviews:signature", args=[alice_shop.pk]), {"text": "京\u200b东旗舰"})
    assert response.status_code == 400
    assert "京" in response.content.decode() and not Signature.objects.exists()
