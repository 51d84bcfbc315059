"""The message as received: a link never runs into the unsubscribe suffix or the text after it,
in the rendered text and in the parts count; the official templates render cleanly."""

from __future__ import annotations

import pytest

from reviews.policy.checker import check_content
from reviews.policy.length import count_parts, full_message
from reviews.policy.variables import render, render_examples, variable_specs
from reviews.selectors import official_templates

pytestmark = pytest.mark.django_db

LINK = "https://3.cn/s1"


def test_a_trailing_link_is_separated_from_the_suffix():
    body = render(text="新品上市，点击${coupon_link}", values={"coupon_link": LINK})
    assert body == f"新品上市，点击{LINK} "
    text = full_message(signature="爱丽丝", body=body, message_class="marketing")
    assert text == f"【爱丽丝】新品上市，点击{LINK} 拒收请回复R"
    # Chinese text at the end needs nothing; a value that is not a link gets no space.
    plain = full_message(signature="爱丽丝", body="新品上市。", message_class="marketing")
    assert plain == "【爱丽丝】新品上市。拒收请回复R"
    assert render(text="立减${coupon_amount}", values={"coupon_amount": "20元"}) == "立减20元"


def test_a_link_followed_by_text_gets_a_space():
    values = {"coupon_link": LINK, "shop_link": LINK}
    body = render(text="点击${coupon_link}领取，或看${shop_link}", values=values)
    assert body == f"点击{LINK} 领取，或看{LINK} "
    assert render(text="点击${coupon_link} 领取", values={"coupon_link": LINK}) == f"点击{LINK} 领取"
    assert render(text="${coupon_amount}券", values={"coupon_amount": "20元"}) == "20元券"


def test_the_parts_count_the_separators():
    specs = variable_specs()
    # 11 (no signature: 9 + 【】) + body + 1 space after each link + 6.
    text = "点击${coupon_link}领取" + "好" * 25 + "，再看${shop_link}"
    body_longest = len(text) - len("${coupon_link}") - len("${shop_link}") + 24 + 24
    result = check_content(kind="template", text=text)
    assert result.length == 11 + body_longest + 1 + 1 + 6
    assert result.parts == count_parts(result.length)
    assert specs["coupon_link"].max_length == 24


def test_the_official_templates_render_cleanly():
    officials = list(official_templates())
    assert len(officials) >= 5  # seeded by the migrations
    specs = variable_specs()
    for official in officials:
        body = render_examples(text=official.text, specs=specs, values={"shop_name": "朵拉家居"})
        message = full_message(signature="朵拉家居", body=body, message_class=official.message_class)
        assert "${" not in message and "爱丽丝" not in message
        for spec in specs.values():
            if spec.type == "link" and spec.example in message:
                after = message[message.index(spec.example) + len(spec.example):][:1]
                assert after in ("", " "), message  # the link ends where it should
        findings = check_content(kind="template", text=official.text, use=official.use).findings
        assert not [f for f in findings if f.severity == "block"], (official.name, findings)
