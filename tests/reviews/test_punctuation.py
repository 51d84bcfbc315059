"""TPL-PUNCT grouped into one finding listing the marks, and 转换为中文标点 (the service and the
editors' endpoint)."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from reviews.models import MessageTemplate
from reviews.policy.checker import check_content
from reviews.policy.highlight import marked_segments
from reviews.policy.rules import to_chinese_punctuation
from reviews.policy.variables import variable_specs

pytestmark = pytest.mark.django_db

MANY = "${shop_name}双12活动开始啦, 全场满减, 快来抢购!领取. 请看(详情)：${coupon_link}"


def punct(text: str):
    return [f for f in check_content(kind="template", text=text).findings if f.rule == "TPL-PUNCT"]


def test_it_groups_every_half_width_mark_into_one_finding_listing_the_marks():
    [finding] = punct(MANY)
    assert finding.severity == "block"
    assert [MANY[a:b] for a, b in finding.spans] == [",", ",", "!", ".", "(", ")"]
    assert "6处" in finding.message
    for mark in ("“,”", "“!”", "“.”", "“(”", "“)”"):
        assert mark in finding.message
    # A correct hint: each mark and its Chinese mark once, never ". → 。。".
    assert "“.”改为“。”" in finding.hint and "“,”改为“，”" in finding.hint and "“(”改为“（”" in finding.hint
    assert "。。" not in finding.hint and "→" not in finding.hint
    assert "转换为中文标点" in finding.hint
    stored = finding.as_dict()
    assert stored["spans"][0] == [MANY.index(","), MANY.index(",") + 1]


def test_the_grouped_finding_marks_only_its_marks():
    [finding] = punct(MANY)
    segments = marked_segments(MANY, [finding], variable_specs())
    marked = [s.text for s in segments if s.marked]
    assert marked == [",", ",", "!", ".", "(", ")"]
    # The variables read as their labels, not as tokens.
    chips = [s.variable for s in segments if s.variable]
    assert chips == ["店铺名称", "领券链接"]


def test_it_converts_to_chinese_punctuation_and_leaves_numbers_links_and_variables():
    text = "${shop_name}新品9.9元起, 10:00开抢!会员(VIP)专享, 领券${coupon_link}"
    converted, count = to_chinese_punctuation(text)
    assert converted == "${shop_name}新品9.9元起， 10:00开抢！会员(VIP)专享， 领券${coupon_link}"
    assert count == 3
    assert punct(converted) == []
    assert to_chinese_punctuation(converted) == (converted, 0)
    converted, count = to_chinese_punctuation(MANY)
    assert count == 6 and punct(converted) == []


def test_the_editor_offers_the_conversion_and_the_endpoint_converts_without_saving(client, alice, alice_shop):
    client.force_login(alice)
    check = client.post(
        reverse("reviews:template_check", args=[alice_shop.pk]),
        {"name": "券", "use": "coupon", "message_class": "marketing", "text": MANY},
    ).content.decode()
    url = reverse("reviews:punctuation", args=[alice_shop.pk])
    assert f'data-punct-url="{url}"' in check and "转换为中文标点" in check
    assert check.count('data-rule="TPL-PUNCT"') == 1
    response = client.post(url, {"text": MANY})
    data = json.loads(response.content)
    assert response.status_code == 200 and data["changed"] == 6 and "6处" in data["message"]
    assert data["text"] == to_chinese_punctuation(MANY)[0]
    assert not MessageTemplate.objects.filter(shop=alice_shop).exists()
    assert client.get(url).status_code == 405


def test_another_shop_cannot_use_the_endpoint(client, bob, alice_shop):
    client.force_login(bob)
    url = reverse("reviews:punctuation", args=[alice_shop.pk])
    assert client.post(url, {"text": "a, b"}).status_code == 404
